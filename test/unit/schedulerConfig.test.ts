import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSampler, parseSchedulerConfig, resolveSchedulerConfig, SAMPLER_CLASSES } from '../../src/engine/samplers/index.ts';
import { SAMPLER_NAMES, type SamplerName } from '../../src/shared/names.ts';

// Stock scheduler_config.json files as the Hub ships them (runwayml/stable-diffusion-v1-5,
// stabilityai/stable-diffusion-2-1, stabilityai/sd-turbo).
const SD15 = {
  _class_name: 'PNDMScheduler', _diffusers_version: '0.6.0', beta_end: 0.012, beta_schedule: 'scaled_linear', beta_start: 0.00085,
  num_train_timesteps: 1000, set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, trained_betas: null, clip_sample: false,
};
const SD21 = {
  _class_name: 'DDIMScheduler', _diffusers_version: '0.8.0', beta_end: 0.012, beta_schedule: 'scaled_linear', beta_start: 0.00085, clip_sample: false,
  num_train_timesteps: 1000, prediction_type: 'v_prediction', set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, trained_betas: null,
};
const SD_TURBO = {
  _class_name: 'EulerDiscreteScheduler', _diffusers_version: '0.24.0.dev0', beta_end: 0.012, beta_schedule: 'scaled_linear', beta_start: 0.00085,
  clip_sample: false, interpolation_type: 'linear', num_train_timesteps: 1000, prediction_type: 'epsilon', sample_max_value: 1.0, set_alpha_to_one: false,
  skip_prk_steps: true, steps_offset: 1, timestep_spacing: 'trailing', timestep_type: 'discrete', trained_betas: null, use_karras_sigmas: false,
};

const sampler = (name: SamplerName, file: object, steps = 10) => createSampler(name, { config: parseSchedulerConfig(file), steps, schedule: 'Automatic' });

test('stock SD 1.5 config: each sampler takes its own diffusers default for the keys the file omits', () => {
  const file = parseSchedulerConfig(SD15);
  // No timestep_spacing in the file: Euler, Euler a and DPM++ 2M default to linspace, DDIM and PLMS to leading.
  assert.equal(resolveSchedulerConfig('Euler', file).timestep_spacing, 'linspace');
  assert.equal(resolveSchedulerConfig('Euler a', file).timestep_spacing, 'linspace');
  assert.equal(resolveSchedulerConfig('DPM++ 2M', file).timestep_spacing, 'linspace');
  assert.equal(resolveSchedulerConfig('DDIM', file).timestep_spacing, 'leading');
  assert.equal(resolveSchedulerConfig('PLMS', file).timestep_spacing, 'leading');
  // clip_sample: false is in the file, so it wins over DDIM's own default (true).
  assert.equal(resolveSchedulerConfig('DDIM', file).clip_sample, false);
  assert.equal(resolveSchedulerConfig('DDIM', file).set_alpha_to_one, false);
  // diffusers' EulerDiscreteScheduler.from_config(SD 1.5) at 10 steps: linspace from 999.
  assert.deepEqual([...sampler('Euler', SD15).timesteps].map((t) => Math.round(t)), [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
  assert.deepEqual([...sampler('DPM++ 2M', SD15).timesteps], [999, 899, 799, 699, 599, 500, 400, 300, 200, 100]);
  assert.deepEqual([...sampler('DDIM', SD15).timesteps], [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
  // Euler's init_noise_sigma with linspace is σ_max itself (with leading it would be √(σ_max² + 1)).
  assert.equal(sampler('Euler', SD15).initNoiseSigma.toFixed(4), '14.6146');
});

test('a config without clip_sample: DDIM clips x̂₀ as its diffusers default says, LCM does not', () => {
  const { clip_sample: _omitted, ...withoutClip } = SD15;
  assert.equal(resolveSchedulerConfig('DDIM', parseSchedulerConfig(withoutClip)).clip_sample, true);
  assert.equal(resolveSchedulerConfig('LCM', parseSchedulerConfig(withoutClip)).clip_sample, false);
  // ε = −200 at t = 1 predicts x̂₀ ≈ 8.3; DDIM clips it to 1 unless the file says clip_sample: false.
  const step = (file: object) => sampler('DDIM', file, 1).step(new Float32Array([-200]), 0, new Float32Array([0]), () => new Float32Array(1))[0];
  const clipped = step(withoutClip);
  const unclipped = step(SD15);
  assert.ok(unclipped - clipped > 7, `clipped ${clipped}, unclipped ${unclipped}`);
});

test('stock SD 2.1 config: v-prediction reaches every sampler; spacing is each sampler\'s own', () => {
  const file = parseSchedulerConfig(SD21);
  for (const name of SAMPLER_NAMES) assert.equal(resolveSchedulerConfig(name, file).prediction_type, 'v_prediction', name);
  assert.equal(resolveSchedulerConfig('Euler', file).timestep_spacing, 'linspace');
  assert.equal(resolveSchedulerConfig('DDIM', file).timestep_spacing, 'leading');
  assert.equal(resolveSchedulerConfig('DDIM', file).steps_offset, 1);
});

test('SD-Turbo config (EulerDiscreteScheduler, trailing): one step starts at t = 999 with σ_max', () => {
  const euler = sampler('Euler', SD_TURBO, 1);
  assert.deepEqual([...euler.timesteps], [999]);
  assert.equal(euler.sigmas![0].toFixed(4), '14.6146');
  assert.equal(euler.initNoiseSigma, euler.sigmas![0]);
  assert.deepEqual([...sampler('Euler a', SD_TURBO, 4).timesteps], [999, 749, 499, 249]);
});

test('keys only one class reads do not leak into another sampler', () => {
  const file = parseSchedulerConfig({ ...SD15, use_karras_sigmas: true, final_sigmas_type: 'sigma_min', timestep_spacing: 'trailing' });
  assert.equal(resolveSchedulerConfig('Euler', file).use_karras_sigmas, true);
  assert.equal(resolveSchedulerConfig('Euler a', file).use_karras_sigmas, false, 'EulerAncestralDiscreteScheduler has no use_karras_sigmas');
  assert.equal(resolveSchedulerConfig('DDIM', file).final_sigmas_type, 'zero');
});

test('every sampler names its diffusers class and defaults every key it reads', () => {
  assert.deepEqual(Object.keys(SAMPLER_CLASSES).sort(), [...SAMPLER_NAMES].sort());
  for (const name of SAMPLER_NAMES) {
    const { className, defaults } = SAMPLER_CLASSES[name];
    assert.match(className, /Scheduler$/);
    for (const key of ['num_train_timesteps', 'beta_start', 'beta_end', 'beta_schedule', 'prediction_type', 'timestep_spacing', 'steps_offset']) {
      assert.ok(key in defaults, `${name} defaults ${key}`);
    }
  }
});

test('use_karras_sigmas in the config gives Euler and DPM++ 2M Karras sigmas under the Automatic schedule', () => {
  const karras = { ...SD15, use_karras_sigmas: true };
  for (const name of ['Euler', 'DPM++ 2M'] as const) {
    const fromConfig = sampler(name, karras);
    const chosen = createSampler(name, { config: parseSchedulerConfig(SD15), steps: 10, schedule: 'Karras' });
    assert.deepEqual([...fromConfig.sigmas!], [...chosen.sigmas!], name);
    assert.notDeepEqual([...fromConfig.sigmas!], [...sampler(name, SD15).sigmas!], name);
  }
});

test('sigma_min / sigma_max bound Euler\'s Karras sigmas; final_sigmas_type "sigma_min" ends at the smallest training σ', () => {
  const bounded = sampler('Euler', { ...SD15, use_karras_sigmas: true, sigma_min: 0.1, sigma_max: 10 });
  assert.equal(bounded.sigmas![0].toFixed(5), '10.00000');
  assert.equal(bounded.sigmas![9].toFixed(5), '0.10000');
  for (const name of ['Euler', 'DPM++ 2M'] as const) {
    const last = sampler(name, { ...SD15, final_sigmas_type: 'sigma_min' }).sigmas!.at(-1)!;
    assert.equal(last.toFixed(6), '0.029168', name);
    assert.equal(sampler(name, SD15).sigmas!.at(-1), 0);
  }
});

test('timestep_type "continuous" with v-prediction feeds Euler\'s UNet 0.25·log σ', () => {
  const euler = sampler('Euler', { ...SD21, timestep_type: 'continuous' }, 4);
  euler.timesteps.forEach((t, i) => assert.ok(Math.abs(t - 0.25 * Math.log(euler.sigmas![i])) < 1e-6));
});

test('rescale_betas_zero_snr: the last training ᾱ is 0 (2⁻²⁴ for the σ-space samplers, so σ_max ≈ 4096)', () => {
  const euler = sampler('Euler', { ...SD21, rescale_betas_zero_snr: true, timestep_spacing: 'trailing' }, 4);
  assert.ok(Math.abs(euler.sigmas![0] - Math.sqrt((1 - 2 ** -24) / 2 ** -24)) < 1e-2, `σ_max ${euler.sigmas![0]}`);
  assert.throws(() => sampler('PLMS', { ...SD21, rescale_betas_zero_snr: true }), /"rescale_betas_zero_snr".*PLMS.*PNDMScheduler/);
});

test('unsupported values of keys a sampler reads are refused with the key named; other samplers ignore them', () => {
  assert.throws(() => sampler('DDIM', { ...SD15, thresholding: true }), /"thresholding": true is not supported by Easel's DDIM/);
  assert.doesNotThrow(() => sampler('Euler', { ...SD15, thresholding: true }), 'EulerDiscreteScheduler has no thresholding');
  assert.throws(() => parseSchedulerConfig({ ...SD15, interpolation_type: 'cubic' }), /"interpolation_type" is "cubic"/);
  assert.throws(() => sampler('DPM++ 2M', { ...SD15, use_lu_lambdas: true }), /"use_lu_lambdas"/);
  assert.throws(() => sampler('DPM++ 2M', { ...SD15, lambda_min_clipped: -5.1 }), /"lambda_min_clipped"/);
  assert.doesNotThrow(() => sampler('DPM++ 2M', { ...SD15, lambda_min_clipped: '-inf' }));
  assert.throws(() => parseSchedulerConfig({ final_sigmas_type: 'one' }), /"final_sigmas_type" is "one"/);
  assert.throws(() => parseSchedulerConfig({ timestep_type: 'edm' }), /"timestep_type" is "edm"/);
});

test('impossible schedules are refused before any image is made', () => {
  assert.throws(() => parseSchedulerConfig({ ...SD15, beta_start: 1.5 }), /"beta_start" must be a number between 0 and 1/);
  assert.throws(() => parseSchedulerConfig({ ...SD15, beta_end: 2 }), /"beta_end" must be a number between 0 and 1/);
  assert.throws(() => parseSchedulerConfig({ ...SD15, beta_start: 0, beta_end: 0 }), /"beta_start" must be/);
  assert.throws(() => parseSchedulerConfig({ ...SD15, beta_start: 0.012, beta_end: 0.00085 }), /"beta_end" \(0.00085\) is below "beta_start"/);
  assert.throws(() => parseSchedulerConfig({ ...SD15, num_train_timesteps: 1e9 }), /"num_train_timesteps" must be an integer from 2 to 10000/);
  assert.throws(() => parseSchedulerConfig({ ...SD15, trained_betas: [0.5, 2] }), /"trained_betas"/);
  assert.throws(() => sampler('Euler', { ...SD15, num_train_timesteps: 3, trained_betas: [0.1, 0.2] }), /"trained_betas" has 2 values/);
  assert.throws(() => parseSchedulerConfig({ ...SD15, steps_offset: 5000 }), /"steps_offset"/);
});

test('trained_betas replace the beta schedule', () => {
  const count = 1000;
  const linear = Array.from({ length: count }, (_, i) => Math.fround(0.0001 + (0.02 - 0.0001) * (i / (count - 1))));
  const explicit = sampler('Euler', { ...SD15, beta_schedule: 'scaled_linear', trained_betas: linear });
  const scheduled = sampler('Euler', { ...SD15, beta_schedule: 'linear', beta_start: 0.0001, beta_end: 0.02 });
  explicit.sigmas!.forEach((sigma, i) => assert.ok(Math.abs(sigma - scheduled.sigmas![i]) <= 1e-6 * Math.max(1, sigma), `σ[${i}]`));
  assert.notEqual(explicit.sigmas![0].toFixed(3), sampler('Euler', SD15).sigmas![0].toFixed(3), 'the scaled_linear schedule is not used');
});

test('interpolation_type "log_linear": Euler steps through N + 1 sigmas evenly spaced in log σ, from σ_max to σ_min', () => {
  const steps = 6;
  const linear = sampler('Euler', SD15, steps);
  const logLinear = sampler('Euler', { ...SD15, interpolation_type: 'log_linear' }, steps);
  const sigmas = logLinear.sigmas!;
  assert.equal(sigmas.length, steps + 2, 'diffusers appends the final σ after N + 1 log-linear sigmas');
  assert.equal(sigmas[0].toFixed(4), '14.6146');
  assert.equal(sigmas[steps].toFixed(4), '0.0292', 'the last step ends at σ_min, not 0');
  const ratio = Math.log(sigmas[1] / sigmas[0]);
  for (let i = 1; i <= steps; i++) assert.ok(Math.abs(Math.log(sigmas[i] / sigmas[i - 1]) - ratio) < 1e-5, `log-spacing at ${i}`);
  assert.deepEqual([...logLinear.timesteps], [...linear.timesteps], 'the UNet still gets the spaced timesteps');
  assert.equal(sampler('Euler a', { ...SD15, interpolation_type: 'log_linear' }, steps).sigmas!.length, steps + 1, 'Euler a has no interpolation_type');
});
