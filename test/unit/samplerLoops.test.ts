import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSampler, parseSchedulerConfig } from '../../src/engine/samplers/index.ts';
import type { SamplerName } from '../../src/shared/names.ts';
import { createNoiseGenerator } from '../../src/engine/rng.ts';

/**
 * Whole sampling loops computed with diffusers' own scheduler classes (test/reference/README.md): for
 * each step the fixed model output fed in, the scaled model input and the latents after `step`. The
 * model outputs are arbitrary, so every term of every step formula shows in the result (an analytic
 * x₀-predicting model hides DPM++ 2M's second-order term and Euler's dt).
 */
interface LoopCase {
  id: string;
  sampler: SamplerName;
  schedule: 'automatic' | 'karras';
  scheduler_class: string;
  scheduler_config: Record<string, unknown>;
  steps: number;
  seed: number;
  shape: number[];
  init_noise_sigma: number;
  timesteps: number[];
  sigmas: number[];
  initial_latents: number[];
  model_outputs: number[][];
  scaled_inputs: number[][];
  latents_after_step: number[][];
}

const { cases } = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'reference', 'diffusers_sampler_loops.json'), 'utf8')) as { cases: LoopCase[] };

const RELATIVE = 1e-5;

/** Largest |a − e| / max(1, |e|) over the arrays. */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): number {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i])));
  return worst;
}

let worstInCase = 0;
let worstAbsoluteInCase = 0;

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  const error = relativeError(actual, expected, label);
  worstInCase = Math.max(worstInCase, error);
  for (let i = 0; i < expected.length; i++) worstAbsoluteInCase = Math.max(worstAbsoluteInCase, Math.abs(actual[i] - expected[i]));
  assert.ok(error <= RELATIVE, `${label}: relative error ${error.toExponential(2)} > ${RELATIVE}`);
}

test('the reference holds 29 whole-loop cases over all six samplers', () => {
  assert.equal(cases.length, 29);
  assert.deepEqual(new Set(cases.map((c) => c.sampler)), new Set(['Euler a', 'Euler', 'DPM++ 2M', 'DDIM', 'PLMS', 'LCM']));
});

for (const c of cases) {
  test(`${c.id} (${c.scheduler_class}): every scaled input and every step's latents match diffusers`, (t) => {
    worstInCase = 0;
    worstAbsoluteInCase = 0;
    const config = parseSchedulerConfig({ _class_name: c.scheduler_class, ...c.scheduler_config });
    const sampler = createSampler(c.sampler, { config, steps: c.steps, schedule: c.schedule === 'karras' ? 'Karras' : 'Automatic' });
    assertClose(sampler.timesteps, c.timesteps, 'timesteps');
    if (sampler.sigmas && c.sigmas.length > 0) assertClose(sampler.sigmas, c.sigmas, 'sigmas');
    assertClose([sampler.initNoiseSigma], [c.init_noise_sigma], 'init_noise_sigma');

    // The loop's generator drew the initial latents, then the samplers' fresh noise, as in diffusers' pipelines.
    const generator = createNoiseGenerator(BigInt(c.seed), 'cpu');
    let latents: Float32Array = generator.randn(c.shape).map((value) => value * sampler.initNoiseSigma);
    assertClose(latents, c.initial_latents, 'initial latents (noise × init_noise_sigma)');
    assert.equal(c.model_outputs.length, sampler.timesteps.length, 'model evaluations');
    for (let step = 0; step < sampler.timesteps.length; step++) {
      assertClose(sampler.scaleModelInput(latents, step), c.scaled_inputs[step], `step ${step}: scaled input`);
      latents = sampler.step(Float32Array.from(c.model_outputs[step]), step, latents, () => generator.randn(c.shape));
      assertClose(latents, c.latents_after_step[step], `step ${step}: latents after step`);
    }
    t.diagnostic(`worst relative error ${worstInCase.toExponential(2)}, max |Δ| ${worstAbsoluteInCase.toExponential(2)}`);
  });
}
