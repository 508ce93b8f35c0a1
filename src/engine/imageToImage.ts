/**
 * The pieces of diffusers' StableDiffusionImg2ImgPipeline and StableDiffusionInpaintPipeline that are
 * plain arithmetic: strength → first step, pixel preprocessing, the VAE posterior sample, the latent
 * mask and the known-region blend.
 */
import { EaselError } from '../shared/errors.ts';
import type { GrayImage, RgbImage } from './imageInput.ts';
import type { NoiseGenerator } from './rng.ts';

const f32 = Math.fround;

/**
 * diffusers' `get_timesteps`: `init_timestep = min(int(steps·strength), steps)` in float64 (so 0.7 × 10
 * is 7), and the run starts at evaluation `(steps − init_timestep)·order` of the full schedule. Every
 * Easel sampler has order 1. Returns the index of the first evaluation.
 */
export function strengthBeginIndex(steps: number, strength: number): number {
  const initTimestep = Math.min(Math.trunc(steps * strength), steps);
  const begin = Math.max(steps - initTimestep, 0);
  if (steps - begin < 1) {
    throw new EaselError('INVALID_REQUEST', `Denoising strength ${strength} with ${steps} steps leaves no step to run; raise the strength to at least ${Math.ceil((1 / steps) * 1000) / 1000} or use more steps.`);
  }
  return begin;
}

/** VaeImageProcessor.preprocess: 8-bit RGB → float32 planes in [−1, 1] ([1, 3, H, W]). */
export function imageToPixels(image: RgbImage): Float32Array {
  const plane = image.width * image.height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[c * plane + p] = f32(2 * f32(image.rgb[p * 3 + c] / 255)) - 1;
  }
  return out;
}

/** The mask processor's binarisation: value / 255 ≥ 0.5 repaints. */
export function binaryMask(mask: GrayImage): Uint8Array {
  const out = new Uint8Array(mask.gray.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(mask.gray[i] / 255) >= 0.5 ? 1 : 0;
  return out;
}

/** `masked_image = image · (mask < 0.5)`: the pixels to repaint become 0 (mid-grey). */
export function maskPixels(pixels: Float32Array, mask: Uint8Array): Float32Array {
  const plane = mask.length;
  const out = new Float32Array(pixels.length);
  for (let c = 0; c < 3; c++) for (let p = 0; p < plane; p++) out[c * plane + p] = mask[p] ? 0 : pixels[c * plane + p];
  return out;
}

/** `interpolate(mask, size=(H/8, W/8))` with torch's default nearest mode: latent [i, j] reads pixel [8i, 8j]. */
export function latentMask(mask: Uint8Array, width: number, height: number): Float32Array {
  const latentWidth = width / 8;
  const latentHeight = height / 8;
  const out = new Float32Array(latentWidth * latentHeight);
  for (let i = 0; i < latentHeight; i++) for (let j = 0; j < latentWidth; j++) out[i * latentWidth + j] = mask[8 * i * width + 8 * j];
  return out;
}

/**
 * What a VAE encoder returns: Optimum's `latent_parameters` give the posterior's mean and log-variance;
 * diffusers' conversion script traced `.sample()`, so its `latent_sample` is already a (unseeded) sample.
 */
export type LatentPosterior =
  | { kind: 'parameters'; mean: Float32Array; logvar: Float32Array }
  | { kind: 'sample'; sample: Float32Array };

/**
 * `latent_dist.sample(generator) · scaling_factor`: mean + exp(½·clamp(logvar, −30, 20))·ε with ε drawn
 * from the job's generator. A traced sample is used as it is, but the generator still makes the draw
 * diffusers makes there, so every later draw lands where it would.
 */
export function samplePosterior(posterior: LatentPosterior, shape: readonly number[], generator: NoiseGenerator, scalingFactor: number): Float32Array {
  const epsilon = generator.randn(shape);
  const scale = f32(scalingFactor);
  const out = new Float32Array(epsilon.length);
  if (posterior.kind === 'sample') {
    for (let i = 0; i < out.length; i++) out[i] = scale * posterior.sample[i];
    return out;
  }
  const { mean, logvar } = posterior;
  for (let i = 0; i < out.length; i++) {
    const std = f32(Math.exp(f32(0.5 * Math.min(20, Math.max(-30, logvar[i])))));
    out[i] = scale * f32(mean[i] + f32(std * epsilon[i]));
  }
  return out;
}

/** Inpainting with a 4-channel UNet: latents = (1 − m)·known + m·latents, for each of the 4 channels. */
export function blendKnownRegion(latents: Float32Array, known: Float32Array, mask: Float32Array): Float32Array {
  const plane = mask.length;
  const out = new Float32Array(latents.length);
  for (let i = 0; i < out.length; i++) {
    const m = mask[i % plane];
    out[i] = f32(f32(1 - m) * known[i]) + f32(m * latents[i]);
  }
  return out;
}

/**
 * A1111's overlay after inpainting with a blurred mask: the original shows through where the mask is
 * dark, the result where it is light, mixed along the soft edge.
 */
export function overlayOriginal(generated: Uint8Array, original: Uint8Array, mask: GrayImage): Uint8Array {
  const out = new Uint8Array(generated.length);
  const plane = mask.gray.length;
  for (let p = 0; p < plane; p++) {
    const m = mask.gray[p] / 255;
    for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.round(original[p * 3 + c] * (1 - m) + generated[p * 3 + c] * m);
  }
  return out;
}
