import { DECODER_KINDS, type DecoderKind } from './decoderKinds.ts';
import { EaselError } from './errors.ts';
import type { GrayImage, RgbImage } from './imageInput.ts';
import type { LoadedModel } from './modelSessions.ts';
import { MAX_SEED, normaliseSeed, type RngSource } from './rng.ts';
import { isSamplerName, isScheduleType } from './samplers/index.ts';
import type { SamplerName, ScheduleType } from './samplers/sampler.ts';
import { DEFAULT_EMPHASIS, EMPHASIS_MODES, isEmphasisMode, parseExtraNetworks, parsePromptAttention, type EmphasisMode } from './promptSyntax.ts';

export interface GenerationParams {
  prompt: string;
  negativePrompt: string;
  steps: number;
  cfgScale: number;
  seed: bigint;
  sampler: SamplerName;
  schedule: ScheduleType;
  width: number;
  height: number;
  rng: RngSource;
  batchCount: number;
  /** How `(word:1.2)` weights apply (A1111's Emphasis setting); "None" reads the prompt literally. */
  emphasis: EmphasisMode;
  decoder: DecoderKind;
  /** img2img / inpainting: the init image (and mask, 255 = repaint), both width × height. */
  init?: EditInput;
}

export interface EditInput {
  image: RgbImage;
  mask?: GrayImage;
  /** Denoising strength in [0, 1]: how much of the schedule runs (1 = all of it). */
  strength: number;
  /** Mask blur in pixels (A1111); 0 keeps diffusers' hard mask and no overlay. */
  maskBlur: number;
}

export const DEFAULT_STRENGTH = 0.75;
export const MAX_MASK_BLUR = 64;
/** The largest encoded file Easel reads as an init image or mask (the decoded size has its own limit). */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

export const MAX_BATCH_COUNT = 64;
export const MAX_STEPS = 500;
export const MAX_DIMENSION = 2048;

/** Checks and completes a request; every problem is a sentence naming the setting. */
export function validateParams(input: Partial<Omit<GenerationParams, 'seed'>> & { seed?: number | bigint | string }, model?: LoadedModel): GenerationParams {
  const fail = (message: string): never => {
    throw new EaselError('INVALID_REQUEST', message);
  };
  const native = model?.signature.fixedLatentSize
    ? { width: model.signature.fixedLatentSize[1] * 8, height: model.signature.fixedLatentSize[0] * 8 }
    : { width: model?.folder.nativeSize ?? 512, height: model?.folder.nativeSize ?? 512 };
  const prompt = input.prompt ?? '';
  if (typeof prompt !== 'string') fail('The prompt must be text.');
  const negativePrompt = input.negativePrompt ?? '';
  if (typeof negativePrompt !== 'string') fail('The negative prompt must be text.');
  const steps = input.steps ?? 20;
  if (!Number.isInteger(steps) || steps < 1 || steps > MAX_STEPS) fail(`Steps must be a whole number from 1 to ${MAX_STEPS}, got ${steps}.`);
  const cfgScale = input.cfgScale ?? 7;
  if (typeof cfgScale !== 'number' || !Number.isFinite(cfgScale) || cfgScale < 0 || cfgScale > 100) fail(`CFG scale must be a number from 0 to 100, got ${cfgScale}.`);
  const sampler = input.sampler ?? 'Euler a';
  if (!isSamplerName(sampler)) fail(`Unknown sampler "${String(sampler)}".`);
  const schedule = input.schedule ?? 'Automatic';
  if (!isScheduleType(schedule)) fail(`Unknown schedule type "${String(schedule)}"; use Automatic or Karras.`);
  const rng = input.rng ?? 'cpu';
  if (rng !== 'cpu' && rng !== 'gpu') fail(`RNG source must be "cpu" or "gpu", got "${String(rng)}".`);
  const width = input.width ?? native.width;
  const height = input.height ?? native.height;
  for (const [name, value] of [['Width', width], ['Height', height]] as const) {
    if (!Number.isInteger(value) || value < 8 || value > MAX_DIMENSION) fail(`${name} must be a whole number of pixels from 8 to ${MAX_DIMENSION}, got ${value}.`);
    if (value % 8 !== 0) fail(`${name} must be a multiple of 8, got ${value} (try ${Math.max(8, Math.round(value / 8) * 8)}).`);
  }
  if (model?.signature.fixedLatentSize && (width !== native.width || height !== native.height)) {
    fail(`This model was exported for ${native.width}×${native.height} only; ${width}×${height} was asked for.`);
  }
  const emphasis = input.emphasis ?? DEFAULT_EMPHASIS;
  if (!isEmphasisMode(emphasis)) fail(`Unknown emphasis "${String(emphasis)}"; use ${EMPHASIS_MODES.join(', ')}.`);
  // Malformed weights and LoRA tags are refused here, before a model is loaded.
  const promptText = parseExtraNetworks(prompt).text;
  if (emphasis !== 'None') {
    parsePromptAttention(promptText);
    parsePromptAttention(negativePrompt);
  }
  const batchCount = input.batchCount ?? 1;
  if (!Number.isInteger(batchCount) || batchCount < 1 || batchCount > MAX_BATCH_COUNT) fail(`Batch count must be from 1 to ${MAX_BATCH_COUNT}, got ${batchCount}.`);
  const decoder = input.decoder ?? 'full';
  if (!DECODER_KINDS.includes(decoder)) fail(`Decoder must be "full" or "tiny", got "${String(decoder)}".`);
  if (decoder === 'tiny' && model && !model.tinyDecoder) {
    fail('The tiny decoder was asked for but none is installed: download "TAESD" with Easel: Download Model… (or pass --decoder DIR), or use the full decoder.');
  }
  let seed: bigint;
  try {
    seed = normaliseSeed(typeof input.seed === 'string' ? BigInt(input.seed) : input.seed ?? randomSeed());
  } catch {
    return fail(`Seed must be a whole number from 0 to ${MAX_SEED}, got ${String(input.seed)}.`);
  }
  if (seed + BigInt(batchCount - 1) > MAX_SEED) fail('Seed plus batch count goes past the largest seed.');
  const init = input.init;
  if (init) {
    const { strength, maskBlur } = init;
    if (typeof strength !== 'number' || !(strength >= 0 && strength <= 1)) fail(`Denoising strength must be a number from 0 to 1, got ${strength}.`);
    if (!Number.isInteger(maskBlur) || maskBlur < 0 || maskBlur > MAX_MASK_BLUR) fail(`Mask blur must be a whole number of pixels from 0 to ${MAX_MASK_BLUR}, got ${maskBlur}.`);
    for (const [name, image] of [['init image', init.image], ['mask', init.mask]] as const) {
      if (image && (image.width !== width || image.height !== height)) fail(`The ${name} is ${image.width}×${image.height}; the job is ${width}×${height}.`);
    }
  }
  if (model?.signature.unetInChannels === 9 && !init) {
    fail(`${model.folder.name} is an inpainting model: give it an init image (and a mask) to edit.`);
  }
  return { prompt, negativePrompt, steps, cfgScale, seed, sampler, schedule, width, height, rng, batchCount, emphasis, decoder, ...(init ? { init } : {}) };
}

export function randomSeed(): bigint {
  return BigInt(Math.floor(Math.random() * 2 ** 32));
}

