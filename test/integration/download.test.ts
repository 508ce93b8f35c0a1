import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { downloadModel, DOWNLOADS_FOLDER, modelFolderName } from '../../src/models/download.ts';
import { listModels } from '../../src/models/library.ts';
import { inspectModelFolder } from '../../src/engine/modelFolder.ts';
import { loadModel } from '../../src/engine/modelSessions.ts';
import { generate } from '../../src/engine/pipeline.ts';
import { validateParams } from '../../src/engine/generationParams.ts';
import { isEaselError } from '../../src/shared/errors.ts';
import { FakeHub } from '../helpers/fakeHub.ts';
import { CURATED_MODELS } from '../../src/models/curated.ts';
import { readModelRecommendation } from '../../src/models/recommendedSettings.ts';
import { fixtureModels, temporaryFolder } from '../helpers/fixtures.ts';

const REPO = 'easel-test/tiny-sd-onnx';
let hub: FakeHub;
let root: string;

before(async () => {
  hub = new FakeHub(REPO, (await fixtureModels()).demo);
  await hub.start();
});
after(async () => {
  await hub.stop();
});
beforeEach(() => {
  root = temporaryFolder('easel-models-');
  hub.reset();
});

const options = (extra = {}) => ({ repo: REPO, destinationRoot: root, endpoint: hub.url, freeSpace: async () => 1e12, ...extra });

test('a download fetches only what the pipeline needs, verifies it, and the model loads and runs', async () => {
  const progress: number[] = [];
  let license: string | undefined;
  const folder = await downloadModel(options({ onProgress: (p: { bytesDone: number }) => progress.push(p.bytesDone), confirmLicense: async (l: string | undefined) => ((license = l), true) }));
  assert.equal(folder, join(root, modelFolderName(REPO, 'main')));
  assert.equal(license, 'creativeml-openrail-m');
  assert.equal(hub.servedBytes.has('README.md'), false);
  assert.equal(hub.servedBytes.has('unet/diffusion_pytorch_model.safetensors'), false);
  assert.equal([...hub.servedBytes.values()].reduce((a, b) => a + b, 0), hub.totalNeededBytes);
  assert.equal(progress.at(-1), hub.totalNeededBytes);
  assert.deepEqual(readdirSync(join(root, DOWNLOADS_FOLDER)), [], 'staging folder moved into place');
  assert.equal(existsSync(join(folder, 'easel.json')), false, "a repository's own easel.json is not fetched, and a model that is not curated gets none");
  const model = await loadModel(await inspectModelFolder(folder), 'cpu');
  const [image] = await generate(model, validateParams({ prompt: 'red circle', width: 64, height: 64, steps: 2 }, model));
  assert.equal(image.rgb.length, 64 * 64 * 3);
  await model.release();
});

test('an interrupted transfer resumes with Range, without fetching again what it had', async () => {
  const path = 'unet/weights.pb';
  const size = (await import('node:fs')).statSync(join((await fixtureModels()).demo, path)).size;
  const dropped = Math.floor(size / 3);
  hub.dropAfter.set(path, dropped);
  await downloadModel(options());
  assert.ok(hub.rangeRequests.includes(`${path}@${dropped}`), `resumed at byte ${dropped}: ${hub.rangeRequests.join(', ')}`);
  assert.equal(hub.servedBytes.get(path), size, 'each byte of the file was sent once');
});

test('cancel leaves a resumable state, never a listed model; the next run resumes', async () => {
  const controller = new AbortController();
  await assert.rejects(
    downloadModel(options({ signal: controller.signal, onProgress: (p: { file: string }) => p.file === 'unet/weights.pb' && controller.abort() })),
    (error) => isEaselError(error, 'CANCELLED') && /resume/.test(error.message),
  );
  const staged = join(root, DOWNLOADS_FOLDER, modelFolderName(REPO, 'main'));
  assert.ok(existsSync(staged));
  assert.equal(existsSync(join(root, modelFolderName(REPO, 'main'))), false);
  assert.deepEqual((await listModels([root])).filter((entry) => entry.valid), [], 'no half-downloaded folder is usable');
  const before = new Map(hub.servedBytes);
  await downloadModel(options());
  assert.equal(hub.servedBytes.get('model_index.json'), before.get('model_index.json'), 'finished files are not fetched again');
  assert.equal((await listModels([root])).filter((entry) => entry.valid).length, 1);
});

test('a wrong checksum is rejected and the file removed', async () => {
  hub.corrupt.add('text_encoder/weights.pb');
  await assert.rejects(downloadModel(options()), (error) => isEaselError(error, 'MODEL_INVALID') && /text_encoder\/weights\.pb failed its checksum/.test(error.message));
  const staged = join(root, DOWNLOADS_FOLDER, modelFolderName(REPO, 'main'), 'text_encoder');
  assert.equal(existsSync(join(staged, 'weights.pb')), false);
  assert.equal(existsSync(join(staged, 'weights.pb.partial')), false);
});

test('401, 403 and 404 give actionable messages', async () => {
  for (const [status, pattern] of [[401, /needs a Hugging Face access token/], [403, /gated and your token has not been granted/], [404, /was not found on the Hub/]] as const) {
    hub.statusOverride = status;
    await assert.rejects(downloadModel(options()), (error) => isEaselError(error) && pattern.test(error.message), String(status));
  }
  hub.statusOverride = undefined;
  await assert.rejects(downloadModel(options({ repo: 'someone/else' })), /was not found on the Hub/);
  await assert.rejects(downloadModel(options({ repo: '../../etc' })), /not a Hub repository name/);
});

test('not enough disk space is refused before anything is fetched', async () => {
  await assert.rejects(downloadModel(options({ freeSpace: async () => 1000 })), (error) => isEaselError(error, 'OUTPUT_FAILED') && /Not enough disk space/.test(error.message));
  assert.equal(hub.servedBytes.size, 0);
});

test('declining the licence stops before any weight is fetched', async () => {
  await assert.rejects(downloadModel(options({ confirmLicense: async () => false })), (error) => isEaselError(error, 'CANCELLED'));
  assert.equal(hub.servedBytes.size, 0);
});

test('the library lists valid models with their facts and invalid folders with the reason', async () => {
  const models = await fixtureModels();
  const library = temporaryFolder('easel-library-');
  const broken = join(library, 'broken');
  mkdirSync(broken);
  writeFileSync(join(broken, 'model_index.json'), '{}');
  const entries = await listModels([library, models.demo, models['v-prediction'], models['float16-io']]);
  const byName = new Map(entries.map((entry) => [entry.name, entry]));
  assert.equal(byName.get('broken')?.valid, false);
  assert.match(byName.get('broken')?.reason ?? '', /component is missing/);
  const demo = byName.get('demo')!;
  assert.equal(demo.valid, true);
  assert.equal(demo.family, 'SD 1.x');
  assert.equal(demo.nativeSize, 512);
  assert.equal(demo.prediction, 'epsilon');
  assert.equal(demo.weightType, 'fp32');
  assert.equal(demo.hasSafetyChecker, false);
  assert.ok(demo.sizeBytes > 10_000);
  assert.equal(byName.get('v-prediction')?.prediction, 'v_prediction');
  assert.equal(byName.get('float16-io')?.weightType, 'fp16');
});

test('the CLI lists and downloads models', async () => {
  const { execFile } = await import('node:child_process');
  const cli = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');
  // Run asynchronously: the fake Hub answers from this process.
  const easel = (...args: string[]) => new Promise<{ status: number; stdout: string; stderr: string }>((done) => {
    execFile(process.execPath, [cli, ...args], { env: { ...process.env, HF_ENDPOINT: hub.url } }, (error, stdout, stderr) => done({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
  });
  const download = await easel('models', 'download', REPO, '--dir', root, '--yes');
  assert.equal(download.status, 0, download.stderr);
  assert.match(download.stderr, /licence: creativeml-openrail-m/);
  assert.equal(download.stdout.trim(), join(root, modelFolderName(REPO, 'main')));
  const list = await easel('models', 'list', '--dir', root);
  assert.equal(list.status, 0);
  assert.match(list.stdout, /easel-test--tiny-sd-onnx {2}SD 1\.x · 512px · epsilon · fp32/);
  const gated = await easel('models', 'download', 'someone/private-model', '--dir', root, '--yes');
  assert.equal(gated.status, 1);
  assert.match(gated.stderr, /^easel: error: someone\/private-model \(revision main\) was not found on the Hub/m);
});

test('a hostile listing path is never fetched nor written outside the models folder', async () => {
  const escapes = ['tokenizer/..\\..\\..\\x.json', 'tokenizer/../../escape.json', '../escape.json'];
  for (const path of escapes) hub.addFile(path, Buffer.from('{"pwned":true}'));
  const folder = await downloadModel(options());
  for (const path of escapes) assert.equal(hub.servedBytes.has(path), false, `${path} was fetched`);
  assert.deepEqual(readdirSync(root).sort(), [DOWNLOADS_FOLDER, modelFolderName(REPO, 'main')].sort());
  assert.deepEqual(readdirSync(join(folder, 'tokenizer')).filter((name) => name.includes('..')), []);
});

test('a server sending more than the listed size is cut off there, and nothing of it is kept', async () => {
  const path = 'unet/weights.pb';
  for (const announce of [false, true]) {
    hub.reset();
    hub.oversize.set(path, { extra: 50 * 1024 * 1024, announce });
    const fresh = temporaryFolder('easel-models-');
    await assert.rejects(
      downloadModel(options({ destinationRoot: fresh })),
      (error) => isEaselError(error, 'MODEL_INVALID') && /sent more than the \d+ bytes the Hub lists for unet\/weights\.pb/.test(error.message),
      announce ? 'Content-Length announced' : 'chunked',
    );
    const staged = join(fresh, DOWNLOADS_FOLDER, modelFolderName(REPO, 'main'), 'unet');
    assert.deepEqual(readdirSync(staged).filter((name) => name.startsWith('weights.pb')), [], 'no weights.pb nor its .partial is left');
  }
});

test('impossible sizes and malformed checksums in the listing refuse the download', async () => {
  const cases: Array<[string, (entry: Record<string, unknown>) => void, RegExp]> = [
    ['negative size', (entry) => { entry.size = -1; delete entry.lfs; }, /impossible size \(-1\)/],
    ['absurd size', (entry) => { (entry.lfs as Record<string, unknown>).size = 2 ** 53; }, /impossible size/],
    ['fractional size', (entry) => { (entry.lfs as Record<string, unknown>).size = 10.5; }, /impossible size/],
    ['short lfs.oid', (entry) => { (entry.lfs as Record<string, unknown>).oid = 'abc123'; }, /malformed SHA-256/],
    ['missing lfs.oid', (entry) => { delete (entry.lfs as Record<string, unknown>).oid; }, /malformed SHA-256/],
    ['upper-case lfs.oid', (entry) => { const lfs = entry.lfs as Record<string, string>; lfs.oid = lfs.oid.toUpperCase(); }, /malformed SHA-256/],
  ];
  for (const [name, patch, pattern] of cases) {
    hub.reset();
    hub.listingPatch = (entries) => entries.map((entry) => {
      if (entry.path !== 'unet/weights.pb') return entry;
      const copy = structuredClone(entry);
      patch(copy);
      return copy;
    });
    await assert.rejects(downloadModel(options({ destinationRoot: temporaryFolder('easel-models-') })), (error) => isEaselError(error, 'MODEL_INVALID') && pattern.test(error.message), name);
    assert.equal(hub.servedBytes.size, 0, `${name}: nothing fetched`);
  }
});

test('429 and 503 are retried after Retry-After; a long or endless wait is reported, leaving no empty .partial', async () => {
  const path = 'unet/model.onnx';
  hub.busy.set(path, { status: 429, retryAfter: '1', times: 1 });
  hub.busy.set('text_encoder/model.onnx', { status: 503, times: 2 });
  await downloadModel(options());
  const tries = hub.requests.filter((request) => request.path.endsWith(`/resolve/main/${path}`));
  assert.equal(tries.length, 2);
  assert.ok(tries[1].at - tries[0].at >= 950, `waited ${tries[1].at - tries[0].at} ms after Retry-After: 1`);
  assert.equal(hub.requests.filter((request) => request.path.endsWith('/resolve/main/text_encoder/model.onnx')).length, 3);

  hub.reset();
  hub.busy.set(path, { status: 429, retryAfter: '3600', times: 1 });
  let fresh = temporaryFolder('easel-models-');
  await assert.rejects(downloadModel(options({ destinationRoot: fresh })), (error) => isEaselError(error) && /busy \(HTTP 429\) and asks to wait 3600 s/.test(error.message));
  assert.equal(existsSync(join(fresh, DOWNLOADS_FOLDER, modelFolderName(REPO, 'main'), 'unet', 'model.onnx.partial')), false);

  hub.reset();
  hub.busy.set(path, { status: 503, retryAfter: '0', times: 100 });
  fresh = temporaryFolder('easel-models-');
  await assert.rejects(downloadModel(options({ destinationRoot: fresh })), (error) => isEaselError(error) && /answered 503/.test(error.message));
  assert.equal(hub.requests.filter((request) => request.path.endsWith(`/resolve/main/${path}`)).length, 4, 'a bounded number of attempts');
  assert.equal(existsSync(join(fresh, DOWNLOADS_FOLDER, modelFolderName(REPO, 'main'), 'unet', 'model.onnx.partial')), false, 'no empty .partial after an error status');
});

test('the token goes to the Hub only: never to another host or port a redirect leads to', async () => {
  const other = new FakeHub(REPO, (await fixtureModels()).demo);
  await other.start();
  try {
    hub.cdnOrigin = other.url.replace('127.0.0.1', 'localhost');
    await downloadModel(options({ token: 'hf_secret_token' }));
    assert.ok(hub.requests.filter((request) => request.path.includes('/resolve/')).every((request) => request.authorization === 'Bearer hf_secret_token'));
    assert.ok(other.requests.length > 0, 'the files came from the other origin');
    assert.deepEqual(other.requests.filter((request) => request.authorization !== undefined), []);
  } finally {
    await other.stop();
  }
});

test('a curated model\'s download writes its recommended settings (easel.json) from the curated list', async () => {
  const curated = CURATED_MODELS.find((model) => model.family === 'LCM')!;
  const curatedHub = new FakeHub(curated.repo, (await fixtureModels()).demo);
  await curatedHub.start();
  try {
    const folder = await downloadModel({ repo: curated.repo, revision: curated.revision, destinationRoot: root, endpoint: curatedHub.url, freeSpace: async () => 1e12 });
    assert.deepEqual(await readModelRecommendation(folder), { settings: curated.settings, source: `easel.json, from the model card of ${curated.repo}` });
    assert.deepEqual(curated.settings, { sampler: 'LCM', schedule: 'Automatic', steps: 4, cfgScale: 8, width: 512, height: 512 });
  } finally {
    await curatedHub.stop();
  }
});
