import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspectModelFolder, inspectTinyDecoderFolder } from '../../src/engine/modelFolder.ts';
import { loadModel, type LoadedModel } from '../../src/engine/modelSessions.ts';
import { decodeWithTinyDecoder, generate } from '../../src/engine/pipeline.ts';
import { validateParams } from '../../src/engine/generationParams.ts';
import { parseSamplerName } from '../../src/shared/names.ts';
import { loadTinyDecoder, type TinyDecoder } from '../../src/engine/tinyDecoder.ts';
import { imageDifference, readCases, readRgb, REFERENCE_DIR } from '../helpers/referenceImage.ts';

interface TaesdCase {
  id: string;
  kind: 'decode' | 'pipeline';
  latents?: string;
  latents_shape?: number[];
  model?: string;
  prompt?: string;
  negative?: string;
  sampler?: string;
  steps?: number;
  cfg?: number;
  seed?: number;
  width?: number;
  height?: number;
  expected: string;
}

const TOPIC = join(REFERENCE_DIR, 'taesd');
const TAESD = join(TOPIC, 'taesd');
const { tolerance, cases } = readCases<TaesdCase>('taesd');
const opened: Array<{ release(): Promise<void> }> = [];
after(async () => {
  await Promise.all(opened.map((session) => session.release()));
});

test('a TAESD folder is read with scaling factor 1.0; a full KL VAE folder is refused', async () => {
  const folder = await inspectTinyDecoderFolder(TAESD);
  assert.equal(folder.scalingFactor, 1);
  assert.equal(folder.decoderPath, join(TAESD, 'vae_decoder', 'model.onnx'));
  await assert.rejects(inspectTinyDecoderFolder(join(REFERENCE_DIR, 'img2img_inpaint', 'model-optimum-main')), /AutoencoderKL, not a tiny decoder/);
  await assert.rejects(inspectTinyDecoderFolder(TOPIC), (error: Error & { code?: string }) => error.code === 'MODEL_NOT_FOUND');
});

for (const c of cases.filter((entry) => entry.kind === 'decode')) {
  test(`${c.id}: TAESD decodes diffusers' latents to diffusers' image`, async () => {
    const tiny: TinyDecoder = await loadTinyDecoder(TAESD, 'cpu');
    opened.push(tiny);
    const bytes = readFileSync(join(TOPIC, c.latents!));
    const latents = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const [, , h, w] = c.latents_shape!;
    const rgb = await decodeWithTinyDecoder(tiny, latents, h, w);
    const expected = await readRgb(join(TOPIC, c.expected));
    const diff = imageDifference(rgb, expected.rgb);
    assert.ok(diff.mean <= tolerance.mean && diff.max <= tolerance.max, `${c.id}: mean ${diff.mean}, max ${diff.max}`);
  });
}

for (const c of cases.filter((entry) => entry.kind === 'pipeline')) {
  test(`${c.id}: text-to-image decoded by TAESD matches diffusers`, async () => {
    const model: LoadedModel = await loadModel(await inspectModelFolder(join(TOPIC, c.model!)), 'cpu', undefined, { tinyDecoderDir: TAESD });
    opened.push(model);
    const params = validateParams({
      prompt: c.prompt!, negativePrompt: c.negative!, sampler: parseSamplerName(c.sampler!), steps: c.steps!, cfgScale: c.cfg!,
      seed: BigInt(c.seed!), width: c.width!, height: c.height!, decoder: 'tiny',
      // diffusers tokenizes the prompt literally: A1111's "Emphasis: None".
      emphasis: 'None',
    }, model);
    const previews: Array<{ width: number; height: number }> = [];
    const [image] = await generate(model, params, { previewEvery: 3, onPreview: (preview) => previews.push(preview) });
    const expected = await readRgb(join(TOPIC, c.expected));
    const diff = imageDifference(image.rgb, expected.rgb);
    assert.ok(diff.mean <= tolerance.mean && diff.max <= tolerance.max, `${c.id}: mean ${diff.mean}, max ${diff.max}`);
    // With the tiny decoder present, live previews are decoded images at full size, not the 1/8 latent projection.
    assert.deepEqual(previews.map((p) => [p.width, p.height]), [[c.width, c.height], [c.width, c.height], [c.width, c.height]]);
    const [full] = await generate(model, { ...params, decoder: 'full' });
    assert.ok(imageDifference(full.rgb, image.rgb).max > tolerance.max, 'the full decoder gives another image');
  });
}
