import { EaselError } from '../shared/errors.ts';
import { DEFAULTS, parseSeed, randomSeed, settingsProblems } from '../shared/generationSettings.ts';
import type { DecoderKind, EmphasisMode, RngSource, SamplerName, ScheduleType } from '../shared/names.ts';
import type { GrayImage, RgbImage } from './imageInput.ts';
import type { LoadedModel } from './modelSessions.ts';
import { parseExtraNetworks, parsePromptAttention } from './promptSyntax.ts';

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

/**
 * Completes a request with the defaults (the model's native size for width and height) and checks
 * it against the shared rules and the model's own limits; every problem is a sentence naming the setting.
 */
export function validateParams(input: Partial<Omit<GenerationParams, 'seed'>> & { seed?: number | bigint | string }, model?: LoadedModel): GenerationParams {
  const native = model?.signature.fixedLatentSize
    ? { width: model.signature.fixedLatentSize[1] * 8, height: model.signature.fixedLatentSize[0] * 8 }
    : { width: model?.folder.nativeSize ?? DEFAULTS.width, height: model?.folder.nativeSize ?? DEFAULTS.height };
  const completed = {
    prompt: input.prompt ?? '',
    negativePrompt: input.negativePrompt ?? '',
    steps: input.steps ?? DEFAULTS.steps,
    cfgScale: input.cfgScale ?? DEFAULTS.cfgScale,
    sampler: input.sampler ?? DEFAULTS.sampler,
    schedule: input.schedule ?? DEFAULTS.schedule,
    rng: input.rng ?? DEFAULTS.rng,
    width: input.width ?? native.width,
    height: input.height ?? native.height,
    batchCount: input.batchCount ?? DEFAULTS.batchCount,
    seed: input.seed ?? randomSeed(),
    emphasis: input.emphasis ?? DEFAULTS.emphasis,
    decoder: input.decoder ?? DEFAULTS.decoder,
  };
  const [problem] = settingsProblems(completed);
  if (problem) throw new EaselError('INVALID_REQUEST', problem.message);
  const { width, height } = completed;
  if (model?.signature.fixedLatentSize && (width !== native.width || height !== native.height)) {
    throw new EaselError('INVALID_REQUEST', `This model was exported for ${native.width}×${native.height} only; ${width}×${height} was asked for.`);
  }
  // Malformed weights and LoRA tags are refused here, before a model is loaded.
  if (completed.emphasis !== 'None') {
    parsePromptAttention(parseExtraNetworks(completed.prompt).text);
    parsePromptAttention(completed.negativePrompt);
  }
  if (completed.decoder === 'tiny' && model && !model.tinyDecoder) {
    throw new EaselError('INVALID_REQUEST', 'The tiny decoder was asked for but none is installed: download "TAESD" with Easel: Download Model… (or pass --decoder DIR), or use the full decoder.');
  }
  const { init } = input;
  if (init) {
    const [editProblem] = settingsProblems({ strength: init.strength, maskBlur: init.maskBlur });
    if (editProblem) throw new EaselError('INVALID_REQUEST', editProblem.message);
    for (const [name, image] of [['init image', init.image], ['mask', init.mask]] as const) {
      if (image && (image.width !== width || image.height !== height)) throw new EaselError('INVALID_REQUEST', `The ${name} is ${image.width}×${image.height}; the job is ${width}×${height}.`);
    }
  }
  if (model?.signature.unetInChannels === 9 && !init) {
    throw new EaselError('INVALID_REQUEST', `${model.folder.name} is an inpainting model: give it an init image (and a mask) to edit.`);
  }
  return { ...completed, seed: parseSeed(completed.seed)!, ...(init ? { init } : {}) };
}
