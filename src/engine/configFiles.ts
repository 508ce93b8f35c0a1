import { open } from 'node:fs/promises';
import { EaselError, type EaselErrorCode } from '../shared/errors.ts';

/** A diffusers/Optimum JSON config is a few KB; anything near this is not one (and would cost memory to parse). */
export const CONFIG_FILE_LIMIT = 1024 * 1024;
/** CLIP's vocab.json is about 1 MB and merges.txt 0.5 MB; the limit leaves room for larger vocabularies. */
export const TOKENIZER_FILE_LIMIT = 16 * 1024 * 1024;

function megabytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0)} MB`;
}

/**
 * Reads a model folder's small text file, refusing it by its size before reading (a huge or hostile
 * vocab.json or model_index.json would otherwise take gigabytes and minutes). A missing optional file
 * gives undefined.
 */
export async function readBoundedText(path: string, limit: number, code: EaselErrorCode, required: boolean): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new EaselError(code, `Cannot read ${path}: ${(error as Error).message}.`, { cause: error });
  }
  try {
    const { size } = await handle.stat();
    if (size > limit) {
      throw new EaselError(code, `${path} is ${megabytes(size)}, more than the ${megabytes(limit)} such a file can be; the model folder is damaged or not a Stable Diffusion model. Download or export it again.`);
    }
    return await handle.readFile('utf8');
  } catch (error) {
    if (error instanceof EaselError) throw error;
    throw new EaselError(code, `Cannot read ${path}: ${(error as Error).message}.`, { cause: error });
  } finally {
    await handle.close();
  }
}

/** Python's json writes these bare words for float('nan') and ±float('inf') (diffusers' lambda_min_clipped: -Infinity). */
const PYTHON_LITERALS = /"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g;

/**
 * Parses a config written by Python's json module: standard JSON, plus NaN, Infinity and -Infinity
 * outside strings, which become the strings "nan", "inf" and "-inf" (the spelling diffusers accepts).
 * Returns undefined unless the text holds a JSON object.
 */
export function parseConfigJson(text: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    try {
      value = JSON.parse(text.replace(PYTHON_LITERALS, (token) => (token.startsWith('"') ? token : JSON.stringify(token === 'NaN' ? 'nan' : token.startsWith('-') ? '-inf' : 'inf'))));
    } catch {
      return undefined;
    }
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined;
}
