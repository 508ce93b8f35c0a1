import { readImageMetadata } from '../src/png/readMetadata.ts';
import { encodePng } from '../src/png/writeMetadata.ts';
import { median, round, type Figures } from './engineBench.ts';

/** PNG figures: encoding 512×512 with every chunk, and reading a 512×512 file's metadata. */
export async function pngBench(): Promise<Figures> {
  const rgb = new Uint8Array(512 * 512 * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 2654435761) >>> 24;
  const record = {
    prompt: 'a lighthouse on a cliff at dusk, dramatic clouds, oil painting', negativePrompt: 'blurry, lowres', steps: 20, sampler: 'Euler a' as const,
    schedule: 'Automatic' as const, cfgScale: 7, seed: '1234', width: 512, height: 512, rng: 'cpu' as const, batchIndex: 0, modelName: 'sd-v1-5', appVersion: '0.1.0',
  };
  const encodeTimes: number[] = [];
  let file: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < 12; i++) {
    const started = performance.now();
    file = await encodePng(rgb, 512, 512, record);
    if (i >= 2) encodeTimes.push(performance.now() - started);
  }
  const readTimes: number[] = [];
  for (let i = 0; i < 220; i++) {
    const started = performance.now();
    readImageMetadata(file);
    if (i >= 20) readTimes.push(performance.now() - started);
  }
  return {
    pngEncode512WithChunksMs: round(median(encodeTimes)),
    pngReadMetadata512Ms: round(median(readTimes)),
    pngFileBytes512: file.length,
  };
}
