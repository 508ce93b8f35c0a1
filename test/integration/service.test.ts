import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { GenerationService } from '../../src/service/generationService.ts';
import { basename, join } from 'node:path';
import { modelHash } from '../../src/engine/modelHash.ts';
import { infotextChunkText, readImageMetadata } from '../../src/png/readMetadata.ts';
import { EASEL_VERSION } from '../../src/version.ts';
import { GenerationRuntime } from '../../src/service/generationRuntime.ts';
import type { GenerationRequest, WorkerMessage } from '../../src/service/protocol.ts';
import { LIMITS } from '../../src/shared/generationSettings.ts';
import { fixtureModels } from '../helpers/fixtures.ts';
import { createService, record, settled } from '../helpers/service.ts';

let models: Record<string, string>;
const services: GenerationService[] = [];

before(async () => {
  models = await fixtureModels();
});
after(async () => {
  await Promise.all(services.map((service) => service.dispose()));
});

function service(options = {}): GenerationService {
  const created = createService(options);
  services.push(created);
  return created;
}

const demo = (overrides: Partial<GenerationRequest> = {}): GenerationRequest => ({
  modelDir: models.demo, provider: 'cpu', prompt: 'a red circle on a sky', steps: 8, width: 64, height: 64, seed: '7', ...overrides,
});
const slow = (overrides: Partial<GenerationRequest> = {}): GenerationRequest => ({
  modelDir: models.heavy, provider: 'cpu', prompt: 'a red circle', steps: 30, width: 256, height: 256, seed: '1', sampler: 'Euler', ...overrides,
});

test('events arrive in order with sane values, and the PNG carries its parameters', async () => {
  const generation = service();
  const job = generation.generate(demo({ previewEvery: 2, batchCount: 2 }));
  const events = record(job);
  const result = await job.result;
  const names = events.map(([name]) => name);
  assert.equal(names[0], 'queued');
  assert.equal(names[1], 'started');
  assert.deepEqual(events.filter(([name]) => name === 'loading').map(([, payload]) => (payload as { component: string }).component), ['unet', 'text_encoder', 'vae_decoder']);
  assert.ok(names.indexOf('loaded') < names.indexOf('step'));
  const steps = events.filter(([name]) => name === 'step').map(([, payload]) => payload as { step: number; total: number; imageIndex: number; itPerSec: number; etaMs: number });
  assert.deepEqual(steps.map((s) => `${s.imageIndex}:${s.step}/${s.total}`), [0, 1].flatMap((image) => [1, 2, 3, 4, 5, 6, 7, 8].map((step) => `${image}:${step}/8`)));
  assert.ok(steps.every((s) => s.itPerSec > 0 && s.etaMs >= 0));
  assert.equal(steps.at(-1)!.etaMs, 0);
  assert.deepEqual(names.slice(-1), ['done']);
  assert.equal(result.images.length, 2);
  assert.deepEqual(result.images.map((image) => image.seed), ['7', '8']);
  assert.ok(result.peakRssMb > 50 && result.peakRssMb < 4096, `peak RSS ${result.peakRssMb}`);
  const metadata = readImageMetadata(result.images[1].png);
  assert.equal(metadata.parameters.seed, '8');
  assert.equal(metadata.parameters.batchIndex, 1);
  assert.match(metadata.parameters.modelHash ?? '', /^[0-9a-f]{10}$/);
});

test('each image comes back with the infotext written into its PNG, byte for byte, naming the model that ran and Easel\'s version', async () => {
  const generation = service();
  // Two models one after the other in one service, one prompt in Latin-1 (a tEXt chunk) and one beyond it (iTXt).
  const runs = [
    { modelDir: models.demo, prompt: 'a red circle, on a sky: café', chunkType: 'tEXt' },
    { modelDir: models.heavy, prompt: 'a red circle on a sky 画像', chunkType: 'iTXt', steps: 2, width: 64, height: 64 },
  ];
  for (const { chunkType, ...overrides } of runs) {
    const [image] = (await generation.generate(demo({ negativePrompt: 'blurry', ...overrides })).result).images;
    const metadata = readImageMetadata(image.png);
    const chunk = metadata.chunks.find((entry) => entry.keyword === 'parameters')!;
    assert.equal(chunk.chunkType, chunkType);
    assert.equal(infotextChunkText(metadata), chunk.text);
    assert.deepEqual(Buffer.from(image.parameters, 'utf8'), Buffer.from(chunk.text, 'utf8'), 'the returned text is the chunk\'s');
    const hash = (await modelHash(join(overrides.modelDir, 'unet', 'model.onnx'))).slice(0, 10);
    assert.ok(image.parameters.startsWith(`${overrides.prompt}\nNegative prompt: blurry\n`));
    assert.ok(image.parameters.includes(`, Model hash: ${hash}, Model: ${basename(overrides.modelDir)},`), image.parameters);
    assert.ok(image.parameters.endsWith(`, Version: Easel ${EASEL_VERSION}`), image.parameters);
  }
});

test('a random seed is chosen by the host before the job starts: the request the worker runs and every image carry it', async () => {
  const job = service().generate(demo({ seed: undefined, batchCount: 2, steps: 2 }));
  assert.match(job.request.seed, /^\d+$/);
  const result = await job.result;
  const first = BigInt(job.request.seed);
  assert.deepEqual(result.images.map((image) => readImageMetadata(image.png).parameters.seed), [first.toString(), (first + 1n).toString()]);
});

test('previews are small RGBA frames, throttled', async () => {
  const job = service().generate(demo({ previewEvery: 1, steps: 20 }));
  const previews: Array<{ width: number; height: number; rgba: Uint8Array }> = [];
  job.on('preview', (preview) => previews.push(preview));
  await job.result;
  assert.ok(previews.length >= 1 && previews.length <= 3, `${previews.length} previews for a job well under a second`);
  assert.equal(previews[0].rgba.length, 8 * 8 * 4);
});

test('back-to-back jobs with the same model reuse the sessions', async () => {
  const generation = service();
  const first = record(generation.generate(demo()));
  const second = generation.generate(demo({ seed: '8' }));
  const secondEvents = record(second);
  await second.result;
  assert.ok(first.some(([name]) => name === 'loading'));
  assert.equal(secondEvents.some(([name]) => name === 'loading' || name === 'loaded'), false);
});

test('three queued jobs complete in order and report their queue positions', async () => {
  const generation = service();
  const jobs = [1, 2, 3].map((seed) => generation.generate(demo({ seed: String(seed) })));
  const positions = jobs.map((job) => {
    const seen: number[] = [];
    job.on('queued', ({ position }) => seen.push(position));
    return seen;
  });
  const finished: string[] = [];
  for (const job of jobs) job.on('done', () => finished.push(job.id));
  await Promise.all(jobs.map((job) => job.result));
  assert.deepEqual(finished, jobs.map((job) => job.id));
  assert.equal(positions[2][0], 2, 'third job waits behind two');
  assert.ok(positions[2].includes(1));
});

test('cancel during a step stops at the next step boundary; nothing is produced', async () => {
  const generation = service();
  const job = generation.generate(slow());
  const events = record(job);
  let stepAtCancel = 0;
  job.on('step', ({ step }) => {
    if (step === 3) {
      stepAtCancel = step;
      job.cancel();
    }
  });
  assert.equal(await settled(job), 'cancelled');
  // The step running when the cancel arrives finishes; one more step report may already be in flight
  // between the threads when the host calls cancel.
  const steps = events.filter(([name]) => name === 'step').length;
  assert.ok(steps <= stepAtCancel + 2, `ran ${steps} steps after cancelling at ${stepAtCancel}`);
  assert.ok(steps < 30);
  assert.equal(events.some(([name]) => name === 'image'), false);
  const next = await generation.generate(demo()).result;
  assert.equal(next.images.length, 1);
});

test('a queued job can be cancelled before it starts', async () => {
  const generation = service();
  const running = generation.generate(slow({ steps: 6 }));
  const queued = generation.generate(demo());
  const events = record(queued);
  assert.equal(queued.cancel(), true);
  assert.equal(await settled(queued), 'cancelled');
  assert.equal(events.some(([name]) => name === 'started'), false);
  assert.equal(await settled(running), 'done');
});

for (const mode of ['exit', 'throw'] as const) {
  test(`a worker that dies mid-job (${mode}) fails that job; queued jobs run on a new worker`, async () => {
    const generation = service();
    const doomed = generation.generate(slow());
    const queued = generation.generate(demo());
    doomed.once('step', () => generation.crashWorker(mode));
    await assert.rejects(doomed.result, (error: Error & { code?: string }) => error.code === 'WORKER_CRASHED' && /nothing was written/i.test(error.message));
    assert.equal(doomed.images.length, 0);
    const result = await queued.result;
    assert.equal(result.images.length, 1);
  });
}

test('a job whose model fails to load does not poison the queue', async () => {
  const generation = service();
  const broken = generation.generate(demo({ modelDir: '/nonexistent/model' }));
  const good = generation.generate(demo());
  await assert.rejects(broken.result, (error: Error & { code?: string }) => error.code === 'MODEL_NOT_FOUND');
  assert.equal((await good.result).images.length, 1);
});

test('invalid generation settings are refused before they reach the worker, with INVALID_REQUEST', { timeout: 60_000 }, async () => {
  const job = service().generate(demo({ width: 100 }));
  await assert.rejects(job.result, (error: Error & { code?: string }) => error.code === 'INVALID_REQUEST' && /multiple of 8/.test(error.message));
});

test('a prompt over the length limit ends its job with INVALID_REQUEST at once, and the queue moves on', { timeout: 60_000 }, async () => {
  const generation = service();
  const long = generation.generate(demo({ prompt: 'x'.repeat(LIMITS.promptLength.max + 1) }));
  const good = generation.generate(demo());
  await assert.rejects(long.result, (error: Error & { code?: string }) => error.code === 'INVALID_REQUEST' && /10001 characters long; the limit is 10000/.test(error.message));
  assert.equal(long.state, 'failed');
  assert.equal((await good.result).images.length, 1);
});

test('a generate message the worker rejects ends the job it names, with the reason', () => {
  const posted: WorkerMessage[] = [];
  const runtime = new GenerationRuntime((message) => posted.push(message));
  runtime.handle({ type: 'generate', jobId: 'job7', request: { modelDir: models.demo, provider: 'cpu', prompt: 'x'.repeat(LIMITS.promptLength.max + 1) } });
  runtime.handle({ type: 'generate', jobId: 'job 8; rm', request: {} });
  // The host chooses every seed before the job starts; a request that reaches the worker without one is refused.
  runtime.handle({ type: 'generate', jobId: 'job9', request: { modelDir: models.demo, provider: 'cpu', prompt: 'p' } });
  assert.deepEqual(posted.map((message) => [message.type, 'jobId' in message ? message.jobId : undefined]), [['error', 'job7'], ['error', undefined], ['error', 'job9']]);
  assert.match((posted[0] as { message: string }).message, /Rejected malformed host "generate" message\. The prompt is 10001 characters long; the limit is 10000\./);
  assert.match((posted[2] as { message: string }).message, /The generation request has no seed; the host chooses it before the job starts\./);
});

test('a malformed message to the worker is rejected, never acted on', async () => {
  const generation = service();
  const rejections: string[] = [];
  generation.onProtocolError((message) => rejections.push(message));
  generation.sendRaw({ type: 'generate', jobId: 'x', request: { modelDir: models.demo, provider: 'cpu', prompt: 'p', steps: -1 } });
  generation.sendRaw({ type: 'format-disk' });
  generation.sendRaw({ type: 'crash', mode: 'exit', extra: true });
  const job = generation.generate(demo());
  await job.result;
  assert.deepEqual(rejections.map((message) => message.replace(/ message.*/, '')), ['Rejected malformed host "generate"', 'Rejected host', 'Rejected malformed host "crash"']);
});

test('the worker gets none of the host\'s arguments or Node options, and ONNX Runtime\'s telemetry is off in the process before it starts', async () => {
  // A worker that reports what it was started with, as an error the host accepts.
  const reporter = `
    const { parentPort } = require('node:worker_threads');
    parentPort.on('message', (message) => {
      if (message.type !== 'generate') return;
      const seen = { argv: process.argv.slice(2), execArgv: process.execArgv, telemetry: process.env.ORT_DISABLE_TELEMETRY };
      parentPort.postMessage({ type: 'error', jobId: message.jobId, code: 'INFERENCE_FAILED', message: JSON.stringify(seen) });
    });`;
  const path = `${models.demo}/../reporting-worker.cjs`;
  (await import('node:fs')).writeFileSync(path, reporter);
  const longArgument = `--prompt=${'x'.repeat(20_000)}`;
  const { argv, execArgv } = process;
  const telemetry = process.env.ORT_DISABLE_TELEMETRY;
  delete process.env.ORT_DISABLE_TELEMETRY;
  // As the CLI's process looks: its own long argument, and Node options of its own.
  process.argv = [...argv, longArgument];
  Object.defineProperty(process, 'execArgv', { value: [...execArgv, '--enable-source-maps', '--title=easel-host'], configurable: true, writable: true });
  try {
    const generation = new GenerationService({ workerPath: path });
    services.push(generation);
    const error = await generation.generate(demo()).result.then(() => undefined, (failure: Error) => failure);
    const seen = JSON.parse(error!.message) as { argv: string[]; execArgv: string[]; telemetry?: string };
    assert.deepEqual(seen.argv, []);
    assert.deepEqual(seen.execArgv, ['--enable-source-maps']);
    assert.equal(seen.telemetry, '1');
    assert.equal(process.env.ORT_DISABLE_TELEMETRY, '1', 'set in the process, where ONNX Runtime\'s getenv reads it');
  } finally {
    process.argv = argv;
    Object.defineProperty(process, 'execArgv', { value: execArgv, configurable: true, writable: true });
    if (telemetry === undefined) delete process.env.ORT_DISABLE_TELEMETRY;
    else process.env.ORT_DISABLE_TELEMETRY = telemetry;
  }
});

test('a malformed message from the worker is rejected, never acted on', async () => {
  const rogue = `
    const { parentPort } = require('node:worker_threads');
    parentPort.on('message', (message) => {
      if (message.type !== 'generate') return;
      const jobId = message.jobId;
      parentPort.postMessage({ type: 'step', jobId, imageIndex: 0, step: 'one', total: 1, timestep: 1, elapsedMs: 1, itPerSec: 1, etaMs: 0 });
      parentPort.postMessage({ type: 'image', jobId, index: 0, seed: '1', width: 8, height: 8, png: 'not bytes', timing: {} });
      parentPort.postMessage({ type: 'done', jobId, totalMs: 1, peakRssMb: 1, images: 0 });
    });`;
  const path = `${models.demo}/../rogue-worker.cjs`;
  (await import('node:fs')).writeFileSync(path, rogue);
  const generation = new GenerationService({ workerPath: path });
  services.push(generation);
  const rejections: string[] = [];
  generation.onProtocolError((message) => rejections.push(message));
  const job = generation.generate(demo());
  const events = record(job);
  const result = await job.result;
  assert.deepEqual(rejections, ['Rejected malformed worker "step" message.', 'Rejected malformed worker "image" message.']);
  assert.equal(events.some(([name]) => name === 'step' || name === 'image'), false);
  assert.equal(result.images.length, 0);
});

test('sessions are released after the configured idle time, and loaded again for the next job', async () => {
  const generation = service({ idleReleaseMs: 50 });
  await generation.generate(demo()).result;
  await new Promise((wait) => setTimeout(wait, 300));
  const again = generation.generate(demo({ seed: '9' }));
  const events = record(again);
  await again.result;
  assert.ok(events.some(([name]) => name === 'loading'), 'the model was loaded again after being released');
});

test('a different model releases the first and loads the second', async () => {
  const generation = service();
  await generation.generate(demo()).result;
  const other = generation.generate(demo({ modelDir: models['v-prediction'] }));
  const events = record(other);
  await other.result;
  assert.ok(events.some(([name]) => name === 'loading'));
});
