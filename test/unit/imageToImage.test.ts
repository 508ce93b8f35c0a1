import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  binaryMask, blendKnownRegion, imageToPixels, latentMask, samplePosterior, strengthBeginIndex,
} from '../../src/engine/imageToImage.ts';
import { createNoiseGenerator } from '../../src/engine/rng.ts';
import { createSampler, DEFAULT_SCHEDULER_CONFIG } from '../../src/engine/samplers/index.ts';
import { SAMPLER_NAMES } from '../../src/shared/names.ts';
import { isEaselError } from '../../src/shared/errors.ts';

test('strength → first step as diffusers\' get_timesteps, in float64 (0.7 × 10 runs 7 steps, not 6)', () => {
  assert.equal(strengthBeginIndex(10, 0.7), 3);
  assert.equal(strengthBeginIndex(10, 0.5), 5);
  assert.equal(strengthBeginIndex(20, 1), 0);
  assert.equal(strengthBeginIndex(3, 0.99), 1, 'int() truncates: 2.97 → 2 steps');
  assert.throws(() => strengthBeginIndex(4, 0.2), (error: unknown) => isEaselError(error, 'INVALID_REQUEST') && /strength 0\.2 with 4 steps leaves no step/.test(error.message));
});

test('pixels map to [−1, 1] planes; masks binarise at 128 and sample pixel [8i, 8j]', () => {
  const pixels = imageToPixels({ width: 1, height: 1, rgb: Uint8Array.of(0, 255, 51) });
  assert.deepEqual([...pixels], [-1, 1, Math.fround(Math.fround(2 * Math.fround(51 / 255)) - 1)]);
  assert.deepEqual([...binaryMask({ width: 3, height: 1, gray: Uint8Array.of(127, 128, 255) })], [0, 1, 1]);
  const width = 16;
  const mask = new Uint8Array(16 * 16);
  mask[0] = 1; // pixel [0, 0] → latent [0, 0]
  mask[8 * width + 9] = 1; // pixel [8, 9] is not a sampled pixel
  mask[8 * width + 8] = 1; // pixel [8, 8] → latent [1, 1]
  assert.deepEqual([...latentMask(mask, 16, 16)], [1, 0, 0, 1]);
});

test('the posterior sample is mean + exp(½·logvar)·ε × scaling factor, and a traced sample still makes the draw', () => {
  const shape = [1, 4, 1, 1];
  const mean = Float32Array.of(1, 2, 3, 4);
  const logvar = Float32Array.of(0, Math.log(4), -100, 50);
  const epsilon = createNoiseGenerator(5n, 'cpu').randn(shape);
  const sample = samplePosterior({ kind: 'parameters', mean, logvar }, shape, createNoiseGenerator(5n, 'cpu'), 0.5);
  const expected = [0, 1, 2, 3].map((i) => 0.5 * (mean[i] + Math.exp(0.5 * Math.min(20, Math.max(-30, logvar[i]))) * epsilon[i]));
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(sample[i] - expected[i]) < 1e-5 * Math.max(1, Math.abs(expected[i])), `${i}: ${sample[i]} vs ${expected[i]}`);

  const generator = createNoiseGenerator(5n, 'cpu');
  const traced = samplePosterior({ kind: 'sample', sample: Float32Array.of(2, 2, 2, 2) }, shape, generator, 0.5);
  assert.deepEqual([...traced], [1, 1, 1, 1]);
  const reference = createNoiseGenerator(5n, 'cpu');
  reference.randn(shape);
  assert.deepEqual(generator.randn(shape), reference.randn(shape), 'the next draw is where diffusers\' would be');
});

test('the known region is blended back per latent channel: (1 − m)·known + m·latents', () => {
  const blended = blendKnownRegion(Float32Array.of(1, 1, 1, 1), Float32Array.of(5, 6, 7, 8), Float32Array.of(1, 0));
  assert.deepEqual([...blended], [1, 6, 1, 8]);
});

test('every sampler\'s add_noise noises x₀ to the level of the evaluation it starts from', () => {
  const original = Float32Array.of(0.5, -0.25);
  const noise = Float32Array.of(1, 2);
  for (const name of SAMPLER_NAMES) {
    const sampler = createSampler(name, { config: DEFAULT_SCHEDULER_CONFIG, steps: 4, schedule: 'Automatic' });
    const index = 1;
    const noisy = sampler.addNoise(original, noise, index);
    let expected: number[];
    if (name === 'Euler' || name === 'Euler a') {
      const sigma = sampler.sigmas![index];
      expected = [0.5 + sigma, -0.25 + 2 * sigma];
    } else {
      // ᾱ at the evaluation's timestep: for DPM++ 2M from its σ, for the others from the training table.
      const sigma = name === 'DPM++ 2M' ? sampler.sigmas![index] : undefined;
      const alphaProd = sigma !== undefined ? 1 / (sigma * sigma + 1) : alphaAt(sampler.timesteps[index]);
      expected = [0.5 * Math.sqrt(alphaProd) + Math.sqrt(1 - alphaProd), -0.25 * Math.sqrt(alphaProd) + 2 * Math.sqrt(1 - alphaProd)];
    }
    for (let i = 0; i < 2; i++) assert.ok(Math.abs(noisy[i] - expected[i]) < 1e-5, `${name}[${i}]: ${noisy[i]} vs ${expected[i]}`);
  }
});

/** ᾱₜ from SD 1.x's scaled-linear betas, written out independently of noiseSchedule.ts. */
function alphaAt(timestep: number): number {
  let product = 1;
  const start = Math.sqrt(0.00085);
  const end = Math.sqrt(0.012);
  for (let t = 0; t <= timestep; t++) product *= 1 - (start + ((end - start) * t) / 999) ** 2;
  return product;
}
