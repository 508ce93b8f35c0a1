import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { readImportRecord } from '../engine/checkpoint/importRecord.ts';
import { inspectModelFolder, inspectTinyDecoderFolder, type ComponentName, type ModelFolder } from '../engine/modelFolder.ts';
import { onnxFileProblem, readOnnxInputTypes } from './onnxInputs.ts';
import type { ModelRecommendation } from '../shared/recommendedSettings.ts';
import { readModelRecommendation } from './recommendedSettings.ts';

export type ModelFamily = 'SD 1.x' | 'SD 2.x' | 'SD-Turbo' | 'LCM';

export interface ModelEntry {
  path: string;
  name: string;
  valid: boolean;
  /** Why the folder cannot be used, when it is not valid. */
  reason?: string;
  sizeBytes: number;
  family?: ModelFamily;
  nativeSize?: number;
  prediction?: string;
  weightType?: 'fp32' | 'fp16' | 'unknown';
  hasSafetyChecker?: boolean;
  /** The settings the model recommends (its easel.json, or what its scheduler config implies). */
  recommended?: ModelRecommendation;
  /** Why its easel.json was not used, when it is malformed. */
  recommendedProblem?: string;
}

async function folderSize(path: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(path, { withFileTypes: true }).catch(() => [])) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) total += await folderSize(child);
    else if (entry.isFile()) total += (await stat(child)).size;
  }
  return total;
}

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  try {
    const value: unknown = JSON.parse(await readFile(path, 'utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The first component whose ONNX file or external weights are incomplete, said in a sentence. */
export async function componentFilesProblem(folder: ModelFolder): Promise<string | undefined> {
  for (const [name, component] of Object.entries(folder.components)) {
    const problem = await onnxFileProblem(component, folder.imported?.weightsDirs[name as ComponentName]);
    if (problem) return problem;
  }
  return undefined;
}

async function describe(path: string): Promise<ModelEntry> {
  const name = basename(path);
  const sizeBytes = await folderSize(path);
  try {
    const folder = await inspectModelFolder(path);
    const scheduler = await readJson(join(path, 'scheduler', 'scheduler_config.json'));
    const unetConfig = await readJson(join(path, 'unet', 'config.json'));
    const textConfig = await readJson(join(path, 'text_encoder', 'config.json'));
    const width = unetConfig?.cross_attention_dim ?? textConfig?.hidden_size;
    const tokenizer = await readJson(join(path, 'tokenizer', 'special_tokens_map.json'));
    const padsWithBang = tokenizer?.pad_token === '!' || (tokenizer?.pad_token as { content?: string } | undefined)?.content === '!';
    let family: ModelFamily = width === 1024 || (width !== 768 && (folder.scheduler.prediction_type === 'v_prediction' || padsWithBang)) ? 'SD 2.x' : 'SD 1.x';
    if (folder.imported) family = (await readImportRecord(path))?.family === 'SD 2.x' ? 'SD 2.x' : 'SD 1.x';
    if (scheduler?._class_name === 'LCMScheduler' || /lcm/i.test(name)) family = 'LCM';
    else if (/turbo/i.test(name)) family = 'SD-Turbo';
    const problem = await componentFilesProblem(folder);
    if (problem) return { path, name, valid: false, reason: problem, sizeBytes };
    const inputs = await readOnnxInputTypes(folder.components.unet!);
    const sampleType = inputs?.sample;
    const recommendation = await readModelRecommendation(path).then((recommended) => ({ recommended }), (error: Error) => ({ recommendedProblem: error.message }));
    return {
      ...recommendation,
      path, name, valid: true, sizeBytes, family, nativeSize: folder.nativeSize, prediction: folder.scheduler.prediction_type ?? 'epsilon',
      weightType: sampleType === 'float16' ? 'fp16' : sampleType === 'float32' ? 'fp32' : 'unknown', hasSafetyChecker: folder.components.safety_checker !== undefined,
    };
  } catch (error) {
    return { path, name, valid: false, reason: (error as Error).message, sizeBytes };
  }
}

/**
 * Every model folder in the given places: a folder that is itself a model, or its subfolders that
 * hold model_index.json. Folders whose names start with "." (such as unfinished downloads) are skipped.
 */
export async function listModels(places: string[]): Promise<ModelEntry[]> {
  const candidates = new Set<string>();
  for (const place of places) {
    if (await stat(join(place, 'model_index.json')).catch(() => undefined)) {
      candidates.add(place);
      continue;
    }
    for (const entry of await readdir(place, { withFileTypes: true }).catch(() => [])) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      if (await stat(join(place, entry.name, 'model_index.json')).catch(() => undefined)) candidates.add(join(place, entry.name));
    }
  }
  return Promise.all([...candidates].sort().map(describe));
}

/**
 * The first tiny decoder (TAESD) folder in the given places — a place itself, or one of its subfolders
 * (downloads land there as owner--name) — that is not a full model; undefined when there is none.
 */
export async function findTinyDecoder(places: string[]): Promise<string | undefined> {
  for (const place of places) {
    const entries = await readdir(place, { withFileTypes: true }).catch(() => []);
    const candidates = [place, ...entries.filter((entry) => entry.isDirectory() && !entry.name.startsWith('.')).map((entry) => join(place, entry.name)).sort()];
    for (const candidate of candidates) {
      if (await stat(join(candidate, 'model_index.json')).catch(() => undefined)) continue;
      if (await inspectTinyDecoderFolder(candidate).then(() => true, () => false)) return candidate;
    }
  }
  return undefined;
}
