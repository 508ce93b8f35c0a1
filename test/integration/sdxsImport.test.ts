import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { unetConfigFromDiffusers } from '../../src/engine/checkpoint/buildGraphs.ts';
import { unetKeyMap } from '../../src/engine/checkpoint/diffusersKeys.ts';
import { headsAt } from '../../src/engine/checkpoint/ldmConfig.ts';
import { writeSafetensors } from '../../src/engine/checkpoint/safetensorsWriter.ts';
import { uniform } from '../../src/engine/checkpoint/syntheticCheckpoint.ts';
import { buildUNetGraph } from '../../src/engine/checkpoint/unetGraph.ts';
import { RecordingWeights } from '../../src/engine/checkpoint/weights.ts';
import { inspectModelFolder } from '../../src/engine/modelFolder.ts';
import { loadModel, type LoadedModel } from '../../src/engine/modelSessions.ts';
import { listInitializers, readInitializerFloats } from '../../src/engine/onnx/initializers.ts';
import { decodeWithTinyDecoder, generate } from '../../src/engine/pipeline.ts';
import { validateParams } from '../../src/engine/generationParams.ts';
import { createSessionWithProvider } from '../../src/engine/providers.ts';
import { importCheckpoint } from '../../src/models/checkpointImport.ts';
import { temporaryFolder } from '../helpers/fixtures.ts';
import { imageDifference, readCases, readRgb, REFERENCE_DIR } from '../helpers/referenceImage.ts';

/**
 * IDKiro/sdxs-512-dreamshaper's unet/config.json, the fields that matter here as the Hub copy at
 * lsb/6-bit-palettized-sdxs-512-dreamshaper shows them (its _name_or_path is IDKiro's snapshot). The
 * config of IDKiro/sdxs-512-0.9 itself is not in any stored source; see the README's SDXS section.
 */
const SDXS_DREAMSHAPER_UNET = {
  _class_name: 'UNet2DConditionModel', attention_head_dim: 8, block_out_channels: [320, 640, 1280], cross_attention_dim: 768,
  down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'], in_channels: 4, layers_per_block: 1, mid_block_type: null,
};

function parameterCount(config: Record<string, unknown>): number {
  const recorder = new RecordingWeights();
  buildUNetGraph(unetConfigFromDiffusers(config, 'unet/config.json'), recorder, '', { attention: 'plain' });
  return [...recorder.requested.values()].reduce((sum, shape) => sum + shape.reduce((a, b) => a * b, 1), 0);
}

test('SDXS-512\'s UNet (3 levels, 1 resnet per level, no middle block) has the published 0.32 B parameters; SD 1.5\'s its 859,520,964', () => {
  // The SDXS paper (arXiv 2403.16627) gives SDXS-512's UNet as 0.32 B parameters.
  const sdxs = parameterCount(SDXS_DREAMSHAPER_UNET);
  assert.ok(Math.abs(sdxs - 0.32e9) / 0.32e9 < 0.02, `SDXS-512 UNet: ${sdxs} parameters`);
  assert.equal(sdxs, 315_746_244);
  assert.equal(parameterCount({
    block_out_channels: [320, 640, 1280, 1280], down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
    layers_per_block: 2, cross_attention_dim: 768, attention_head_dim: 8,
  }), 859_520_964, 'SD 1.5 through the same reader');
  const config = unetConfigFromDiffusers(SDXS_DREAMSHAPER_UNET, 'unet/config.json');
  assert.equal(config.midBlock, false);
  assert.deepEqual(config.attentionResolutions, [2, 4]);
});

test('diffusers\' attention_head_dim is a head count: SD 2.x\'s [5, 10, 20, 20] gives 64-wide heads', () => {
  const sd2 = unetConfigFromDiffusers({ block_out_channels: [320, 640, 1280, 1280], attention_head_dim: [5, 10, 20, 20], cross_attention_dim: 1024 }, 'unet/config.json');
  assert.deepEqual([320, 640, 1280].map((ch) => headsAt(sd2, ch)), [5, 10, 20]);
  const sd1 = unetConfigFromDiffusers({ block_out_channels: [320, 640, 1280, 1280], attention_head_dim: 8 }, 'unet/config.json');
  assert.deepEqual([320, 640, 1280].map((ch) => headsAt(sd1, ch)), [8, 8, 8]);
});

const SINGLE_FILE = join(REFERENCE_DIR, 'single_file', 'diffusers-safetensors');
const TAESD_TOPIC = join(REFERENCE_DIR, 'taesd');
const opened: Array<{ release(): Promise<void> }> = [];
after(async () => {
  for (const item of opened) await item.release();
});

/**
 * A diffusers folder with SDXS's structure at small widths: an SD 2.x-style UNet (per-level head counts,
 * linear projections) with SDXS's blocks (DownBlock2D first, one resnet per level, no middle block) and
 * the highest level's transformer cross-attention only; the reference CLIP text encoder and tokenizer; and
 * as `vae` an AutoencoderTiny whose weights are test/reference/taesd's (diffusers-made, with reference decodes).
 */
async function writeSdxsLikeFolder(dir: string): Promise<void> {
  for (const part of ['text_encoder', 'tokenizer', 'scheduler']) await cp(join(SINGLE_FILE, part), join(dir, part), { recursive: true });
  const index = JSON.parse(await readFile(join(SINGLE_FILE, 'model_index.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, 'model_index.json'), JSON.stringify({ ...index, vae: ['diffusers', 'AutoencoderTiny'] }));

  const unetConfig = {
    _class_name: 'UNet2DConditionModel', sample_size: 8, in_channels: 4, out_channels: 4, block_out_channels: [16, 32, 32],
    down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'], up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
    only_cross_attention: [true, false, false], layers_per_block: 1, mid_block_type: null, norm_num_groups: 8, cross_attention_dim: 32,
    attention_head_dim: [2, 4, 4], use_linear_projection: true,
  };
  await mkdir(join(dir, 'unet'));
  await writeFile(join(dir, 'unet', 'config.json'), JSON.stringify(unetConfig));
  const ldm = unetConfigFromDiffusers(unetConfig, 'unet/config.json');
  const recorder = new RecordingWeights();
  buildUNetGraph(ldm, recorder, '', { attention: 'plain' });
  const toDiffusers = unetKeyMap(ldm);
  const specs = [...recorder.requested].map(([name, shape]) => ({ name: toDiffusers(name), shape, dtype: 'F32' as const }));
  // The shapes diffusers gives these layers: with only_cross_attention, attn1 is Attention(query_dim, cross_attention_dim).
  const shapeOf = (name: string) => specs.find((spec) => spec.name === name)?.shape;
  assert.deepEqual(shapeOf('down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k.weight'), [16, 32]);
  assert.deepEqual(shapeOf('up_blocks.2.attentions.1.transformer_blocks.0.attn1.to_v.weight'), [16, 32]);
  assert.deepEqual(shapeOf('down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_k.weight'), [32, 32]);
  assert.deepEqual(shapeOf('up_blocks.0.resnets.1.conv1.weight'), [32, 64, 3, 3], 'up block resnets: layers_per_block + 1, each with its skip');
  assert.equal(shapeOf('mid_block.resnets.0.conv1.weight'), undefined);
  const next = uniform(2024);
  await writeSafetensors(join(dir, 'unet', 'diffusion_pytorch_model.safetensors'), specs, (spec, bytes) => {
    const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const fanIn = spec.shape.slice(1).reduce((a, b) => a * b, 1);
    const isGain = spec.shape.length === 1 && /norm.*\.weight$/.test(spec.name);
    for (let i = 0; i < values.length; i++) values[i] = isGain ? 1 + 0.05 * next() : (spec.shape.length === 1 ? 0.02 : 1 / Math.sqrt(fanIn)) * next();
  });

  await mkdir(join(dir, 'vae'));
  await cp(join(TAESD_TOPIC, 'taesd', 'config.json'), join(dir, 'vae', 'config.json'));
  const decoderPath = join(TAESD_TOPIC, 'taesd', 'vae_decoder', 'model.onnx');
  const decoder = new Uint8Array(readFileSync(decoderPath));
  const tensors = [...listInitializers(decoder)].filter(([name]) => name.startsWith('decoder.'));
  const data = new Map<string, Float32Array>();
  for (const [name, info] of tensors) data.set(name, await readInitializerFloats(decoderPath, join(TAESD_TOPIC, 'taesd', 'vae_decoder'), decoder, info));
  await writeSafetensors(join(dir, 'vae', 'diffusion_pytorch_model.safetensors'), tensors.map(([name, info]) => ({ name, shape: info.dims, dtype: 'F32' as const })), (spec, bytes) => {
    new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4).set(data.get(spec.name)!);
  });
}

test('an SDXS-structured diffusers folder (tiny VAE, no middle block) imports, its decoder reproduces diffusers\' TAESD, and it makes a 1-step image', async () => {
  const source = join(temporaryFolder(), 'sdxs-like');
  await writeSdxsLikeFolder(source);
  const imported = await importCheckpoint(source, { destinationRoot: temporaryFolder(), name: 'sdxs-like' });
  const folder = await inspectModelFolder(imported.folder);
  assert.equal(folder.scalingFactor, 1, 'AutoencoderTiny takes the latents as they are');
  assert.equal(folder.components.vae_encoder, undefined, 'a tiny VAE brings no KL encoder');
  const unetNames = [...listInitializers(new Uint8Array(readFileSync(folder.components.unet!))).keys()];
  assert.ok(unetNames.some((name) => name.includes('output_blocks.')) && !unetNames.some((name) => name.includes('middle_block')), 'no middle block');
  assert.ok(unetNames.some((name) => /input_blocks\.1\.1\.transformer_blocks\.0\.attn1\.to_k/.test(name)), 'the highest level has its (cross-only) transformer');

  // The imported vae_decoder against diffusers' AutoencoderTiny.decode on the reference latents.
  const { tolerance, cases } = readCases<{ id: string; kind: string; latents?: string; latents_shape?: number[]; expected: string }>('taesd');
  const { session } = await createSessionWithProvider(folder.components.vae_decoder!, 'cpu', {}, folder.imported?.weightsDirs.vae_decoder);
  opened.push(session);
  for (const c of cases.filter((entry) => entry.kind === 'decode')) {
    const bytes = readFileSync(join(TAESD_TOPIC, c.latents!));
    const latents = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const [, , h, w] = c.latents_shape!;
    const rgb = await decodeWithTinyDecoder({ session, inputName: 'latent_sample', inputType: 'float32', outputName: 'sample', scalingFactor: 1, root: folder.root, name: 'vae', decoderPath: folder.components.vae_decoder!, release: async () => undefined }, latents, h, w);
    const diff = imageDifference(rgb, (await readRgb(join(TAESD_TOPIC, c.expected))).rgb);
    assert.ok(diff.mean <= tolerance.mean && diff.max <= tolerance.max, `${c.id}: mean ${diff.mean}, max ${diff.max}`);
  }

  const model: LoadedModel = await loadModel(folder, 'cpu');
  opened.push(model);
  const [image] = await generate(model, validateParams({ prompt: 'a red fox', steps: 1, cfgScale: 1, sampler: 'Euler', seed: 3n, width: 64, height: 64 }, model));
  assert.deepEqual([image.width, image.height, image.rgb.length], [64, 64, 64 * 64 * 3]);
  assert.ok(new Set(image.rgb).size > 16, 'an image, not a flat fill');
});
