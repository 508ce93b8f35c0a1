import sharp from 'sharp';

/** Mean and max |Δ| in 8-bit levels between an RGB buffer and a reference PNG of the same size. */
export async function compareWithPng(rgb: Uint8Array, width: number, height: number, pngPath: string): Promise<{ mean: number; max: number }> {
  const { data, info } = await sharp(pngPath).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== width || info.height !== height) throw new Error(`${pngPath} is ${info.width}×${info.height}, the image ${width}×${height}`);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < data.length; i++) {
    const d = Math.abs(data[i] - rgb[i]);
    sum += d;
    if (d > max) max = d;
  }
  return { mean: sum / data.length, max };
}
