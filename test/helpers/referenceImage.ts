import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

export const REFERENCE_DIR = join(import.meta.dirname, '..', 'reference');

export interface ReferenceCases<T> {
  tolerance: { mean: number; max: number };
  cases: T[];
}

export function readCases<T>(topic: string): ReferenceCases<T> {
  return JSON.parse(readFileSync(join(REFERENCE_DIR, topic, 'cases.json'), 'utf8')) as ReferenceCases<T>;
}

/** A reference PNG as 8-bit RGB. */
export async function readRgb(path: string): Promise<{ rgb: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

/** Mean |Δ| in [0, 1] units and max |Δ| in 8-bit levels, the tolerance's two measures (test/reference/README.md). */
export function imageDifference(actual: Uint8Array, expected: Uint8Array): { mean: number; max: number } {
  if (actual.length !== expected.length) throw new Error(`image sizes differ: ${actual.length} vs ${expected.length} bytes`);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    sum += d;
    if (d > max) max = d;
  }
  return { mean: sum / actual.length / 255, max };
}
