import * as ort from 'onnxruntime-node';
import { EaselError } from '../shared/errors.ts';
import { float16ToFloat32, float32ToFloat16 } from './float16.ts';
import { timestepTensor, type LoadedModel, type FloatType, type VaeEncoder } from './modelSessions.ts';
import { latentPreview, rgbaPreview, type PreviewImage } from './preview.ts';
import { createNoiseGenerator } from './rng.ts';
import type { TinyDecoder } from './tinyDecoder.ts';
import { applyEmphasis, chunkPrompt, padToChunks, parseExtraNetworks } from './promptSyntax.ts';
import type { EmphasisMode } from '../shared/names.ts';
import { createSampler, type Sampler } from './samplers/index.ts';
import type { EditInput, GenerationParams } from './generationParams.ts';
import { blurMask, type GrayImage } from './imageInput.ts';
import {
  binaryMask, blendKnownRegion, imageToPixels, latentMask, maskPixels, overlayOriginal, samplePosterior, strengthBeginIndex, type LatentPosterior,
} from './imageToImage.ts';
import type { NoiseGenerator } from './rng.ts';


export interface StepProgress {
  imageIndex: number;
  step: number;
  total: number;
  timestep: number;
  elapsedMs: number;
}

export interface GeneratedImage {
  index: number;
  seed: bigint;
  width: number;
  height: number;
  /** 8-bit RGB, row-major. */
  rgb: Uint8Array;
  latents: Float32Array;
  timing: GenerationTiming;
}

export interface GenerationTiming {
  totalMs: number;
  textEncoderMs: number;
  /** Time inside the UNet's session.run, all steps. */
  unetMs: number;
  decodeMs: number;
  /** The engine's own time per step outside session.run (scaling, guidance, sampler, noise). */
  overheadPerStepMs: number;
  steps: number;
}

export interface GenerateOptions {
  signal?: AbortSignal;
  onStep?: (progress: StepProgress) => void;
  /** Emit a latent preview every N steps (0 = never). */
  previewEvery?: number;
  /** And no sooner than this after the previous one (a tiny-decoder preview costs a decoder run). */
  previewMinIntervalMs?: number;
  onPreview?: (preview: PreviewImage, progress: StepProgress) => void;
  onImage?: (image: GeneratedImage) => void | Promise<void>;
  /** Start the batch at this image (seed + firstImage): the ones before it were made already (a resumed job). */
  firstImage?: number;
}

function floatTensor(type: FloatType, data: Float32Array, dims: number[]): ort.Tensor {
  return type === 'float16' ? new ort.Tensor('float16', float32ToFloat16(data), dims) : new ort.Tensor('float32', data, dims);
}

function readFloats(tensor: ort.Tensor): Float32Array {
  if (tensor.type === 'float16') return float16ToFloat32(tensor.data as Uint16Array);
  if (tensor.type === 'float32') return tensor.data as Float32Array;
  throw new EaselError('INFERENCE_FAILED', `The model returned ${tensor.type} where float32 or float16 was expected.`);
}

function allFinite(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return false;
  return true;
}

/** NaN or ∞ would become a black or saturated image; no image is better than a wrong one reported as done. */
function nonFinite(where: string): EaselError {
  return new EaselError('INFERENCE_FAILED', `The model produced NaN or infinite values in ${where}; no image was written. Check the model's scheduler_config.json, or try a float32 model or the cpu provider (float16 can overflow).`);
}

/**
 * diffusers' `get_guidance_scale_embedding` for LCM's `timestep_cond`: w·1000 times frequencies
 * exp(−ln(10000)·i/(half−1)), sin before cos, zero-padded to an odd width; float32 at each step as torch computes it.
 */
export function guidanceScaleEmbedding(w: number, dim: number): Float32Array {
  const f = Math.fround;
  const half = Math.floor(dim / 2);
  const out = new Float32Array(dim);
  const scaled = f(f(w) * 1000);
  const step = f(f(Math.log(10000)) / (half - 1));
  for (let i = 0; i < half; i++) {
    const angle = f(scaled * f(Math.exp(f(i * -step))));
    out[i] = Math.sin(angle);
    out[half + i] = Math.cos(angle);
  }
  return out;
}

function cancelled(): EaselError {
  return new EaselError('CANCELLED', 'Generation was cancelled.');
}

/** One prompt's text-encoder output: `chunks` × 77 tokens of `width` values, emphasis applied. */
interface EncodedPrompt {
  hidden: Float32Array;
  chunks: number;
  width: number;
}

/**
 * sd_hijack_clip's forward: the prompt (without `<lora:…>` tags) in 75-token chunks, each through the
 * text encoder on its own, weighted, and concatenated along the sequence.
 */
async function encodePrompt(model: LoadedModel, text: string, emphasis: EmphasisMode): Promise<EncodedPrompt> {
  const { chunks } = chunkPrompt(text, model.tokenizer, emphasis);
  const parts: Float32Array[] = [];
  let width = 0;
  const textEncoder = await model.openSession('text_encoder');
  for (const chunk of chunks) {
    const { ids } = chunk;
    const input = model.signature.inputIdsType === 'int64'
      ? new ort.Tensor('int64', BigInt64Array.from(ids, (id) => BigInt(id)), [1, ids.length])
      : new ort.Tensor('int32', ids, [1, ids.length]);
    const result = await runSession(textEncoder, { input_ids: input }, 'text_encoder');
    const output = result[model.signature.textOutput];
    const hidden = Float32Array.from(readFloats(output));
    width = output.dims[2];
    applyEmphasis(hidden, chunk.multipliers, emphasis);
    parts.push(hidden);
  }
  const hidden = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  parts.reduce((offset, part) => (hidden.set(part, offset), offset + part.length), 0);
  return { hidden, chunks: chunks.length, width };
}

/**
 * What the conditioning depends on besides the model's weights: a warm run with the same prompt (a new
 * seed, Generate again) reuses the last conditioning instead of running the text encoder again.
 */
export function conditioningKey(model: Pick<LoadedModel, 'loraState'>, params: Pick<GenerationParams, 'prompt' | 'negativePrompt' | 'emphasis'>, guided: boolean): string {
  return JSON.stringify([parseExtraNetworks(params.prompt).text, guided ? params.negativePrompt : null, params.emphasis, model.loraState?.text_encoder ?? '']);
}

/** The conditioning of this request: the cached one when its key matches, else encoded (and cached). */
async function conditioning(model: LoadedModel, params: GenerationParams, guided: boolean): Promise<ort.Tensor> {
  const key = conditioningKey(model, params, guided);
  if (model.conditioning?.key === key) return model.conditioning.context;
  model.conditioning = undefined;
  try {
    const context = await encodeConditioning(model, params, guided);
    model.conditioning = { key, context };
    return context;
  } finally {
    await model.afterUse('text_encoder');
  }
}

/** Prompt and negative prompt as the UNet's encoder_hidden_states: [negative; positive] when guided. */
async function encodeConditioning(model: LoadedModel, params: GenerationParams, guided: boolean): Promise<ort.Tensor> {
  const prompt = parseExtraNetworks(params.prompt).text;
  let positive = await encodePrompt(model, prompt, params.emphasis);
  let negative = guided ? await encodePrompt(model, params.negativePrompt, params.emphasis) : undefined;
  if (negative && negative.chunks !== positive.chunks) {
    const empty = await encodePrompt(model, '', params.emphasis);
    const chunks = Math.max(positive.chunks, negative.chunks);
    positive = { ...positive, chunks, hidden: padToChunks(positive.hidden, positive.chunks, chunks, empty.hidden) };
    negative = { ...negative, chunks, hidden: padToChunks(negative.hidden, negative.chunks, chunks, empty.hidden) };
  }
  const tokens = positive.hidden.length / positive.width;
  const fixed = model.signature.fixedContextLength;
  if (fixed !== undefined && fixed !== tokens) {
    throw new EaselError('INVALID_REQUEST', `This model's UNet was exported for ${fixed} prompt tokens, but the prompt needs ${positive.chunks} chunks of 77 (${tokens} tokens). Shorten the prompt (and negative prompt) to 75 tokens, or use an export with a dynamic sequence length.`);
  }
  const context = negative ? concatenate(negative.hidden, positive.hidden) : positive.hidden;
  return floatTensor(model.signature.contextType, context, [negative ? 2 : 1, tokens, positive.width]);
}

async function runSession(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, component: string): Promise<ort.InferenceSession.ReturnType> {
  try {
    return await session.run(feeds);
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    if (/bad_alloc|out of memory|Failed to allocate/i.test(message)) {
      throw new EaselError('OUT_OF_MEMORY', `Out of memory while running the ${component}. Try a smaller size, a smaller batch, or the cpu provider.`, { cause: error });
    }
    throw new EaselError('INFERENCE_FAILED', `The ${component} failed: ${message.split('\n')[0]}`, { cause: error });
  }
}

function concatenate(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Text-to-image: one image per seed (seed, seed + 1, …), each from its own generator as diffusers does. */
export async function generate(model: LoadedModel, params: GenerationParams, options: GenerateOptions = {}): Promise<GeneratedImage[]> {
  const { signal } = options;
  if (signal?.aborted) throw cancelled();
  const signature = model.signature;
  // An LCM with a guidance embedding takes the guidance as an input instead of a second (unconditional) batch.
  const hostGuidanceCond = signature.timestepCond
    ? floatTensor(signature.timestepCond.type, guidanceScaleEmbedding(params.cfgScale - 1, signature.timestepCond.dim), [1, signature.timestepCond.dim])
    : undefined;
  const guided = !hostGuidanceCond && params.cfgScale > 1;
  const textStart = performance.now();
  const hostContext = await conditioning(model, params, guided);
  // On a GPU provider the inputs that every step shares go to the device once (the previous job's are freed here).
  const device = model.deviceUploads;
  device?.discard();
  const contextTensor = device ? await device.upload(hostContext) : hostContext;
  const guidanceCond = device && hostGuidanceCond ? await device.upload(hostGuidanceCond) : hostGuidanceCond;
  const textEncoderMs = performance.now() - textStart;

  const latentHeight = params.height / 8;
  const latentWidth = params.width / 8;
  const latentShape = [1, 4, latentHeight, latentWidth];
  const latentSize = 4 * latentHeight * latentWidth;
  const modelBatch = guided ? 2 : 1;
  const edit = params.init ? await prepareEdit(model, params.init, params.steps) : undefined;
  const images: GeneratedImage[] = [];

  const firstImage = options.firstImage ?? 0;
  try {
    for (let index = firstImage; index < params.batchCount; index++) {
      images.push(await generateOne(index));
    }
  } finally {
    await model.afterUse('vae_decoder');
  }
  return images;

  async function generateOne(index: number): Promise<GeneratedImage> {
    const imageStart = performance.now();
    const seed = params.seed + BigInt(index);
    const generator = createNoiseGenerator(seed, params.rng);
    const sampler = createSampler(params.sampler, { config: model.folder.scheduler, steps: params.steps, schedule: params.schedule });
    const start = edit ? startFromImage(edit, sampler, generator, latentShape, model.folder.scalingFactor) : startFromNoise(sampler, generator, latentShape);
    let latents = start.latents;
    const drawNoise = () => generator.randn(latentShape);
    const total = sampler.timesteps.length;
    let unetMs = 0;
    let lastPreview = -Infinity;
    for (let step = start.beginIndex; step < total; step++) {
      if (signal?.aborted) throw cancelled();
      const timestep = sampler.timesteps[step];
      const scaled = sampler.scaleModelInput(latents, step);
      const modelInput = unetInput(scaled, start.conditioning, modelBatch);
      const feeds: Record<string, ort.Tensor> = {
        sample: floatTensor(signature.sampleType, modelInput, [modelBatch, signature.unetInChannels, latentHeight, latentWidth]),
        timestep: timestepTensor(signature, timestep, modelBatch),
        encoder_hidden_states: contextTensor,
      };
      if (guidanceCond) feeds.timestep_cond = guidanceCond;
      const runStart = performance.now();
      const result = await runSession(model.unet, feeds, 'UNet');
      unetMs += performance.now() - runStart;
      const output = readFloats(result.out_sample);
      let noisePrediction: Float32Array;
      if (guided) {
        noisePrediction = new Float32Array(latentSize);
        const scale = params.cfgScale;
        for (let i = 0; i < latentSize; i++) {
          const unconditional = output[i];
          noisePrediction[i] = unconditional + scale * (output[latentSize + i] - unconditional);
        }
      } else {
        noisePrediction = output;
      }
      latents = sampler.step(noisePrediction, step, latents, drawNoise);
      if (edit?.blend && start.imageLatents && start.noise) {
        const known = step + 1 < total ? sampler.addNoise(start.imageLatents, start.noise, step + 1) : start.imageLatents;
        latents = blendKnownRegion(latents, known, edit.blend);
      }
      if (!allFinite(latents)) throw nonFinite(`the UNet's output at step ${step + 1} of ${total}`);
      const done = step + 1 - start.beginIndex;
      const runSteps = total - start.beginIndex;
      const progress = { imageIndex: index, step: done, total: runSteps, timestep, elapsedMs: performance.now() - imageStart };
      options.onStep?.(progress);
      const now = performance.now();
      if (options.onPreview && options.previewEvery && done % options.previewEvery === 0 && done < runSteps
        && now - lastPreview >= (options.previewMinIntervalMs ?? 0)) {
        lastPreview = now;
        const preview = model.tinyDecoder
          ? rgbaPreview(await decodeTiny(model, latents, latentHeight, latentWidth), latentWidth * 8, latentHeight * 8)
          : latentPreview(latents, latentHeight, latentWidth);
        options.onPreview(preview, progress);
      }
    }
    const loopMs = performance.now() - imageStart;
    if (signal?.aborted) throw cancelled();
    const decodeStart = performance.now();
    const decoded = params.decoder === 'tiny'
      ? await decodeTiny(model, latents, latentHeight, latentWidth)
      : await decodeFull(model, latents, latentHeight, latentWidth);
    const rgb = edit?.overlay ? overlayOriginal(decoded, edit.overlay.original, edit.overlay.mask) : decoded;
    const decodeMs = performance.now() - decodeStart;
    const image: GeneratedImage = {
      index,
      seed,
      width: params.width,
      height: params.height,
      rgb,
      latents,
      timing: {
        totalMs: performance.now() - imageStart + (index === firstImage ? textEncoderMs : 0),
        textEncoderMs: index === firstImage ? textEncoderMs : 0,
        unetMs,
        decodeMs,
        overheadPerStepMs: (loopMs - unetMs) / (total - start.beginIndex),
        steps: total - start.beginIndex,
      },
    };
    await options.onImage?.(image);
    return image;
  }
}

/** How a job starts from an image: what was encoded once, and what each image's generator samples. */
interface PreparedEdit {
  strength: number;
  /** The init image's posterior, when the pipeline encodes it (img2img, strength < 1, blend inpainting). */
  image?: LatentPosterior;
  /** 9-channel inpainting: the latent mask and the masked image's posterior, concatenated after the latents. */
  inpaint?: { mask: Float32Array; maskedImage: LatentPosterior };
  /** 4-channel inpainting: the latent mask for blending the known region back each step. */
  blend?: Float32Array;
  /** Mask blur > 0: paste the original back outside the blurred mask after decoding (A1111). */
  overlay?: { original: Uint8Array; mask: GrayImage };
  beginIndex: number;
}

async function prepareEdit(model: LoadedModel, init: EditInput, steps: number): Promise<PreparedEdit> {
  const { image, strength } = init;
  const inpaintModel = model.signature.unetInChannels === 9;
  const beginIndex = strengthBeginIndex(steps, strength);
  const encoder = await model.vaeEncoder();
  const pixels = imageToPixels(image);
  const encode = (data: Float32Array) => encodeImage(encoder, data, image.width, image.height);
  if (!init.mask && !inpaintModel) return { strength, image: await encode(pixels), beginIndex };
  const mask = init.mask ? await blurMask(init.mask, init.maskBlur) : { width: image.width, height: image.height, gray: new Uint8Array(image.width * image.height).fill(255) };
  const binary = binaryMask(mask);
  const small = latentMask(binary, image.width, image.height);
  const overlay = init.mask && init.maskBlur > 0 ? { original: image.rgb, mask } : undefined;
  if (inpaintModel) {
    // diffusers encodes the init image only when it noises it (strength < 1); the masked image always.
    const encoded = strength < 1 ? await encode(pixels) : undefined;
    return { strength, image: encoded, inpaint: { mask: small, maskedImage: await encode(maskPixels(pixels, binary)) }, overlay, beginIndex };
  }
  return { strength, image: await encode(pixels), blend: small, overlay, beginIndex };
}

async function encodeImage(encoder: VaeEncoder, pixels: Float32Array, width: number, height: number): Promise<LatentPosterior> {
  const result = await runSession(encoder.session, { sample: floatTensor(encoder.inputType, pixels, [1, 3, height, width]) }, 'VAE encoder');
  const output = result[encoder.output];
  const values = readFloats(output);
  const plane = (height / 8) * (width / 8);
  const channels = encoder.output === 'latent_parameters' ? 8 : 4;
  if (output.dims.length !== 4 || output.dims[1] !== channels || output.dims[2] !== height / 8 || output.dims[3] !== width / 8) {
    throw new EaselError('INFERENCE_FAILED', `The VAE encoder returned [${output.dims.join(', ')}]; expected [1, ${channels}, ${height / 8}, ${width / 8}].`);
  }
  if (encoder.output === 'latent_sample') return { kind: 'sample', sample: values.slice(0, 4 * plane) };
  return { kind: 'parameters', mean: values.slice(0, 4 * plane), logvar: values.slice(4 * plane, 8 * plane) };
}

interface StartingPoint {
  latents: Float32Array;
  beginIndex: number;
  /** Blend inpainting re-noises these with the same noise at every step. */
  imageLatents?: Float32Array;
  noise?: Float32Array;
  /** 9-channel inpainting: [mask, masked-image latents], the UNet's 5 extra channels. */
  conditioning?: Float32Array;
}

/** Text-to-image: noise × init_noise_sigma. */
function startFromNoise(sampler: Sampler, generator: NoiseGenerator, shape: number[]): StartingPoint {
  const latents = generator.randn(shape);
  for (let i = 0; i < latents.length; i++) latents[i] *= sampler.initNoiseSigma;
  return { latents, beginIndex: 0 };
}

/**
 * img2img and inpainting, drawing from the generator in diffusers' order: the init image's posterior
 * sample (when encoded), the noise, then the masked image's posterior sample (9-channel inpainting).
 * Strength 1 inpainting starts from noise × init_noise_sigma; everything else from the noised image.
 */
function startFromImage(edit: PreparedEdit, sampler: Sampler, generator: NoiseGenerator, shape: number[], scalingFactor: number): StartingPoint {
  const imageLatents = edit.image ? samplePosterior(edit.image, shape, generator, scalingFactor) : undefined;
  const noise = generator.randn(shape);
  const fromNoise = (edit.inpaint || edit.blend) && edit.strength === 1;
  let latents: Float32Array;
  if (fromNoise || !imageLatents) {
    latents = new Float32Array(noise.length);
    for (let i = 0; i < noise.length; i++) latents[i] = noise[i] * sampler.initNoiseSigma;
  } else {
    latents = sampler.addNoise(imageLatents, noise, edit.beginIndex);
  }
  const conditioning = edit.inpaint
    ? concatenate(edit.inpaint.mask, samplePosterior(edit.inpaint.maskedImage, shape, generator, scalingFactor))
    : undefined;
  return { latents, beginIndex: edit.beginIndex, imageLatents, noise, conditioning };
}

/** The UNet's `sample`: the scaled latents, then (inpainting UNets) mask and masked-image latents, per batch item. */
function unetInput(scaled: Float32Array, conditioning: Float32Array | undefined, batch: number): Float32Array {
  const item = scaled.length + (conditioning?.length ?? 0);
  if (!conditioning && batch === 1) return scaled;
  const out = new Float32Array(item * batch);
  for (let b = 0; b < batch; b++) {
    out.set(scaled, b * item);
    if (conditioning) out.set(conditioning, b * item + scaled.length);
  }
  return out;
}

async function decodeFull(model: LoadedModel, latents: Float32Array, latentHeight: number, latentWidth: number): Promise<Uint8Array> {
  const { signature, folder } = model;
  return runDecoder(await model.openSession('vae_decoder'), 'latent_sample', signature.decoderInputType, 'sample', latents, folder.scalingFactor, latentHeight, latentWidth, 'VAE decoder');
}

async function decodeTiny(model: LoadedModel, latents: Float32Array, latentHeight: number, latentWidth: number): Promise<Uint8Array> {
  if (!model.tinyDecoder) throw new EaselError('INVALID_REQUEST', 'The tiny decoder was asked for but none is loaded; download "TAESD" or use the full decoder.');
  return decodeWithTinyDecoder(model.tinyDecoder, latents, latentHeight, latentWidth);
}

/** TAESD (scaling factor 1.0 for SD's latents), as diffusers decodes when `pipe.vae` is an AutoencoderTiny. */
export async function decodeWithTinyDecoder(tiny: TinyDecoder, latents: Float32Array, latentHeight: number, latentWidth: number): Promise<Uint8Array> {
  return runDecoder(tiny.session, tiny.inputName, tiny.inputType, tiny.outputName, latents, tiny.scalingFactor, latentHeight, latentWidth, 'tiny decoder');
}

/** latents / scaling factor → decoder → (x/2 + 0.5) clamped to [0, 1] → 8-bit RGB, as diffusers' image processor does. */
async function runDecoder(
  session: ort.InferenceSession, inputName: string, inputType: FloatType, outputName: string,
  latents: Float32Array, scalingFactor: number, latentHeight: number, latentWidth: number, component: string,
): Promise<Uint8Array> {
  const scaled = new Float32Array(latents.length);
  const inverse = 1 / scalingFactor;
  for (let i = 0; i < latents.length; i++) scaled[i] = latents[i] * inverse;
  const result = await runSession(session, { [inputName]: floatTensor(inputType, scaled, [1, 4, latentHeight, latentWidth]) }, component);
  const output = result[outputName];
  const pixels = readFloats(output);
  if (!allFinite(pixels)) throw nonFinite(`the ${component}'s output`);
  const [, channels, height, width] = output.dims;
  if (channels !== 3 || height !== latentHeight * 8 || width !== latentWidth * 8) {
    throw new EaselError('INFERENCE_FAILED', `The ${component} returned [${output.dims.join(', ')}]; expected [1, 3, ${latentHeight * 8}, ${latentWidth * 8}].`);
  }
  const plane = height * width;
  const rgb = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const value = Math.min(1, Math.max(0, pixels[c * plane + p] / 2 + 0.5));
      rgb[p * 3 + c] = Math.round(value * 255);
    }
  }
  return rgb;
}
