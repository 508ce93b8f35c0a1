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
import { componentGraph, inspectModelFolder } from '../../src/engine/modelFolder.ts';
import { importCheckpoint } from '../../src/models/checkpointImport.ts';
import { readSafetensorsHeader } from '../../src/engine/checkpoint/safetensors.ts';
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
import { compareWithPng, imageDifference, readCases, referenceCaseParams, REFERENCE_DIR, type TextToImageCase } from '../helpers/referenceImage.ts';
import { sessionWeightBytes } from '../helpers/sessionWeights.ts';
import { openLoraFile } from '../../src/engine/lora/loraFile.ts';
import { applyLoras } from '../../src/engine/lora/loraSessions.ts';
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

/**
 * fp16 compute against diffusers' images, which were computed in float32: lavapipe's float16 kernels
 * accumulate in float16, and 10 steps at CFG 7.5 amplify that. Measured on lavapipe (Mesa 25): the fp16
 * case mean 0.89, max 7 levels; the LoRA case (its reference has float32 weights; float16 weights alone
 * give 0.06 / 1 on the cpu) mean 1.26, max 10. The float32 graph on webgpu gives 0.0007 / 1, and the
 * cpu's tolerance is 0.02 / 3. The bound is 1.5× the worse measurement, rounded: far under what a wrong
 * graph gives (a swapped GEGLU: mean 5.8) or a LoRA left out (mean 10.3).
 */
const FLOAT16_TOLERANCE = { mean: 1.9, max: 15 };

test('an imported fp16 checkpoint runs its text encoder and UNet in float16 on webgpu, its weights as stored; the cpu casts them to float32; both reproduce diffusers\' fp16 image', async () => {
  const dir = join(REFERENCE_DIR, 'single_file');
  const c = readCases<TextToImageCase & { model: string }>('single_file').cases.find((item) => item.model.endsWith('-fp16.safetensors'))!;
  const imported = await importCheckpoint(join(dir, c.model), { destinationRoot: temporaryFolder(), tokenizerDir: join(dir, 'diffusers-safetensors', 'tokenizer') });
  const folder = await inspectModelFolder(imported.folder);
  const cpu = await open(imported.folder, 'cpu');
  const gpu = await open(imported.folder, 'webgpu');
  const types = (model: LoadedModel) => [model.signature.textOutputType, model.signature.sampleType, model.signature.unetOutputType, model.signature.decoderInputType];
  assert.deepEqual(types(cpu), ['float32', 'float32', 'float32', 'float32']);
  assert.deepEqual(types(gpu), ['float16', 'float16', 'float16', 'float32'], 'text encoder and UNet in float16, the VAE in float32 (force_upcast)');

  // What each session holds, from the graph ONNX Runtime runs: the UNet's weights are the checkpoint's
  // float16 bytes on webgpu (float32 only for the norms' γ, β), float32 copies on the cpu.
  const header = await readSafetensorsHeader(join(dir, c.model));
  const stored = [...header.tensors.values()].filter((entry) => entry.name.startsWith('model.diffusion_model.')).reduce((sum, entry) => sum + entry.end - entry.begin, 0);
  const onGpu = await sessionWeightBytes(componentGraph(folder, 'unet', 'webgpu'), 'webgpu', dir);
  const onCpu = await sessionWeightBytes(componentGraph(folder, 'unet', 'cpu'), 'cpu', dir);
  if (process.env.EASEL_PRINT) console.log('UNet weights', { stored, onGpu, onCpu });
  assert.equal(onCpu.float16, 0);
  assert.ok(onCpu.float32 >= 2 * stored, `cpu: ${onCpu.float32} bytes of float32 for ${stored} stored`);
  assert.ok(onGpu.float16 >= 0.95 * stored && onGpu.float32 < 0.05 * stored, `webgpu: ${JSON.stringify(onGpu)} for ${stored} stored`);

  const params = referenceCaseParams(c);
  const expected = join(dir, c.expected);
  const [fromCpu] = await generate(cpu, validateParams(params, cpu));
  const cpuDiff = await compareWithPng(fromCpu.rgb, c.width, c.height, expected);
  const tolerance = readCases('single_file').tolerance;
  assert.ok(cpuDiff.mean <= tolerance.mean && cpuDiff.max <= tolerance.max, `cpu: mean ${cpuDiff.mean}, max ${cpuDiff.max}`);
  const [fromGpu] = await generate(gpu, validateParams(params, gpu));
  const gpuDiff = await compareWithPng(fromGpu.rgb, c.width, c.height, expected);
  if (process.env.EASEL_PRINT) console.log('fp16 on webgpu', gpuDiff, 'cpu', cpuDiff);
  assert.ok(gpuDiff.mean <= FLOAT16_TOLERANCE.mean && gpuDiff.max <= FLOAT16_TOLERANCE.max, `webgpu float16: mean ${gpuDiff.mean}, max ${gpuDiff.max} levels`);
});

test('a LoRA on an imported fp16 checkpoint on webgpu is merged into its float16 graph and reproduces diffusers\' LoRA image within the float16 bound', async () => {
  const dir = join(REFERENCE_DIR, 'single_file');
  const c = readCases<TextToImageCase & { lora: string; multiplier: number }>('lora').cases[0];
  const imported = await importCheckpoint(join(dir, 'sd15-tiny-public-fp16.safetensors'), { destinationRoot: temporaryFolder(), tokenizerDir: join(dir, 'diffusers-safetensors', 'tokenizer') });
  const gpu = await open(imported.folder, 'webgpu');
  const file = await openLoraFile(join(REFERENCE_DIR, 'lora', c.lora));
  const { notices, recreated } = await applyLoras(gpu, [{ name: 'tiny_kohya_public', file, textEncoderMultiplier: c.multiplier, unetMultiplier: c.multiplier }]);
  assert.deepEqual([notices, recreated], [[], ['text_encoder', 'unet']]);
  const sample = gpu.unet.inputMetadata.find((input) => input.name === 'sample');
  assert.ok(sample?.isTensor && sample.type === 'float16', 'the LoRA UNet is the float16 graph');
  const [image] = await generate(gpu, validateParams(referenceCaseParams(c), gpu));
  const diff = await compareWithPng(image.rgb, c.width, c.height, join(REFERENCE_DIR, 'lora', c.expected));
  if (process.env.EASEL_PRINT) console.log('LoRA, fp16 on webgpu', diff);
  assert.ok(diff.mean <= FLOAT16_TOLERANCE.mean && diff.max <= FLOAT16_TOLERANCE.max, `webgpu float16 with LoRA: mean ${diff.mean}, max ${diff.max} levels`);
});
