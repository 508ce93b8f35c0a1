import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readdir, truncate, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { inspectModelFolder } from '../../src/engine/modelFolder.ts';
import { loadModel, type LoadedModel } from '../../src/engine/modelSessions.ts';
import { generate } from '../../src/engine/pipeline.ts';
import { validateParams } from '../../src/engine/generationParams.ts';
import { createSessionWithProvider } from '../../src/engine/providers.ts';
import { optimizedGraphKey, tuningConfig, tuningOptions, type SessionTuning } from '../../src/engine/sessionTuning.ts';
import { temporaryFolder } from '../helpers/fixtures.ts';
import { imageDifference, REFERENCE_DIR } from '../helpers/referenceImage.ts';

const opened: LoadedModel[] = [];
after(async () => {
  for (const model of opened) await model.release();
});

async function copyOfReferenceModel(): Promise<string> {
  const folder = join(temporaryFolder(), 'model');
  await cp(join(REFERENCE_DIR, 'img2img_inpaint', 'model-optimum-main'), folder, { recursive: true });
  return folder;
}

async function image(folder: string, tuning: SessionTuning): Promise<Uint8Array> {
  const model = await loadModel(await inspectModelFolder(folder), 'cpu', undefined, { tuning });
  opened.push(model);
  const [result] = await generate(model, validateParams({ prompt: 'a lighthouse', negativePrompt: 'fog', steps: 3, cfgScale: 5, seed: 9n, width: 64, height: 64, emphasis: 'None' }, model));
  return result.rgb;
}

test('the optimized graph is cached on first load, used on the next, and gives the same pixels', async () => {
  const folder = await copyOfReferenceModel();
  const cacheDir = temporaryFolder();
  const unet = join(folder, 'unet', 'model.onnx');
  const first = await createSessionWithProvider(unet, 'cpu', { cacheDir });
  await first.session.release();
  assert.equal(first.cached, false);
  const entries = await readdir(cacheDir);
  assert.equal(entries.length, 1);
  assert.match(entries[0], /^unet-cpu-[0-9a-f]{24}$/);
  assert.deepEqual((await readdir(join(cacheDir, entries[0]))).sort(), ['model.onnx', 'weights.bin']);
  const second = await createSessionWithProvider(unet, 'cpu', { cacheDir });
  await second.session.release();
  assert.equal(second.cached, true);
  const uncached = await image(folder, {});
  await image(folder, { cacheDir });
  assert.deepEqual(await image(folder, { cacheDir }), uncached, 'every session from the cache gives the same image');
  assert.equal((await readdir(cacheDir)).length, 3, 'one entry per component');
});

test('the cache key changes with the provider and with any change to the model\'s folder', async () => {
  const folder = await copyOfReferenceModel();
  const unet = join(folder, 'unet', 'model.onnx');
  const before = await optimizedGraphKey(unet, 'cpu');
  assert.equal(await optimizedGraphKey(unet, 'cpu'), before);
  assert.notEqual(await optimizedGraphKey(unet, 'webgpu'), before);
  await utimes(join(folder, 'unet', 'model.onnx_data'), new Date(), new Date(Date.now() + 5000));
  assert.notEqual(await optimizedGraphKey(unet, 'cpu'), before, 'new weights beside the graph invalidate it');
});

test('a damaged cache entry is dropped and rebuilt, never used', async () => {
  const folder = await copyOfReferenceModel();
  const cacheDir = temporaryFolder();
  const unet = join(folder, 'unet', 'model.onnx');
  (await createSessionWithProvider(unet, 'cpu', { cacheDir })).session.release();
  const [entry] = await readdir(cacheDir);
  await truncate(join(cacheDir, entry, 'model.onnx'), 100);
  const again = await createSessionWithProvider(unet, 'cpu', { cacheDir });
  await again.session.release();
  assert.equal(again.cached, false);
  const rebuilt = await createSessionWithProvider(unet, 'cpu', { cacheDir });
  await rebuilt.session.release();
  assert.equal(rebuilt.cached, true);
});

test('memory "low" turns pre-packing off; denormals are flushed only when asked; the pixels stay within a level', async () => {
  assert.deepEqual(tuningConfig({}), {});
  assert.deepEqual(tuningConfig({ memory: 'low', denormalsAsZero: true }), { set_denormal_as_zero: '1', disable_prepacking: '1', use_device_allocator_for_initializers: '1' });
  const folder = join(REFERENCE_DIR, 'img2img_inpaint', 'model-optimum-main');
  const balanced = await image(folder, {});
  const low = await image(folder, { memory: 'low', denormalsAsZero: true });
  assert.ok(imageDifference(low, balanced).max <= 1);
});

test('the VAE decoder, run once per image, is opened without a memory pattern (balanced and low); the UNet and text encoder keep theirs', async (t) => {
  assert.deepEqual(tuningOptions({}), {});
  assert.deepEqual(tuningOptions({ oncePerImage: true }), { enableMemPattern: false });
  const patterns: Array<[string, boolean | undefined]> = [];
  const create = ort.InferenceSession.create.bind(ort.InferenceSession);
  t.mock.method(ort.InferenceSession, 'create', (path: string, options: ort.InferenceSession.SessionOptions) => {
    patterns.push([/(unet|text_encoder|vae_decoder)/.exec(path)?.[1] ?? path, options.enableMemPattern]);
    return create(path, options);
  });
  const folder = join(REFERENCE_DIR, 'img2img_inpaint', 'model-optimum-main');
  for (const memory of ['balanced', 'low'] as const) {
    patterns.length = 0;
    const rgb = await image(folder, { memory });
    assert.equal(rgb.length, 64 * 64 * 3);
    // Sorted: text encoder and decoder are created side by side; `low` opens the decoder again to decode.
    const expected: Array<[string, boolean | undefined]> = [['text_encoder', undefined], ['unet', undefined], ['vae_decoder', false]];
    if (memory === 'low') expected.push(['vae_decoder', false]);
    assert.deepEqual(patterns.sort(([a], [b]) => a.localeCompare(b)), expected, memory);
  }
});
