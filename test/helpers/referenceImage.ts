import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { SamplerName } from '../../src/shared/names.ts';

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

/** Mean RGB of the (2·radius + 1)² pixels around (x, y): for "is the centre red, are the corners blue?". */
export function regionColour(image: { rgb: Uint8Array; width: number }, x: number, y: number, radius = 2): [number, number, number] {
  const sum = [0, 0, 0];
  let count = 0;
  for (let row = y - radius; row <= y + radius; row++) {
    for (let col = x - radius; col <= x + radius; col++, count++) for (let c = 0; c < 3; c++) sum[c] += image.rgb[(row * image.width + col) * 3 + c];
  }
  return sum.map((value) => value / count) as [number, number, number];
}

/**
 * Mean and max |Δ|, both in 8-bit levels: the tolerance's two measures (test/reference/README.md; the
 * reference READMEs quote correct implementations at mean ≤ 0.0003 levels).
 */
export function imageDifference(actual: Uint8Array, expected: Uint8Array): { mean: number; max: number } {
  if (actual.length !== expected.length) throw new Error(`image sizes differ: ${actual.length} vs ${expected.length} bytes`);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    sum += d;
    if (d > max) max = d;
  }
  return { mean: sum / actual.length, max };
}

/** Mean and max |Δ| in 8-bit levels between an RGB image and a reference PNG, which must have its size. */
export async function compareWithPng(rgb: Uint8Array, width: number, height: number, pngPath: string): Promise<{ mean: number; max: number }> {
  const expected = await readRgb(pngPath);
  if (expected.width !== width || expected.height !== height) throw new Error(`${pngPath} is ${expected.width}×${expected.height}, the image ${width}×${height}`);
  return imageDifference(rgb, expected.rgb);
}

/** The text-to-image settings of a reference case (single_file, lora), as cases.json spells them. */
export interface TextToImageCase {
  id: string; prompt: string; negative: string; sampler: SamplerName; schedule: string;
  steps: number; cfg: number; seed: number; width: number; height: number; expected: string;
}

/**
 * A case's settings as Easel's request: Karras when the case says so, and the prompt read literally
 * (A1111's "Emphasis: None"), as diffusers reads brackets.
 */
export function referenceCaseParams(c: TextToImageCase) {
  return {
    prompt: c.prompt, negativePrompt: c.negative, sampler: c.sampler, schedule: c.schedule === 'karras' ? 'Karras' : 'Automatic',
    steps: c.steps, cfgScale: c.cfg, seed: c.seed, width: c.width, height: c.height, emphasis: 'None',
  } as const;
}
