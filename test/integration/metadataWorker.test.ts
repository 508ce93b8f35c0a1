/**
 * Regenerate from PNG Metadata and Edit Image read a file's metadata in a worker thread (dist/metadataWorker.js),
 * never on the extension host's thread, and give up after a time limit instead of blocking.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readImageMetadataInWorker } from '../../src/png/metadataInWorker.ts';
import { readImageMetadataFile } from '../../src/png/readMetadata.ts';
import { encodePng } from '../../src/png/writeMetadata.ts';
import { hostileCorpus } from '../helpers/hostilePngs.ts';
import { COMFY_DEFAULT_GRAPH, FOOOCUS_PARAMETERS, INVOKEAI_METADATA, NOVELAI_COMMENT, iTXt, plainPng, tEXt, withChunks } from '../helpers/pngSamples.ts';
import { temporaryFolder } from '../helpers/fixtures.ts';

const DIST = resolve(import.meta.dirname, '..', '..', 'dist');
const METADATA_WORKER = join(DIST, 'metadataWorker.js');
let samples: Array<{ name: string; path: string }>;

before(async () => {
  assert.ok(existsSync(METADATA_WORKER), 'dist/metadataWorker.js is built (npm run build)');
  const png = await plainPng();
  const ours = await encodePng(new Uint8Array(16 * 16 * 3), 16, 16, {
    prompt: 'a café at night — 夜のカフェ', negativePrompt: 'blurry', steps: 25, sampler: 'DPM++ 2M', schedule: 'Karras', cfgScale: 6.5,
    seed: '18446744073709551615', width: 16, height: 16, rng: 'cpu', batchIndex: 2, modelName: 'sd-v1-5-onnx', modelHash: '0123456789', provider: 'cpu', appVersion: '0.1.0',
  });
  const files = [
    { name: 'easel', bytes: ours },
    { name: 'no metadata', bytes: png },
    { name: 'a1111', bytes: withChunks(png, [tEXt('parameters', 'a lighthouse\nNegative prompt: fog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x512, Hires upscale: 2')]) },
    { name: 'comfyui', bytes: withChunks(png, [iTXt('prompt', JSON.stringify(COMFY_DEFAULT_GRAPH))]) },
    { name: 'invokeai', bytes: withChunks(png, [iTXt('invokeai_metadata', JSON.stringify(INVOKEAI_METADATA))]) },
    { name: 'novelai', bytes: withChunks(png, [tEXt('Comment', JSON.stringify(NOVELAI_COMMENT)), tEXt('Description', 'a girl')]) },
    { name: 'fooocus', bytes: withChunks(png, [tEXt('fooocus_scheme', 'fooocus'), tEXt('parameters', JSON.stringify(FOOOCUS_PARAMETERS))]) },
    { name: 'not a PNG', bytes: new TextEncoder().encode('GIF89a, not a PNG') },
    ...hostileCorpus(png),
  ];
  const folder = temporaryFolder();
  samples = files.map(({ name, bytes }, index) => {
    const path = join(folder, `sample-${index}.png`);
    writeFileSync(path, bytes);
    return { name, path };
  });
});

const outcome = (read: Promise<unknown>) => read.then((value) => ({ value }), (error: Error & { code?: string }) => ({ error: { code: error.code, message: error.message } }));

test('the worker reader gives what the direct reader gives, metadata or error, for our own, other tools\' and hostile PNGs', async () => {
  for (const { name, path } of samples) {
    assert.deepEqual(await outcome(readImageMetadataInWorker(path, METADATA_WORKER)), await outcome(readImageMetadataFile(path)), name);
  }
});

test('a read that never ends is stopped at the time limit with a clear error, and the host thread stays free meanwhile', { timeout: 10_000 }, async () => {
  // A reader stuck in a loop, as a parser gone quadratic on a hostile file would be.
  const stuck = join(temporaryFolder(), 'stuck-reader.cjs');
  writeFileSync(stuck, 'for (;;) {}\n');
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 20);
  const started = performance.now();
  try {
    await assert.rejects(readImageMetadataInWorker(samples[0].path, stuck, 500), (error: Error & { code?: string }) =>
      error.code === 'PNG_INVALID' && error.message === `${samples[0].path}: reading its metadata took too long (over 0.5 s); it was stopped and nothing was read.`);
  } finally {
    clearInterval(ticker);
  }
  const ms = performance.now() - started;
  assert.ok(ms < 3000, `ended after ${ms.toFixed(0)} ms`);
  assert.ok(ticks >= 5, `the host's event loop ran meanwhile (${ticks} ticks of 20 ms)`);
});

test('a reader that answers out of protocol, or dies, is an error, never taken as metadata', async () => {
  const folder = temporaryFolder();
  const rogue = join(folder, 'rogue-reader.cjs');
  writeFileSync(rogue, `require('node:worker_threads').parentPort.postMessage({ type: 'metadata', metadata: { source: 'easel', parameters: {}, unmapped: [], problems: [], chunks: [], extra: 1 } });\n`);
  await assert.rejects(readImageMetadataInWorker(samples[0].path, rogue), /Rejected malformed metadata reader "metadata" message/);
  const dies = join(folder, 'dying-reader.cjs');
  writeFileSync(dies, 'process.exit(3);\n');
  await assert.rejects(readImageMetadataInWorker(samples[0].path, dies), (error: Error & { code?: string }) => error.code === 'WORKER_CRASHED' && /exit code 3/.test(error.message));
});

test('a named pipe is refused at once instead of blocking one of Node\'s I/O threads until someone writes to it', { timeout: 5_000 }, async () => {
  const fifo = join(temporaryFolder(), 'pipe.png');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  await assert.rejects(readImageMetadataFile(fifo), /pipe\.png: it is not a regular file \(a pipe or a device\), so it is not read\./);
});

test('the extension host\'s bundle holds none of the metadata parsers: they can only run in the worker', () => {
  const extension = readFileSync(join(DIST, 'extension.js'), 'utf8');
  for (const name of ['parseInfotext', 'readComfyGraph', 'readEaselChunk', 'decodeTextChunks', 'readImageMetadataFile']) {
    assert.equal(extension.includes(`function ${name}(`), false, `${name} is in dist/extension.js`);
  }
  assert.ok(readFileSync(METADATA_WORKER, 'utf8').includes('function parseInfotext('), 'the metadata worker holds the parsers');
});
