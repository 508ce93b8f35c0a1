/** The model-hash cache written by the host and worker threads at once (issue 11, item 17). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { modelHash } from '../../src/engine/modelHash.ts';
import { temporaryFolder } from '../helpers/fixtures.ts';

const WORKER = resolve(import.meta.dirname, '..', 'helpers', 'modelHashWorker.ts');

test('the main thread and a worker thread (one process id) writing the hash cache at once all succeed', async () => {
  const folder = temporaryFolder('easel-hash-');
  const cache = join(folder, 'cache', 'model-hashes.json');
  const unets = Array.from({ length: 24 }, (_, i) => {
    mkdirSync(join(folder, `m${i}`));
    writeFileSync(join(folder, `m${i}`, 'model.onnx'), `unet ${i}`);
    return join(folder, `m${i}`, 'model.onnx');
  });
  // The worker hashes half the UNets while this thread hashes the other half; every call writes the cache.
  const worker = new Worker(`require('tsx/cjs/api').register(); require(${JSON.stringify(WORKER)});`, { eval: true, workerData: { unets: unets.slice(12), cache } });
  const fromWorker = new Promise<string[]>((done, fail) => worker.once('message', done).once('error', fail));
  const here = await Promise.allSettled(unets.slice(0, 12).map((unet) => modelHash(unet, cache)));
  const there = await fromWorker;
  await worker.terminate();
  const expected = unets.map((_, i) => createHash('sha256').update(`unet ${i}`).digest('hex').slice(0, 10));
  assert.deepEqual([...here.map((result) => (result.status === 'fulfilled' ? result.value : `error: ${(result.reason as Error).message}`)), ...there], expected);
  assert.doesNotThrow(() => JSON.parse(readFileSync(cache, 'utf8')), 'the cache is whole JSON');
  assert.deepEqual(readdirSync(dirname(cache)), ['model-hashes.json'], 'no temporary file left');
});
