import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { checkImportRecord, FLOAT16_GRAPH } from './checkpoint/importRecord.ts';
import { CONFIG_FILE_LIMIT, parseConfigJson, readBoundedText } from './configFiles.ts';
import { EaselError } from '../shared/errors.ts';
import type { ExecutionProvider } from '../shared/names.ts';
import { DEFAULT_SCHEDULER_CONFIG, parseSchedulerConfig, type SchedulerFile } from './samplers/schedulerConfig.ts';

export const REQUIRED_COMPONENTS = ['text_encoder', 'unet', 'vae_decoder'] as const;
export const OPTIONAL_COMPONENTS = ['vae_encoder', 'safety_checker'] as const;
export type ComponentName = (typeof REQUIRED_COMPONENTS)[number] | (typeof OPTIONAL_COMPONENTS)[number];
/** What a worker reports loading: a model folder's components, or the tiny decoder from its own folder. */
export type LoadingComponent = ComponentName | 'tiny_decoder';

/** A diffusers / Optimum ONNX Stable Diffusion folder, checked on disk; no session is created here. */
export interface ModelFolder {
  root: string;
  name: string;
  modelIndex: Record<string, unknown>;
  /** model.onnx path of each component present. */
  components: Partial<Record<ComponentName, string>>;
  tokenizerDir: string;
  /** The keys scheduler_config.json holds (SD 1.x's when the file is missing); each sampler fills in the rest. */
  scheduler: SchedulerFile;
  /** VAE latent scaling factor (0.18215 for SD 1.x/2.x). */
  scalingFactor: number;
  /** Native resolution from unet/config.json sample_size × 8, else 512. */
  nativeSize: number;
  /** unet/config.json in_channels when present (9 for inpainting UNets). */
  unetInChannels?: number;
  /**
   * An imported checkpoint: per component, the folder its graph's external weights lie in (the
   * checkpoint's own folder), and the checkpoint's SHA-256.
   */
  imported?: {
    weightsDirs: Partial<Record<ComponentName, string>>; sha256: string; source: string;
    /** An fp16 checkpoint's float16 graphs (text encoder, UNet), run on GPU providers instead of model.onnx. */
    float16Graphs: Partial<Record<ComponentName, string>>;
  };
}

/**
 * The graph a component runs on `provider`: its model.onnx, or on a GPU provider an imported fp16
 * checkpoint's float16 graph (the cpu provider casts fp16 weights to float32 at load instead).
 */
export function componentGraph(folder: ModelFolder, component: ComponentName, provider: ExecutionProvider): string {
  const float16 = provider === 'cpu' ? undefined : folder.imported?.float16Graphs[component];
  const path = float16 ?? folder.components[component];
  if (!path) throw new EaselError('MODEL_INVALID', `${folder.root} has no ${component}/model.onnx.`);
  return path;
}

const TOKENIZER_FILES = ['vocab.json', 'merges.txt'];

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : undefined;
  } catch {
    return undefined;
  }
}

async function readJsonObject(path: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  const text = await readBoundedText(path, CONFIG_FILE_LIMIT, 'MODEL_INVALID', required);
  if (text === undefined) return undefined;
  const value = parseConfigJson(text);
  if (!value) throw new EaselError('MODEL_INVALID', `${path} is not valid JSON (expected an object).`);
  return value;
}

/** Reads and checks a model folder's layout: model_index.json, components, tokenizer and scheduler. */
export async function inspectModelFolder(root: string): Promise<ModelFolder> {
  const rootInfo = await stat(root).catch(() => undefined);
  if (!rootInfo?.isDirectory()) {
    throw new EaselError('MODEL_NOT_FOUND', `Model folder ${root} does not exist or is not a folder. Set a diffusers ONNX model folder (with model_index.json).`);
  }
  if ((await fileSize(join(root, 'model_index.json'))) === undefined) {
    throw new EaselError('MODEL_INVALID', `${root} is not a diffusers ONNX model folder: model_index.json is missing.`);
  }
  const modelIndex = (await readJsonObject(join(root, 'model_index.json'), true))!;
  const components: Partial<Record<ComponentName, string>> = {};
  for (const name of [...REQUIRED_COMPONENTS, ...OPTIONAL_COMPONENTS]) {
    const path = join(root, name, 'model.onnx');
    const size = await fileSize(path);
    const required = (REQUIRED_COMPONENTS as readonly string[]).includes(name);
    if (size === undefined) {
      if (required) throw new EaselError('MODEL_INVALID', `${root}: the ${name} component is missing (expected ${path}).`);
      continue;
    }
    if (size === 0) throw new EaselError('MODEL_INVALID', `${path} is empty. The download or export did not finish; fetch the model again.`);
    components[name] = path;
  }
  const tokenizerDir = join(root, 'tokenizer');
  for (const file of TOKENIZER_FILES) {
    if ((await fileSize(join(tokenizerDir, file))) === undefined) {
      throw new EaselError('TOKENIZER_INVALID', `${root}: the tokenizer file ${join(tokenizerDir, file)} is missing.`);
    }
  }
  const schedulerPath = join(root, 'scheduler', 'scheduler_config.json');
  const scheduler = parseSchedulerConfig(await readJsonObject(schedulerPath, false) ?? DEFAULT_SCHEDULER_CONFIG, schedulerPath);
  const vaeConfig = (await readJsonObject(join(root, 'vae_decoder', 'config.json'), false))
    ?? (await readJsonObject(join(root, 'vae', 'config.json'), false));
  const scaling = vaeConfig?.scaling_factor;
  const scalingFactor = typeof scaling === 'number' && Number.isFinite(scaling) && scaling > 0 ? scaling : 0.18215;
  const unetConfig = await readJsonObject(join(root, 'unet', 'config.json'), false);
  const sampleSize = unetConfig?.sample_size;
  const nativeSize = typeof sampleSize === 'number' && Number.isInteger(sampleSize) && sampleSize > 0 ? sampleSize * 8 : 512;
  const inChannels = unetConfig?.in_channels;
  const unetInChannels = typeof inChannels === 'number' && Number.isInteger(inChannels) ? inChannels : undefined;
  const record = await checkImportRecord(root);
  const imported = record && {
    weightsDirs: Object.fromEntries(Object.entries(record.weights).map(([component, weights]) => [component, dirname(weights.file)])),
    sha256: record.sha256,
    source: record.source,
    float16Graphs: Object.fromEntries((record.float16Graphs ?? []).map((component) => [component, join(root, component, FLOAT16_GRAPH)])),
  };
  return { root, name: basename(root), modelIndex, components, tokenizerDir, scheduler, scalingFactor, nativeSize, unetInChannels, imported };
}

/** A TAESD folder (madebyollin/taesd as ONNX, e.g. deinferno/taesd-onnx): `vae_decoder/model.onnx`, config optional. */
export interface TinyDecoderFolder {
  root: string;
  name: string;
  decoderPath: string;
  /** TAESD takes the UNet's latents as they are: diffusers' AutoencoderTiny has scaling_factor 1.0. */
  scalingFactor: number;
}

/** Checks a tiny-decoder folder on disk; refuses a full KL VAE, whose latents need another scale. */
export async function inspectTinyDecoderFolder(root: string): Promise<TinyDecoderFolder> {
  const decoderPath = join(root, 'vae_decoder', 'model.onnx');
  const size = await fileSize(decoderPath);
  if (size === undefined) {
    throw new EaselError('MODEL_NOT_FOUND', `${root} is not a tiny decoder (TAESD) folder: ${decoderPath} is missing. Download "TAESD" with Easel: Download Model…, or set easel.decoder to "full".`);
  }
  if (size === 0) throw new EaselError('MODEL_INVALID', `${decoderPath} is empty. Download the tiny decoder again.`);
  const config = (await readJsonObject(join(root, 'vae_decoder', 'config.json'), false)) ?? (await readJsonObject(join(root, 'config.json'), false));
  const className = config?._class_name;
  if (typeof className === 'string' && className !== 'AutoencoderTiny') {
    throw new EaselError('MODEL_INVALID', `${root} holds an ${className}, not a tiny decoder (AutoencoderTiny / TAESD). Point the decoder at a TAESD folder.`);
  }
  const scaling = config?.scaling_factor;
  const scalingFactor = typeof scaling === 'number' && Number.isFinite(scaling) && scaling > 0 ? scaling : 1;
  return { root, name: basename(root), decoderPath, scalingFactor };
}
