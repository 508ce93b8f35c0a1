import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readImageMetadata, readImageMetadataFile } from '../src/png/readMetadata.ts';
import { hostileCorpus, writeHugeTextChunkPng } from '../test/helpers/hostilePngs.ts';
import { plainPng } from '../test/helpers/pngSamples.ts';
import { encodePng } from '../src/png/writeMetadata.ts';
import { median, round, type Figures } from './engineBench.ts';

/**
 * PNG figures: encoding 512×512 with every chunk, reading a 512×512 file's metadata, and the worst
 * read over the hostile corpus (quadratic-regex line, deep JSON, zTXt bomb, text at the limits, and
 * a file with a 200 MB text chunk), each file's time being the median of 5 reads.
 */
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
  const hostile = await hostileReadTimes();
  const worst = hostile.reduce((a, b) => (b.ms > a.ms ? b : a));
  return {
    pngEncode512WithChunksMs: round(median(encodeTimes)),
    pngReadMetadata512Ms: round(median(readTimes)),
    pngFileBytes512: file.length,
    pngReadMetadataHostileWorstMs: round(worst.ms),
    pngReadMetadataHostileWorstFile: worst.name,
    pngReadMetadataHostileFiles: hostile.length,
  };
}

async function hostileReadTimes(): Promise<Array<{ name: string; ms: number }>> {
  const png = await plainPng();
  const times: Array<{ name: string; ms: number }> = [];
  const timeOf = async (read: () => unknown) => {
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await read();
      runs.push(performance.now() - started);
    }
    return median(runs);
  };
  for (const { name, bytes } of hostileCorpus(png)) times.push({ name, ms: await timeOf(() => readImageMetadata(bytes)) });
  const folder = await mkdtemp(join(tmpdir(), 'easel-bench-'));
  try {
    const path = join(folder, 'huge.png');
    await writeHugeTextChunkPng(path, png, 200_000_000);
    times.push({ name: 'file with a 200 MB tEXt chunk', ms: await timeOf(() => readImageMetadataFile(path)) });
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
  return times;
}
