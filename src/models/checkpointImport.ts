import { copyFile, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { buildFloat16Graphs, buildGraphs, FLOAT16_COMPONENTS, GRAPH_COMPONENTS, openCheckpoint, type CheckpointSource } from '../engine/checkpoint/buildGraphs.ts';
import type { LayerOptions } from '../engine/checkpoint/layers.ts';
import { EaselError } from '../shared/errors.ts';
import { sha256File } from '../engine/modelHash.ts';
import { FLOAT16_GRAPH, IMPORT_RECORD, readImportRecord, type ImportRecord } from '../engine/checkpoint/importRecord.ts';
import { DEFAULT_SCHEDULER_CONFIG } from '../engine/samplers/schedulerConfig.ts';

export interface ImportOptions {
  /** Folder the model folder is created in (the model library). */
  destinationRoot: string;
  /** Model folder name; defaults to the checkpoint's file name without extension. */
  name?: string;
  /** Tokenizer folder (vocab.json, merges.txt) when the checkpoint has none and the library has no model of its family. */
  tokenizerDir?: string;
  attention?: LayerOptions['attention'];
  onStage?: (stage: 'reading' | 'hashing' | 'building' | 'writing', detail?: string) => void;
}

export interface ImportResult {
  folder: string;
  modelHash: string;
  family: string;
  /** True when an earlier import of the same, unchanged file was found and reused. */
  reused: boolean;
  buildMs: number;
  graphBytes: number;
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

/** A tokenizer for the family: the checkpoint folder's own, the one given, or one from a library model of the same family. */
async function findTokenizer(source: CheckpointSource, options: ImportOptions): Promise<string> {
  const candidates: string[] = [];
  if (options.tokenizerDir) candidates.push(options.tokenizerDir);
  if (source.tokenizerDir) candidates.push(source.tokenizerDir);
  if (source.kind === 'single-file') candidates.push(join(dirname(source.path), 'tokenizer'));
  for (const entry of await readdir(options.destinationRoot, { withFileTypes: true }).catch(() => [])) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const dir = join(options.destinationRoot, entry.name);
    const record = await readImportRecord(dir);
    const textConfig = await readFile(join(dir, 'text_encoder', 'config.json'), 'utf8').then((t) => JSON.parse(t) as { hidden_size?: number }, () => undefined);
    const family = record?.family ?? (textConfig?.hidden_size === 1024 ? 'SD 2.x' : textConfig?.hidden_size === 768 ? 'SD 1.x' : undefined);
    if (family === source.config.family) candidates.push(join(dir, 'tokenizer'));
  }
  for (const dir of candidates) {
    if ((await exists(join(dir, 'vocab.json'))) && (await exists(join(dir, 'merges.txt')))) return dir;
  }
  throw new EaselError('TOKENIZER_INVALID', `${basename(source.path)} needs the ${source.config.family === 'SD 2.x' ? 'OpenCLIP' : 'CLIP'} tokenizer, and none was found: download any ${source.config.family} model into ${options.destinationRoot} first (easel models download …), or pass a tokenizer folder (--tokenizer DIR).`);
}

function schedulerConfig(source: CheckpointSource): Record<string, unknown> {
  return { _class_name: 'PNDMScheduler', ...DEFAULT_SCHEDULER_CONFIG, skip_prk_steps: true, prediction_type: source.config.prediction };
}

/**
 * Imports a .safetensors checkpoint or a diffusers safetensors folder into the model library: builds
 * its four ONNX graphs in TypeScript and writes them with the tokenizer and scheduler the family
 * implies. The weights stay where they are: each graph's initializers are ONNX external data pointing
 * into the checkpoint by offset, so nothing is copied, the import takes seconds and a few MB of disk,
 * and the file is never twice in memory (ONNX Runtime reads it directly). The checkpoint must stay
 * where it was; moving it is reported when the model is next loaded.
 */
export async function importCheckpoint(input: string, options: ImportOptions): Promise<ImportResult> {
  const path = resolve(input);
  options.onStage?.('reading', path);
  const source = await openCheckpoint(path);
  const name = options.name ?? basename(path).replace(/\.safetensors$/i, '');
  if (!/^[^/\\]+$/.test(name) || name.startsWith('.')) throw new EaselError('INVALID_REQUEST', `"${name}" cannot be a model folder name.`);
  const folder = join(resolve(options.destinationRoot), name);
  const previous = await readImportRecord(folder);
  let replacing = false;
  if (previous) {
    const same = previous.source === path && await Promise.all(Object.values(previous.weights).map(async (w) => {
      const info = await stat(w.file).catch(() => undefined);
      return info?.size === w.size && info.mtimeMs === w.mtimeMs;
    })).then((all) => all.every(Boolean));
    // An fp16 checkpoint imported before GPU providers got float16 graphs is rebuilt in place.
    const stale = source.float16 && previous.float16Graphs === undefined;
    if (same && !stale) return { folder, modelHash: previous.sha256.slice(0, 10), family: previous.family, reused: true, buildMs: 0, graphBytes: 0 };
    if (same) replacing = true;
  }
  if (!replacing && await exists(folder)) {
    throw new EaselError('INVALID_REQUEST', `${folder} already exists${previous ? ` (imported from ${previous.source})` : ''}. Choose another name (--name) or remove that folder first.`);
  }
  const tokenizerDir = await findTokenizer(source, options);
  options.onStage?.('hashing', source.hashFile);
  const sha256 = await sha256File(source.hashFile);
  options.onStage?.('building');
  const started = performance.now();
  const layerOptions = { attention: options.attention ?? 'fused' } as const;
  const graphs = buildGraphs(source.config, source.weights, layerOptions);
  const float16Graphs = source.float16 ? buildFloat16Graphs(source.config, source.weights, layerOptions) : undefined;
  const buildMs = performance.now() - started;
  options.onStage?.('writing', folder);
  await mkdir(options.destinationRoot, { recursive: true });
  const staging = join(resolve(options.destinationRoot), `.import-${name}-${process.pid}-${Date.now()}`);
  let graphBytes = 0;
  try {
    const weights = {} as ImportRecord['weights'];
    for (const component of GRAPH_COMPONENTS) {
      const graph = graphs[component];
      if (!graph) continue;
      await mkdir(join(staging, component), { recursive: true });
      const { model } = graph.encode();
      graphBytes += model.length;
      await writeFile(join(staging, component, 'model.onnx'), model);
      const file = source.weightFiles[component];
      const info = await stat(file);
      weights[component] = { file, size: info.size, mtimeMs: info.mtimeMs };
    }
    // An fp16 checkpoint also gets float16 text-encoder and UNet graphs, which GPU providers run.
    if (float16Graphs) {
      for (const component of FLOAT16_COMPONENTS) {
        const { model } = float16Graphs[component].encode();
        graphBytes += model.length;
        await writeFile(join(staging, component, FLOAT16_GRAPH), model);
      }
    }
    const { config } = source;
    await writeFile(join(staging, 'unet', 'config.json'), JSON.stringify({ sample_size: config.imageSize / 8, in_channels: config.unet.inChannels, cross_attention_dim: config.unet.contextDim }, null, 2));
    await writeFile(join(staging, 'vae_decoder', 'config.json'), JSON.stringify(config.tinyVae
      ? { _class_name: 'AutoencoderTiny', scaling_factor: config.tinyVae.scaleFactor, latent_channels: config.tinyVae.latentChannels }
      : { scaling_factor: config.vae.scaleFactor, latent_channels: config.vae.zChannels }, null, 2));
    await writeFile(join(staging, 'text_encoder', 'config.json'), JSON.stringify({ hidden_size: config.text.width, num_hidden_layers: config.text.layers }, null, 2));
    await mkdir(join(staging, 'scheduler'));
    const scheduler = source.schedulerConfigPath ? await readFile(source.schedulerConfigPath, 'utf8') : JSON.stringify(schedulerConfig(source), null, 2);
    await writeFile(join(staging, 'scheduler', 'scheduler_config.json'), scheduler);
    await mkdir(join(staging, 'tokenizer'));
    for (const file of await readdir(tokenizerDir)) {
      if (/\.(json|txt)$/.test(file)) await copyFile(join(tokenizerDir, file), join(staging, 'tokenizer', file));
    }
    if (config.family === 'SD 2.x' && !source.tokenizerDir) {
      // SD 2.x pads with "!" (OpenCLIP), SD 1.x with <|endoftext|>; the vocabulary is the same. The
      // tokenizer reads tokenizer_config.json before special_tokens_map.json, so both say it.
      for (const file of ['tokenizer_config.json', 'special_tokens_map.json']) {
        const path = join(staging, 'tokenizer', file);
        const settings = await readFile(path, 'utf8').then((t) => JSON.parse(t) as Record<string, unknown>, () => ({}));
        await writeFile(path, JSON.stringify({ ...settings, pad_token: '!' }, null, 2));
      }
    }
    await writeFile(join(staging, 'model_index.json'), JSON.stringify({
      _class_name: 'OnnxStableDiffusionPipeline', _diffusers_version: '0.30.3', _easel_import: basename(path),
      text_encoder: ['diffusers', 'OnnxRuntimeModel'], unet: ['diffusers', 'OnnxRuntimeModel'], vae_decoder: ['diffusers', 'OnnxRuntimeModel'],
      ...(graphs.vae_encoder ? { vae_encoder: ['diffusers', 'OnnxRuntimeModel'] } : {}), tokenizer: ['transformers', 'CLIPTokenizer'], scheduler: ['diffusers', 'PNDMScheduler'],
    }, null, 2));
    const record: ImportRecord = {
      format: 1, source: path, kind: source.kind, family: config.family, prediction: config.prediction, configSource: config.source, sha256, weights,
      float16Graphs: float16Graphs ? [...FLOAT16_COMPONENTS] : undefined,
    };
    await writeFile(join(staging, IMPORT_RECORD), JSON.stringify(record, null, 2));
    if (replacing) await rm(folder, { recursive: true, force: true });
    await rename(staging, folder);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  return { folder, modelHash: sha256.slice(0, 10), family: source.config.family, reused: false, buildMs, graphBytes };
}

/** True for a path Easel imports rather than opens: a .safetensors checkpoint. */
export function isCheckpointFile(path: string): boolean {
  return /\.(safetensors|ckpt|pt|pth)$/i.test(path);
}

/**
 * Where a model path leads: a model folder as it is, a checkpoint file imported into `modelsDir` on
 * first use (reused afterwards while the file is unchanged).
 */
export async function resolveModelPath(path: string, modelsDir: string, onImport?: (stage: string, detail?: string) => void): Promise<string> {
  if (!isCheckpointFile(path)) return resolve(path);
  const result = await importCheckpoint(path, { destinationRoot: modelsDir, onStage: onImport });
  return result.folder;
}
