import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { EaselError } from '../../shared/errors.ts';

interface WeightsFile { file: string; size: number; mtimeMs: number }

/** The file in an imported model's folder that says where its weights are; its presence marks an import. */
export const IMPORT_RECORD = 'easel-import.json';

/** The float16 graph beside a component's model.onnx, which GPU providers run for an fp16 checkpoint. */
export const FLOAT16_GRAPH = 'model.float16.onnx';

export interface ImportRecord {
  format: 1;
  /** The .safetensors file or diffusers folder imported. */
  source: string;
  kind: 'single-file' | 'diffusers-folder';
  family: string;
  prediction: string;
  configSource: string;
  /** SHA-256 of the checkpoint (a folder: of its UNet weights); the model hash is its first 10 hex digits. */
  sha256: string;
  /** Per component, the weights file its graph reads in place, with the size and time it had at import. */
  weights: Record<'text_encoder' | 'unet' | 'vae_decoder', WeightsFile> & { vae_encoder?: WeightsFile };
  /** The components with a FLOAT16_GRAPH (an fp16 checkpoint's text encoder and UNet); absent = none. */
  float16Graphs?: Array<'text_encoder' | 'unet'>;
}

export async function readImportRecord(folder: string): Promise<ImportRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(join(folder, IMPORT_RECORD), 'utf8')) as ImportRecord;
    return record?.format === 1 ? record : undefined;
  } catch {
    return undefined;
  }
}

/** Checks that every weights file an import reads is still where it was, unchanged in size. */
export async function checkImportRecord(folder: string): Promise<ImportRecord | undefined> {
  const record = await readImportRecord(folder);
  if (!record) return undefined;
  for (const [component, weights] of Object.entries(record.weights)) {
    const info = await stat(weights.file).catch(() => undefined);
    if (!info?.isFile()) {
      throw new EaselError('MODEL_INVALID', `${basename(folder)} was imported from ${record.source}, but ${weights.file} (the ${component} weights) is gone. Put the checkpoint back or import it again.`);
    }
    if (info.size !== weights.size) {
      throw new EaselError('MODEL_INVALID', `${basename(folder)} was imported from ${record.source}, which has changed since (${weights.file} is now ${info.size} bytes, was ${weights.size}). Import it again.`);
    }
  }
  return record;
}

