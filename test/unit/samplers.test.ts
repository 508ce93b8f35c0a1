import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSampler, DEFAULT_SCHEDULER_CONFIG, parseSchedulerConfig } from '../../src/engine/samplers/index.ts';
import { parseSamplerName, type SamplerName } from '../../src/shared/names.ts';
import { alphasCumprod } from '../../src/engine/samplers/noiseSchedule.ts';
import { isEaselError } from '../../src/shared/errors.ts';

interface ScheduleCase {
  sampler: SamplerName;
  spacing: 'leading' | 'linspace' | 'trailing';
  steps: number;
  karras: boolean;
  timesteps: number[];
  sigmas?: number[];
  init?: number;
}

const reference = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'reference', 'diffusers_schedules.json'), 'utf8')) as {
  alphas_cumprod: Record<string, number>;
  cases: ScheduleCase[];
};

function assertClose(actual: ArrayLike<number>, expected: number[], relative: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    const tolerance = relative * Math.max(1, Math.abs(expected[i]));
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `${label}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

test('alphas_cumprod matches diffusers for SD 1.x betas', () => {
  const cumulative = alphasCumprod(DEFAULT_SCHEDULER_CONFIG);
  for (const [index, expected] of Object.entries(reference.alphas_cumprod)) {
    assertClose([cumulative[Number(index)]], [expected], 2e-7, `alphas_cumprod[${index}]`);
  }
});

test('σ range is the one A1111 and k-diffusion report for SD 1.x (0.0292 … 14.6146)', () => {
  const sampler = createSampler('DPM++ 2M', { config: DEFAULT_SCHEDULER_CONFIG, steps: 10, schedule: 'Karras' });
  assert.equal(sampler.sigmas![0].toFixed(4), '14.6146');
  assert.equal(sampler.sigmas![9].toFixed(4), '0.0292');
});

for (const c of reference.cases) {
  const label = `${c.sampler} ${c.spacing} ${c.steps} steps${c.karras ? ' Karras' : ''}`;
  test(`${label}: timesteps and sigmas match diffusers`, () => {
    const config = { ...DEFAULT_SCHEDULER_CONFIG, timestep_spacing: c.spacing };
    const sampler = createSampler(c.sampler, { config, steps: c.steps, schedule: c.karras ? 'Karras' : 'Automatic' });
    assertClose(sampler.timesteps, c.timesteps, 1e-5, 'timesteps');
    if (c.sigmas) assertClose(sampler.sigmas!, c.sigmas, 2e-6, 'sigmas');
    if (c.init !== undefined) assertClose([sampler.initNoiseSigma], [c.init], 2e-6, 'init_noise_sigma');
  });
}

test('Euler a shares Euler\'s schedule and draws noise at every step', () => {
  const options = { config: DEFAULT_SCHEDULER_CONFIG, steps: 5, schedule: 'Automatic' as const };
  const euler = createSampler('Euler', options);
  const ancestral = createSampler('Euler a', options);
  assert.deepEqual(ancestral.timesteps, euler.timesteps);
  let draws = 0;
  const noise = () => {
    draws++;
    return new Float32Array(4);
  };
  let sample: Float32Array = new Float32Array([1, 2, 3, 4]);
  for (let i = 0; i < 5; i++) sample = ancestral.step(new Float32Array(4), i, sample, noise);
  assert.equal(draws, 5);
});

test('LCM draws noise between steps only', () => {
  const lcm = createSampler('LCM', { config: DEFAULT_SCHEDULER_CONFIG, steps: 4, schedule: 'Automatic' });
  let draws = 0;
  let sample: Float32Array = new Float32Array([0.5, -0.5]);
  for (let i = 0; i < 4; i++) {
    sample = lcm.step(new Float32Array(2), i, sample, () => {
      draws++;
      return new Float32Array(2);
    });
  }
  assert.equal(draws, 3);
});

test('sampler names parse as A1111 writes them; unknown names and bad steps are refused', () => {
  assert.equal(parseSamplerName('euler A'), 'Euler a');
  assert.equal(parseSamplerName('DPM++ 2M'), 'DPM++ 2M');
  assert.throws(() => parseSamplerName('DPM++ 9X'), (error) => isEaselError(error, 'INVALID_REQUEST') && /Choose one of/.test(error.message));
  for (const steps of [0, -3, 2.5]) {
    assert.throws(() => createSampler('Euler', { config: DEFAULT_SCHEDULER_CONFIG, steps, schedule: 'Automatic' }), /Steps must be a whole number from 1/);
  }
  assert.throws(() => createSampler('DDIM', { config: DEFAULT_SCHEDULER_CONFIG, steps: 10, schedule: 'Karras' }), /not available for DDIM/);
  assert.throws(() => createSampler('LCM', { config: DEFAULT_SCHEDULER_CONFIG, steps: 51, schedule: 'Automatic' }), /at most 50 steps/);
});

test('scheduler_config.json is read with diffusers\' keys and wrong types are named', () => {
  const config = parseSchedulerConfig({ _class_name: 'EulerDiscreteScheduler', prediction_type: 'v_prediction', timestep_spacing: 'trailing', steps_offset: 0 });
  assert.equal(config.prediction_type, 'v_prediction');
  assert.equal(config.timestep_spacing, 'trailing');
  assert.equal(config.beta_schedule, undefined, 'a missing key stays missing until a sampler fills it');
  assert.throws(() => parseSchedulerConfig({ beta_schedule: 'cosine' }), /"beta_schedule" is "cosine"/);
  assert.throws(() => parseSchedulerConfig({ num_train_timesteps: 'many' }), /"num_train_timesteps" must be an integer/);
  assert.throws(() => parseSchedulerConfig([]), /JSON object/);
});
