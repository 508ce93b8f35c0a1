/**
 * The webgpu provider, run for real: on CI's machine through Mesa's lavapipe Vulkan driver (Mesa ≥ 25,
 * installed by .ci/run from bookworm-backports). Small images and few steps: lavapipe is slow, and speed
 * is not what is measured here — the pixels are.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
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

test('webgpu failing mid-generation: the job is made again on the cpu, says so, and gives the cpu\'s image', async () => {
  const service: GenerationService = createService();
  opened.push({ release: () => service.dispose() });
  const request = { modelDir: MODEL, prompt: 'a lighthouse', sampler: 'Euler' as const, steps: 3, cfgScale: 1, seed: '21', width: 64, height: 64 };
  service.crashWorker('gpu');
  const job = service.generate({ ...request, provider: 'webgpu' });
  const events = record(job);
  const result = await job.result;
  const loaded = events.filter(([name]) => name === 'loaded').map(([, payload]) => payload as { provider: string; notices: string[] });
  assert.deepEqual(loaded.map((event) => event.provider), ['webgpu', 'cpu']);
  assert.match(loaded[1].notices.join('\n'), /webgpu failed during generation \(The UNet failed: Device lost.*\); this image is made on the cpu instead/);
  const steps = events.filter(([name]) => name === 'step').map(([, payload]) => (payload as { step: number }).step);
  assert.deepEqual(steps, [1, 1, 2, 3], 'one step on webgpu, then the whole image again on the cpu');
  assert.equal(result.images.length, 1);
  assert.equal(readImageMetadata(result.images[0].png).parameters.provider, 'cpu');
  const reference = await service.generate({ ...request, provider: 'cpu' }).result;
  const pixels = async (png: Uint8Array) => new Uint8Array(await sharp(png).removeAlpha().raw().toBuffer());
  assert.deepEqual(await pixels(result.images[0].png), await pixels(reference.images[0].png));
});
