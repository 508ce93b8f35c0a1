import type { SamplerName, ScheduleType } from '../../shared/names.ts';
import type { PredictionType, SchedulerConfig, SchedulerFile } from './schedulerConfig.ts';


export interface SamplerOptions {
  /** The folder's scheduler_config.json keys; each sampler fills the rest with its diffusers class's defaults. */
  config: SchedulerFile;
  steps: number;
  schedule: ScheduleType;
}

/** What a sampler factory receives: the configuration resolved for that sampler. */
export interface SamplerSetup {
  config: SchedulerConfig;
  steps: number;
  schedule: ScheduleType;
}

/** Draws fresh Gaussian noise shaped like the latents, from the job's one generator. */
export type NoiseSource = () => Float32Array;

/**
 * diffusers' three verbs: the UNet is evaluated once per entry of `timesteps` on
 * `scaleModelInput(sample, i)`, and `step` turns its (guided) output into the next sample.
 */
export interface Sampler {
  readonly name: SamplerName;
  /** Values given to the UNet's `timestep` input, one per model evaluation. */
  readonly timesteps: Float64Array;
  /** For σ-space samplers, σ for each evaluation and a final 0; absent for ᾱ-space samplers. */
  readonly sigmas?: Float64Array;
  readonly initNoiseSigma: number;
  scaleModelInput(sample: Float32Array, index: number): Float32Array;
  step(modelOutput: Float32Array, index: number, sample: Float32Array, noise: NoiseSource): Float32Array;
  /**
   * diffusers' `add_noise`: `original` noised to the level of evaluation `index` (img2img's start, and
   * inpainting's known region at each step).
   */
  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array;
}

/**
 * x₀ from the model output in ᾱ-parameterisation: ε-prediction x₀ = (x − √(1−ᾱ)·ε)/√ᾱ,
 * v-prediction x₀ = √ᾱ·x − √(1−ᾱ)·v. Writes into `out`.
 */
export function predictOriginalFromAlpha(
  prediction: PredictionType, modelOutput: Float32Array, sample: Float32Array, alphaProd: number, out: Float32Array,
): Float32Array {
  const sqrtAlpha = Math.sqrt(alphaProd);
  const sqrtBeta = Math.sqrt(1 - alphaProd);
  if (prediction === 'epsilon') {
    for (let i = 0; i < out.length; i++) out[i] = (sample[i] - sqrtBeta * modelOutput[i]) / sqrtAlpha;
  } else {
    for (let i = 0; i < out.length; i++) out[i] = sqrtAlpha * sample[i] - sqrtBeta * modelOutput[i];
  }
  return out;
}

/**
 * x₀ from the model output for samplers that keep latents in σ-space (x = x₀ + σ·ε):
 * ε-prediction x₀ = x − σ·ε, v-prediction x₀ = x/(σ²+1) − σ/√(σ²+1)·v.
 */
export function predictOriginalFromSigma(
  prediction: PredictionType, modelOutput: Float32Array, sample: Float32Array, sigma: number, out: Float32Array,
): Float32Array {
  if (prediction === 'epsilon') {
    for (let i = 0; i < out.length; i++) out[i] = sample[i] - sigma * modelOutput[i];
  } else {
    const sampleScale = 1 / (sigma * sigma + 1);
    const outputScale = -sigma / Math.sqrt(sigma * sigma + 1);
    for (let i = 0; i < out.length; i++) out[i] = modelOutput[i] * outputScale + sample[i] * sampleScale;
  }
  return out;
}

/** The k-diffusion input scaling x / √(σ² + 1) shared by the σ-space samplers. */
export function scaleBySigma(sample: Float32Array, sigma: number): Float32Array {
  const denominator = Math.sqrt(sigma * sigma + 1);
  const out = new Float32Array(sample.length);
  for (let i = 0; i < out.length; i++) out[i] = sample[i] / denominator;
  return out;
}

/** diffusers' clip_sample: x̂₀ clamped to ±clip_sample_range, in place. */
export function clipSample(predicted: Float32Array, range: number): void {
  for (let i = 0; i < predicted.length; i++) predicted[i] = Math.min(range, Math.max(-range, predicted[i]));
}

const f32 = Math.fround;

/** add_noise of the σ-space samplers (x = x₀ + σ·ε), in float32 as diffusers computes it. */
export function addNoiseAtSigma(original: Float32Array, noise: Float32Array, sigma: number): Float32Array {
  const scale = f32(sigma);
  const out = new Float32Array(original.length);
  for (let i = 0; i < out.length; i++) out[i] = original[i] + f32(noise[i] * scale);
  return out;
}

/** add_noise in VP form x = α·x₀ + σ·ε: DDPM-style √ᾱ·x₀ + √(1 − ᾱ)·ε, or DPM-Solver's α, σ from σ_k. */
export function addNoiseScaled(original: Float32Array, noise: Float32Array, alpha: number, sigma: number): Float32Array {
  const [a, s] = [f32(alpha), f32(sigma)];
  const out = new Float32Array(original.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(a * original[i]) + f32(s * noise[i]);
  return out;
}

/** add_noise of the ᾱ-space samplers (DDIM, PLMS, LCM) at ᾱₜ. */
export function addNoiseAtAlpha(original: Float32Array, noise: Float32Array, alphaProd: number): Float32Array {
  return addNoiseScaled(original, noise, Math.sqrt(alphaProd), Math.sqrt(f32(1 - alphaProd)));
}
