/**
 * The webgpu provider, run for real: on CI's machine through Mesa's lavapipe Vulkan driver (Mesa ≥ 25,
 * installed by .ci/run from bookworm-backports). Small images and few steps: lavapipe is slow, and speed
 * is not what is measured here — the pixels are.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { inspectModelFolder } from '../../src/engine/modelFolder.ts';
import { loadModel, type LoadedModel } from '../../src/engine/modelSessions.ts';
import { generate } from '../../src/engine/pipeline.ts';
import { validateParams, type GenerationParams } from '../../src/engine/generationParams.ts';
import { probeProviders } from '../../src/engine/providers.ts';
import type { ExecutionProvider } from '../../src/shared/names.ts';
import { readImageMetadata } from '../../src/png/readMetadata.ts';
import { writeNewFile } from '../../src/png/safeWrite.ts';
import type { GenerationService } from '../../src/service/generationService.ts';
import { temporaryFolder } from '../helpers/fixtures.ts';
import { float16IoCopy } from '../helpers/float16Io.ts';
import { imageDifference, REFERENCE_DIR } from '../helpers/referenceImage.ts';
import { createService, record } from '../helpers/service.ts';

const MODEL = join(REFERENCE_DIR, 'img2img_inpaint', 'model-optimum-main');
const TAESD = join(REFERENCE_DIR, 'taesd', 'taesd');
const opened: Array<{ release(): Promise<void> }> = [];
let half: string;

before(async () => {
  const webgpu = (await probeProviders()).find((probe) => probe.provider === 'webgpu');
  assert.ok(webgpu?.works, `the webgpu provider must load here (Mesa ≥ 25's lavapipe; bash .ci/run installs it): ${webgpu?.detail ?? 'not offered by this onnxruntime-node build'}`);
  half = await float16IoCopy(MODEL, join(temporaryFolder(), 'float16-io'));
});
after(async () => {
  for (const item of opened) await item.release();
});

async function open(dir: string, provider: ExecutionProvider): Promise<LoadedModel> {
  const model = await loadModel(await inspectModelFolder(dir), provider, undefined, { tinyDecoderDir: TAESD });
  opened.push(model);
  assert.equal(model.provider, provider);
  return model;
}

// SD-Turbo's way of running (two Euler steps, guidance off): what a GPU user of a few-step model does.
const turbo = (model: LoadedModel, overrides: Partial<GenerationParams> = {}) => validateParams({
  prompt: 'a lighthouse on a cliff at dusk', sampler: 'Euler', steps: 2, cfgScale: 1, seed: 11n, width: 64, height: 64, ...overrides,
}, model);

for (const [label, folder] of [['float32', () => MODEL], ['float16 I/O', () => half]] as const) {
  test(`webgpu gives the cpu's pixels within 1 level on a real-architecture SD 1.x model (${label}), with the full and the tiny decoder`, async () => {
    const cpu = await open(folder(), 'cpu');
    const gpu = await open(folder(), 'webgpu');
    assert.equal(gpu.signature.sampleType, label === 'float32' ? 'float32' : 'float16');
    for (const decoder of ['full', 'tiny'] as const) {
      const [expected] = await generate(cpu, turbo(cpu, { decoder }));
      const [actual] = await generate(gpu, turbo(gpu, { decoder }));
      const diff = imageDifference(actual.rgb, expected.rgb);
      assert.ok(diff.max <= 1, `${label}, ${decoder} decoder: max ${diff.max} levels, mean ${diff.mean}`);
    }
  });
}

test('on webgpu the conditioning stays in device memory for every step (gpu-buffer), with the same pixels as uploading it each step', async () => {
  const gpu = await open(MODEL, 'webgpu');
  assert.ok(gpu.deviceUploads, 'webgpu models keep their per-job constants on the device');
  const locations: string[] = [];
  const unet = gpu.unet;
  const watched: LoadedModel = {
    ...gpu,
    unet: new Proxy(unet, {
      get(target, property) {
        if (property !== 'run') return Reflect.get(target, property, target);
        return (feeds: Record<string, ort.Tensor>) => {
          locations.push(`${feeds.encoder_hidden_states.location}/${feeds.sample.location}`);
          return target.run(feeds);
        };
      },
    }),
  };
  const params = turbo(gpu, { steps: 3, cfgScale: 3, negativePrompt: 'fog' });
  const [kept] = await generate(watched, params);
  assert.deepEqual(locations, ['gpu-buffer/cpu', 'gpu-buffer/cpu', 'gpu-buffer/cpu'], 'conditioning on the device, the sample (changed by the sampler on the cpu) not');
  const [uploadedEachStep] = await generate({ ...gpu, deviceUploads: undefined }, params);
  assert.deepEqual(kept.rgb, uploadedEachStep.rgb);
});

test('webgpu failing mid-generation on the only image: the image is made on the cpu, says so, and gives the cpu\'s image', async () => {
  const service: GenerationService = createService();
  opened.push({ release: () => service.dispose() });
  const request = { modelDir: MODEL, prompt: 'a lighthouse', sampler: 'Euler' as const, steps: 3, cfgScale: 1, seed: '21', width: 64, height: 64 };
  service.crashWorker('gpu');
  const job = service.generate({ ...request, provider: 'webgpu' });
  const events = record(job);
  const result = await job.result;
  const loaded = events.filter(([name]) => name === 'loaded').map(([, payload]) => payload as { provider: string; notices: string[] });
  assert.deepEqual(loaded.map((event) => event.provider), ['webgpu', 'cpu']);
  assert.match(loaded[1].notices.join('\n'), /webgpu failed during generation \(The UNet failed: Device lost.*\); the job is made on the cpu instead$/);
  const steps = events.filter(([name]) => name === 'step').map(([, payload]) => (payload as { step: number }).step);
  assert.deepEqual(steps, [1, 1, 2, 3], 'one step on webgpu, then the whole image again on the cpu');
  assert.equal(result.images.length, 1);
  assert.equal(readImageMetadata(result.images[0].png).parameters.provider, 'cpu');
  const reference = await service.generate({ ...request, provider: 'cpu' }).result;
  const pixels = async (png: Uint8Array) => new Uint8Array(await sharp(png).removeAlpha().raw().toBuffer());
  assert.deepEqual(await pixels(result.images[0].png), await pixels(reference.images[0].png));
});

test('webgpu failing on the 2nd image of 3: the job resumes on the cpu from that image; the first is kept, no file is written twice, seeds stay seed, seed+1, seed+2', async () => {
  const service: GenerationService = createService();
  opened.push({ release: () => service.dispose() });
  // One step per image, so the hook's failing second UNet run is the second image's first step.
  const request = { modelDir: MODEL, prompt: 'a lighthouse', sampler: 'Euler' as const, steps: 1, cfgScale: 1, width: 64, height: 64, batchCount: 3 };
  const cpu = await service.generate({ ...request, seed: '40', provider: 'cpu' }).result;
  const pixels = async (png: Uint8Array) => new Uint8Array(await sharp(png).removeAlpha().raw().toBuffer());
  // A fixed seed (a job made again would write "-2" names) and a random one (a job made again would draw new seeds).
  for (const seed of ['40', undefined]) {
    const folder = temporaryFolder();
    service.crashWorker('gpu');
    const job = service.generate({ ...request, seed, provider: 'webgpu' });
    const events = record(job);
    const writes: Array<Promise<string>> = [];
    // As the CLI writes a batch: one file per image, named by its seed, never replacing a file.
    job.on('image', (image) => writes.push(writeNewFile(join(folder, `out-${image.seed}.png`), image.png)));
    const result = await job.result;
    await Promise.all(writes);
    const first = BigInt(job.request.seed);
    if (seed) assert.equal(first, 40n);
    const expectedSeeds = [0n, 1n, 2n].map((offset) => (first + offset).toString());
    assert.deepEqual((await readdir(folder)).sort(), expectedSeeds.map((value) => `out-${value}.png`).sort(), `seed ${seed ?? 'random'}: three files, none written twice`);
    const written = await Promise.all(expectedSeeds.map(async (value) => readImageMetadata(await readFile(join(folder, `out-${value}.png`))).parameters));
    assert.deepEqual(written.map((parameters) => parameters.seed), expectedSeeds);
    assert.deepEqual(written.map((parameters) => parameters.provider), ['webgpu', 'cpu', 'cpu']);
    assert.deepEqual(result.images.map((image) => image.index), [0, 1, 2]);
    const loaded = events.filter(([name]) => name === 'loaded').map(([, payload]) => payload as { provider: string; notices: string[] });
    assert.deepEqual(loaded.map((event) => event.provider), ['webgpu', 'cpu']);
    assert.match(loaded[1].notices.join('\n'), /webgpu failed during generation \(The UNet failed: Device lost.*\); images 2–3 are made on the cpu instead; the first image is kept, not made again$/);
    const steps = events.filter(([name]) => name === 'step').map(([, payload]) => (payload as { imageIndex: number }).imageIndex);
    assert.deepEqual(steps, [0, 1, 2], 'the failed step of image 2 is not reported; no image is made twice');
    if (seed) {
      for (const index of [1, 2]) assert.deepEqual(await pixels(result.images[index].png), await pixels(cpu.images[index].png), `image ${index + 1} is the cpu's image for its seed`);
    }
  }
});
