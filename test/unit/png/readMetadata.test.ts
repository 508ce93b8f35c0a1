import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { readImageMetadata } from '../../../src/png/readMetadata.ts';
import { encodePng, TRAINED_ALGORITHMIC_MEDIA, XMP_KEYWORD } from '../../../src/png/writeMetadata.ts';
import type { EaselRecord } from '../../../src/png/imageParameters.ts';
import {
  COMFY_DEFAULT_GRAPH, FOOOCUS_PARAMETERS, INVOKEAI_METADATA, NOVELAI_COMMENT, compressedITXt, iTXt, plainPng, tEXt, withChunks, zTXt,
} from '../../helpers/pngSamples.ts';

let png: Uint8Array;
before(async () => {
  png = await plainPng();
});

export const RECORD: EaselRecord = {
  prompt: 'a café at night — 夜のカフェ, "neon"', negativePrompt: 'blurry, text', steps: 25, sampler: 'DPM++ 2M', schedule: 'Karras', cfgScale: 6.5,
  seed: '18446744073709551615', width: 16, height: 16, rng: 'cpu', batchIndex: 2, modelName: 'sd-v1-5-onnx', modelHash: '0123456789',
  provider: 'cpu', appVersion: '0.1.0', durationMs: 1234,
};

test('round trip: what Easel writes reads back the same, pixels unchanged', async () => {
  const rgb = new Uint8Array(16 * 16 * 3).map((_, i) => (i * 13) & 0xff);
  const file = await encodePng(rgb, 16, 16, RECORD);
  const metadata = readImageMetadata(file);
  assert.equal(metadata.source, 'easel');
  assert.deepEqual(metadata.parameters, RECORD);
  assert.deepEqual(metadata.problems, []);
  const decoded = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  assert.equal(decoded.info.channels, 3);
  assert.deepEqual(new Uint8Array(decoded.data), rgb);
  const keywords = metadata.chunks.map((chunk) => `${chunk.chunkType}:${chunk.keyword}`);
  assert.deepEqual(keywords, ['iTXt:parameters', 'iTXt:easel', `iTXt:${XMP_KEYWORD}`, 'tEXt:Software']);
  const xmp = metadata.chunks.find((chunk) => chunk.keyword === XMP_KEYWORD)!.text;
  assert.ok(xmp.includes(`Iptc4xmpExt:DigitalSourceType="${TRAINED_ALGORITHMIC_MEDIA}"`));
  assert.ok(xmp.includes('a café at night — 夜のカフェ, &quot;neon&quot;'));
});

test('Latin-1 infotext goes in tEXt, as A1111 writes it; provenance can be turned off explicitly', async () => {
  const file = await encodePng(new Uint8Array(16 * 16 * 3), 16, 16, { ...RECORD, prompt: 'plain ascii', negativePrompt: '' }, { provenance: false });
  const metadata = readImageMetadata(file);
  assert.equal(metadata.chunks.find((chunk) => chunk.keyword === 'parameters')!.chunkType, 'tEXt');
  assert.equal(metadata.chunks.some((chunk) => chunk.keyword === XMP_KEYWORD), false);
});

test('A1111 images: tEXt, zTXt and compressed iTXt parameters all read', () => {
  const text = 'a fox\nNegative prompt: cartoon\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 99, Size: 512x512';
  for (const chunk of [tEXt('parameters', text), zTXt('parameters', text), compressedITXt('parameters', text)]) {
    const metadata = readImageMetadata(withChunks(png, [chunk]));
    assert.equal(metadata.source, 'a1111');
    assert.equal(metadata.parameters.prompt, 'a fox');
    assert.equal(metadata.parameters.negativePrompt, 'cartoon');
    assert.equal(metadata.parameters.seed, '99');
  }
});

test('ComfyUI: the KSampler\'s links lead to prompts, size and checkpoint', () => {
  const metadata = readImageMetadata(withChunks(png, [tEXt('prompt', JSON.stringify(COMFY_DEFAULT_GRAPH)), tEXt('workflow', '{}')]));
  assert.equal(metadata.source, 'comfyui');
  assert.deepEqual(metadata.parameters, {
    prompt: 'beautiful scenery nature glass bottle landscape, , purple galaxy bottle,',
    negativePrompt: 'text, watermark',
    seed: '156680208700286',
    steps: 20,
    cfgScale: 8,
    sampler: 'Euler',
    schedule: 'Automatic',
    width: 512,
    height: 768,
    modelName: 'v1-5-pruned-emaonly.safetensors',
  });
});

test('ComfyUI: an unknown sampler is reported, not guessed', () => {
  const graph = structuredClone(COMFY_DEFAULT_GRAPH);
  graph[3].inputs.sampler_name = 'dpmpp_sde';
  graph[3].inputs.scheduler = 'exponential';
  const metadata = readImageMetadata(withChunks(png, [tEXt('prompt', JSON.stringify(graph))]));
  assert.equal(metadata.parameters.sampler, undefined);
  assert.ok(metadata.unmapped.some((item) => item.startsWith('sampler_name: dpmpp_sde')));
  assert.ok(metadata.unmapped.includes('scheduler: exponential'));
});

test('InvokeAI metadata', () => {
  const metadata = readImageMetadata(withChunks(png, [iTXt('invokeai_metadata', JSON.stringify(INVOKEAI_METADATA))]));
  assert.equal(metadata.source, 'invokeai');
  assert.deepEqual(metadata.parameters, {
    prompt: 'a cozy cabin in the woods, snow, warm light', negativePrompt: 'blurry', width: 768, height: 512, seed: '3938473091', steps: 30, cfgScale: 7.5,
    rng: 'cpu', sampler: 'DPM++ 2M', schedule: 'Karras', modelName: 'stable-diffusion-v1-5', modelHash: 'blake3:8d2bd6a8',
  });
});

test('NovelAI metadata', () => {
  const metadata = readImageMetadata(withChunks(png, [
    tEXt('Title', 'NovelAI generated image'), tEXt('Description', NOVELAI_COMMENT.prompt), tEXt('Software', 'NovelAI'),
    tEXt('Source', 'Stable Diffusion XL C1E1DE52'), tEXt('Comment', JSON.stringify(NOVELAI_COMMENT)),
  ]));
  assert.equal(metadata.source, 'novelai');
  assert.deepEqual(metadata.parameters, {
    prompt: NOVELAI_COMMENT.prompt, negativePrompt: 'lowres, bad anatomy', width: 832, height: 1216, seed: '2730491720', steps: 28, cfgScale: 5,
    modelName: 'Stable Diffusion XL C1E1DE52', sampler: 'Euler a', schedule: 'Automatic',
  });
});

test('Fooocus metadata (fooocus scheme)', () => {
  const metadata = readImageMetadata(withChunks(png, [tEXt('parameters', JSON.stringify(FOOOCUS_PARAMETERS)), tEXt('fooocus_scheme', 'fooocus')]));
  assert.equal(metadata.source, 'fooocus');
  assert.equal(metadata.parameters.seed, '6021285327932425917');
  assert.equal(metadata.parameters.width, 1152);
  assert.equal(metadata.parameters.height, 896);
  assert.equal(metadata.parameters.sampler, 'DPM++ 2M');
  assert.equal(metadata.parameters.schedule, 'Karras');
  assert.equal(metadata.parameters.cfgScale, 4);
  assert.ok(metadata.unmapped.some((item) => item.startsWith('styles:')));
});

test('our chunk with the wrong shape is reported and the A1111 text is used instead', () => {
  const metadata = readImageMetadata(withChunks(png, [
    iTXt('easel', JSON.stringify({ schema: 'easel/1', prompt: 42, steps: 'many' })),
    tEXt('parameters', 'fallback\nSteps: 5, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 64x64'),
  ]));
  assert.equal(metadata.source, 'a1111');
  assert.equal(metadata.parameters.prompt, 'fallback');
  assert.ok(metadata.problems.some((problem) => problem.includes('"prompt" has an unexpected value')));
});

test('a PNG without metadata gives an empty result', () => {
  const metadata = readImageMetadata(png);
  assert.equal(metadata.source, 'none');
  assert.deepEqual(metadata.parameters, {});
});
