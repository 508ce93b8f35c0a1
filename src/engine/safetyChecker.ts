import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { EaselError } from '../shared/errors.ts';
import type { ModelFolder } from './modelFolder.ts';
import { createSessionWithProvider } from './providers.ts';
import type { ExecutionProvider } from '../shared/names.ts';


/** CLIP's image preprocessing as transformers' CLIPImageProcessor reads it from preprocessor_config.json. */
export interface ClipPreprocessing {
  size: number;
  crop: number;
  mean: [number, number, number];
  std: [number, number, number];
}

const CLIP_DEFAULTS: ClipPreprocessing = { size: 224, crop: 224, mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] };

function edge(value: unknown, fallback: number): number {
  if (typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= 1024) return value;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    for (const key of ['shortest_edge', 'height']) if (typeof record[key] === 'number') return edge(record[key], fallback);
  }
  return fallback;
}

function triple(value: unknown, fallback: [number, number, number]): [number, number, number] {
  return Array.isArray(value) && value.length === 3 && value.every((v) => typeof v === 'number' && Number.isFinite(v)) ? (value as [number, number, number]) : fallback;
}

export async function readPreprocessing(root: string): Promise<ClipPreprocessing> {
  try {
    const config = JSON.parse(await readFile(join(root, 'feature_extractor', 'preprocessor_config.json'), 'utf8')) as Record<string, unknown>;
    return { size: edge(config.size, 224), crop: edge(config.crop_size, 224), mean: triple(config.image_mean, CLIP_DEFAULTS.mean), std: triple(config.image_std, CLIP_DEFAULTS.std) };
  } catch {
    return CLIP_DEFAULTS;
  }
}

export interface SafetyChecker {
  check(rgb: Uint8Array, width: number, height: number): Promise<boolean>;
  release(): Promise<void>;
}

/**
 * diffusers' ONNX safety checker: `clip_input` [b, 3, 224, 224] (resized so the short edge is 224,
 * centre-cropped, normalised with CLIP's mean and std) and `images` [b, H, W, 3] in 0 … 1; it answers
 * `has_nsfw_concepts`.
 */
export async function loadSafetyChecker(folder: ModelFolder, provider: ExecutionProvider): Promise<SafetyChecker | undefined> {
  const path = folder.components.safety_checker;
  if (!path) return undefined;
  const { session } = await createSessionWithProvider(path, provider);
  const names = session.inputNames;
  if (!names.includes('clip_input') || !names.includes('images') || !session.outputNames.includes('has_nsfw_concepts')) {
    await session.release();
    throw new EaselError('MODEL_INVALID', `${path}: expected inputs clip_input and images and output has_nsfw_concepts; found inputs ${names.join(', ')} and outputs ${session.outputNames.join(', ')}.`);
  }
  const preprocessing = await readPreprocessing(folder.root);
  const halfInputs = session.inputMetadata.some((meta) => meta.isTensor && meta.type === 'float16');
  if (halfInputs) {
    await session.release();
    throw new EaselError('MODEL_INVALID', `${path}: float16 safety checkers are not supported yet; set easel.safety.checker to "off" or use an fp32 checker.`);
  }
  return {
    async check(rgb, width, height) {
      const { size, crop, mean, std } = preprocessing;
      const scale = size / Math.min(width, height);
      const resized = await sharp(rgb, { raw: { width, height, channels: 3 } })
        .resize(Math.max(crop, Math.round(width * scale)), Math.max(crop, Math.round(height * scale)), { kernel: 'cubic', fit: 'fill' })
        .extract({ left: Math.floor((Math.max(crop, Math.round(width * scale)) - crop) / 2), top: Math.floor((Math.max(crop, Math.round(height * scale)) - crop) / 2), width: crop, height: crop })
        .raw()
        .toBuffer();
      const plane = crop * crop;
      const clip = new Float32Array(3 * plane);
      for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) clip[c * plane + p] = (resized[p * 3 + c] / 255 - mean[c]) / std[c];
      const images = new Float32Array(rgb.length);
      for (let i = 0; i < rgb.length; i++) images[i] = rgb[i] / 255;
      const result = await session.run({
        clip_input: new ort.Tensor('float32', clip, [1, 3, crop, crop]),
        images: new ort.Tensor('float32', images, [1, height, width, 3]),
      });
      const flags = result.has_nsfw_concepts.data as ArrayLike<number | boolean>;
      return Boolean(flags[0]);
    },
    release: () => session.release(),
  };
}

/** A blur strong enough that nothing of the content can be made out. */
export async function blurImage(rgb: Uint8Array, width: number, height: number): Promise<Uint8Array> {
  const sigma = Math.max(width, height) / 12;
  const blurred = await sharp(rgb, { raw: { width, height, channels: 3 } }).blur(sigma).raw().toBuffer();
  return new Uint8Array(blurred.buffer, blurred.byteOffset, blurred.byteLength);
}
