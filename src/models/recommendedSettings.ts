/**
 * The one rule for a model folder's recommended settings: its `easel.json` when it has one (written
 * at download for curated models and by the demo fixture generator), otherwise what its scheduler
 * config implies (LCMScheduler: the LCM sampler in about 4 steps; `trailing` spacing in an
 * SD-Turbo/SDXS-like model: 1–4 steps without guidance), otherwise nothing. No `vscode`: the panel's
 * host, the model library and the CLI all ask here.
 */
import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CONFIG_FILE_LIMIT, parseConfigJson, readBoundedText } from '../engine/configFiles.ts';
import { EaselError } from '../shared/errors.ts';
import {
  isModelSettingsFile, MODEL_SETTINGS_FILE, MODEL_SETTINGS_MAX_BYTES, type ModelRecommendation, type RecommendedSettings,
} from '../shared/recommendedSettings.ts';
import { readOnnxInputTypes } from './onnxInputs.ts';

/** Few-step distilled models that ship with `trailing` spacing and want no guidance (SD-Turbo, SDXS). */
export const FEW_STEP_MODEL_NAME = /turbo|sdxs/i;

/** An LCM: 4 steps; CFG 8 through the guidance embedding when the UNet has one (timestep_cond), else guidance off. */
export function lcmRecommended(guidanceEmbedding: boolean): RecommendedSettings {
  return { sampler: 'LCM', schedule: 'Automatic', steps: 4, cfgScale: guidanceEmbedding ? 8 : 1 };
}

/** SD-Turbo / SDXS: Euler, 2 steps, guidance off (CFG 1). */
export const FEW_STEP_RECOMMENDED: RecommendedSettings = { sampler: 'Euler', schedule: 'Automatic', steps: 2, cfgScale: 1 };

/** What a scheduler config (and the folder's name, for few-step models) implies; pure. */
export function inferRecommendation(scheduler: Record<string, unknown> | undefined, hints: { name: string; guidanceEmbedding: boolean }): ModelRecommendation | undefined {
  if (scheduler?._class_name === 'LCMScheduler') {
    return { settings: lcmRecommended(hints.guidanceEmbedding), source: `scheduler config: LCMScheduler${hints.guidanceEmbedding ? ' with a guidance embedding' : ''}` };
  }
  if (scheduler?.timestep_spacing === 'trailing' && FEW_STEP_MODEL_NAME.test(hints.name)) {
    return { settings: FEW_STEP_RECOMMENDED, source: 'scheduler config: trailing timesteps of a few-step model' };
  }
  return undefined;
}

/** Parses easel.json's text; a file that is not ours, or out of range, is refused naming the file. */
export function parseModelSettingsFile(text: string, path: string): ModelRecommendation {
  const value = parseConfigJson(text);
  if (!isModelSettingsFile(value)) {
    throw new EaselError('MODEL_INVALID', `${path} is not a valid ${MODEL_SETTINGS_FILE}: it must be {"recommended": {…}} with sampler, schedule, steps, cfgScale, width and height in range (each optional). Fix or delete it.`);
  }
  return { settings: value.recommended, source: value.source ? `${MODEL_SETTINGS_FILE}, from ${value.source}` : MODEL_SETTINGS_FILE };
}

/**
 * The model folder's recommended settings, or undefined when it implies none. Throws MODEL_INVALID
 * for an easel.json that is too large or malformed (so it is fixed, not silently ignored).
 */
export async function readModelRecommendation(modelDir: string): Promise<ModelRecommendation | undefined> {
  const path = join(modelDir, MODEL_SETTINGS_FILE);
  const text = await readBoundedText(path, MODEL_SETTINGS_MAX_BYTES, 'MODEL_INVALID', false);
  if (text !== undefined) return parseModelSettingsFile(text, path);
  const schedulerText = await readBoundedText(join(modelDir, 'scheduler', 'scheduler_config.json'), CONFIG_FILE_LIMIT, 'MODEL_INVALID', false).catch(() => undefined);
  const scheduler = schedulerText === undefined ? undefined : parseConfigJson(schedulerText);
  const guidanceEmbedding = scheduler?._class_name === 'LCMScheduler'
    && (await readOnnxInputTypes(join(modelDir, 'unet', 'model.onnx')).catch(() => undefined))?.timestep_cond !== undefined;
  return inferRecommendation(scheduler, { name: basename(modelDir), guidanceEmbedding });
}

/** Writes a model folder's easel.json (downloads of curated models, the demo fixture). */
export async function writeModelSettingsFile(modelDir: string, settings: RecommendedSettings, source: string): Promise<void> {
  const file = { recommended: settings, source };
  if (!isModelSettingsFile(file)) throw new EaselError('INVALID_REQUEST', `Recommended settings for ${modelDir} are out of range: ${JSON.stringify(settings)}.`);
  await writeFile(join(modelDir, MODEL_SETTINGS_FILE), `${JSON.stringify(file, null, 2)}\n`);
}
