import sharp from 'sharp';

export interface ImageDifference {
  /** Mean |Δ| over every channel value, in 8-bit levels. */
  mean: number;
  /** Largest |Δ| of any channel value, in 8-bit levels. */
  max: number;
}

/** Decodes a PNG to 8-bit RGB. */
export async function readRgb(path: string): Promise<{ width: number; height: number; rgb: Uint8Array }> {
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, rgb: new Uint8Array(data) };
}

export function imageDifference(actual: Uint8Array, expected: Uint8Array): ImageDifference {
  if (actual.length !== expected.length) throw new Error(`Image sizes differ: ${actual.length} vs ${expected.length} values.`);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < actual.length; i++) {
    const delta = Math.abs(actual[i] - expected[i]);
    sum += delta;
    if (delta > max) max = delta;
  }
  return { mean: sum / actual.length, max };
}
