import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { writeSafetensors, type TensorSpec } from '../../src/engine/checkpoint/safetensorsWriter.ts';
import { float16ToFloat32, float32ToFloat16 } from '../../src/engine/float16.ts';
import { findLoraFile, openLoraFile } from '../../src/engine/lora/loraFile.ts';
import { applyLoras, patchComponent, type AppliedLora } from '../../src/engine/lora/loraSessions.ts';
import { inspectModelFolder } from '../../src/engine/modelFolder.ts';
import { loadModel, type LoadedModel } from '../../src/engine/modelSessions.ts';
import { GraphBuilder } from '../../src/engine/onnx/onnxWriter.ts';
import { listInitializers, readInitializerFloats } from '../../src/engine/onnx/initializers.ts';
import { validateParams } from '../../src/engine/generationParams.ts';
import { generate } from '../../src/engine/pipeline.ts';
import { parseExtraNetworks } from '../../src/engine/promptSyntax.ts';
import { createSessionWithProvider } from '../../src/engine/providers.ts';
import { importCheckpoint } from '../../src/models/checkpointImport.ts';
import { readImageMetadata } from '../../src/png/readMetadata.ts';
import { temporaryFolder } from '../helpers/fixtures.ts';
import { compareWithPng, imageDifference, referenceCaseParams, type TextToImageCase } from '../helpers/referenceImage.ts';

const TO_Q = 'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight';
const CONV = 'model.diffusion_model.input_blocks.1.0.in_layers.2.weight';
const Q_PROJ = 'cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight';

const seeded = (count: number, seed: number) => Float32Array.from({ length: count }, (_, i) => Math.sin(seed * 7.1 + i * 1.3) * 0.5);

/**
 * Two small graphs named as an imported checkpoint names its weights: a "UNet" y = x·W_qᵀ + conv3×3(img, W_c)
 * (float32, external data) and a "text encoder" y = x·W_pᵀ with a float16 weight.
 */
async function writeModels(folder: string): Promise<{ unet: string; text: string; weights: Record<string, Float32Array> }> {
  const weights = { [TO_Q]: seeded(3 * 4, 1), [CONV]: seeded(2 * 2 * 3 * 3, 2), [Q_PROJ]: seeded(4 * 4, 3) };
  const unet = new GraphBuilder('unet');
  const x = unet.input('x', 'float32', [1, 4]);
  const image = unet.input('image', 'float32', [1, 2, 3, 3]);
  const wq = unet.constant('float32', [3, 4], weights[TO_Q], { name: TO_Q, external: true });
  const wc = unet.constant('float32', [2, 2, 3, 3], weights[CONV], { name: CONV, external: true });
  unet.op('MatMul', [x, unet.op('Transpose', [wq], { perm: [1, 0] })], {}, 'y');
  unet.op('Conv', [image, wc], { pads: [1, 1, 1, 1] }, 'z');
  unet.output('y', 'float32', [1, 3]);
  unet.output('z', 'float32', [1, 2, 3, 3]);
  const text = new GraphBuilder('text_encoder');
  const t = text.input('x', 'float32', [1, 4]);
  const wp = text.constant('float16', [4, 4], float32ToFloat16(weights[Q_PROJ]), { name: Q_PROJ });
  text.op('MatMul', [t, text.op('Transpose', [text.op('Cast', [wp], { to: 1 })], { perm: [1, 0] })], {}, 'y');
  text.output('y', 'float32', [1, 4]);
  const paths = { unet: join(folder, 'unet.onnx'), text: join(folder, 'text.onnx') };
  const encodedUnet = unet.encode('unet.weights');
  await writeFile(paths.unet, encodedUnet.model);
  await writeFile(join(folder, 'unet.weights'), encodedUnet.weights);
  await writeFile(paths.text, text.encode().model);
  return { ...paths, weights };
}

/** A kohya LoRA (fp16 like real ones) for the three weights, with the given alpha for each. */
async function writeLora(path: string, tensors: Record<string, { shape: number[]; values: Float32Array }>): Promise<void> {
  const specs: TensorSpec[] = Object.entries(tensors).map(([name, { shape }]) => ({ name, dtype: 'F16', shape }));
  await writeSafetensors(path, specs, (spec, bytes) => {
    const half = float32ToFloat16(tensors[spec.name].values);
    bytes.set(new Uint8Array(half.buffer));
  }, { ss_network_module: 'networks.lora' });
}

/** x·(W + m·α/r·up·down)ᵀ by plain loops, with the LoRA values as float16 holds them. */
function expectedLinear(x: Float32Array, weight: Float32Array, out: number, up: Float32Array, down: Float32Array, rank: number, scale: number): Float32Array {
  const columns = x.length;
  const y = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    for (let c = 0; c < columns; c++) {
      let delta = 0;
      for (let r = 0; r < rank; r++) delta += up[o * rank + r] * down[r * columns + c];
      y[o] += x[c] * (weight[o * columns + c] + scale * delta);
    }
  }
  return y;
}

/** What a float16 tensor holds of these values. */
const roundTrip = (values: Float32Array) => float16ToFloat32(float32ToFloat16(values));

test('a kohya LoRA merges into a float32 external weight, a 3×3 conv and a float16 text-encoder weight', async () => {
  const folder = temporaryFolder('easel-lora-');
  const models = await writeModels(folder);
  const down = roundTrip(seeded(2 * 4, 4));
  const up = roundTrip(seeded(3 * 2, 5));
  const convDown = roundTrip(seeded(1 * 2 * 3 * 3, 6));
  const convUp = roundTrip(seeded(2 * 1, 7));
  const teDown = roundTrip(seeded(2 * 4, 8));
  const teUp = roundTrip(seeded(4 * 2, 9));
  const loraPath = join(folder, 'style.safetensors');
  await writeLora(loraPath, {
    'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight': { shape: [2, 4], values: down },
    'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight': { shape: [3, 2], values: up },
    'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.alpha': { shape: [], values: Float32Array.of(1) },
    'lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight': { shape: [1, 2, 3, 3], values: convDown },
    'lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight': { shape: [2, 1, 1, 1], values: convUp },
    'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight': { shape: [2, 4], values: teDown },
    'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight': { shape: [4, 2], values: teUp },
    'lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha': { shape: [], values: Float32Array.of(4) },
  });
  const file = await openLoraFile(loraPath);
  const lora: AppliedLora = { name: 'style', file, textEncoderMultiplier: 0.5, unetMultiplier: 0.8 };

  const unet = await patchComponent(models.unet, undefined, 'unet', [lora]);
  assert.equal(unet.weights, 2);
  const { session } = await createSessionWithProvider(models.unet, 'cpu', {}, undefined, unet.bytes);
  const x = Float32Array.of(1, -2, 0.5, 3);
  const image = seeded(2 * 9, 10);
  const result = await session.run({ x: new ort.Tensor('float32', x, [1, 4]), image: new ort.Tensor('float32', image, [1, 2, 3, 3]) });
  // alpha 1, rank 2: scale ½ × multiplier 0.8.
  const expected = expectedLinear(x, models.weights[TO_Q], 3, up, down, 2, 0.8 * 0.5);
  const y = result.y.data as Float32Array;
  expected.forEach((value, i) => assert.ok(Math.abs(y[i] - value) < 1e-5, `y[${i}] = ${y[i]}, expected ${value}`));
  // 3×3 conv, no alpha (scale 1): centre pixel = Σ over channels and taps of image · (W + 0.8·up·down).
  const z = result.z.data as Float32Array;
  for (let o = 0; o < 2; o++) {
    let centre = 0;
    for (let c = 0; c < 2; c++) for (let k = 0; k < 9; k++) centre += image[c * 9 + k] * (models.weights[CONV][(o * 2 + c) * 9 + k] + 0.8 * convUp[o] * convDown[c * 9 + k]);
    assert.ok(Math.abs(z[o * 9 + 4] - centre) < 1e-5, `conv out ${o}: ${z[o * 9 + 4]} vs ${centre}`);
  }
  await session.release();

  const text = await patchComponent(models.text, undefined, 'text_encoder', [lora]);
  const textSession = (await createSessionWithProvider(models.text, 'cpu', {}, undefined, text.bytes)).session;
  const textY = (await textSession.run({ x: new ort.Tensor('float32', x, [1, 4]) })).y.data as Float32Array;
  // alpha 4, rank 2: scale 2 × multiplier 0.5; the merged weight is stored back as float16.
  const merged = roundTrip(Float32Array.from({ length: 16 }, (_, i) => {
    const [o, c] = [Math.floor(i / 4), i % 4];
    let delta = 0;
    for (let r = 0; r < 2; r++) delta += teUp[o * 2 + r] * teDown[r * 4 + c];
    return roundTrip(models.weights[Q_PROJ])[i] + 1.0 * delta;
  }));
  for (let o = 0; o < 4; o++) {
    let value = 0;
    for (let c = 0; c < 4; c++) value += x[c] * merged[o * 4 + c];
    assert.ok(Math.abs(textY[o] - value) < 1e-4, `text y[${o}] = ${textY[o]}, expected ${value}`);
  }
  await textSession.release();
});

test('changing LoRAs re-creates only the sessions they touch', async () => {
  const folder = temporaryFolder('easel-lora-');
  const models = await writeModels(folder);
  const unetOnly = join(folder, 'unet_only.safetensors');
  const textOnly = join(folder, 'text_only.safetensors');
  await writeLora(unetOnly, {
    'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight': { shape: [1, 4], values: seeded(4, 11) },
    'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight': { shape: [3, 1], values: seeded(3, 12) },
  });
  await writeLora(textOnly, {
    'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight': { shape: [1, 4], values: seeded(4, 13) },
    'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight': { shape: [4, 1], values: seeded(4, 14) },
  });
  const open = async (path: string) => (await createSessionWithProvider(path, 'cpu')).session;
  const released: string[] = [];
  const model = {
    folder: { components: { unet: models.unet, text_encoder: models.text } },
    provider: 'cpu',
    unet: await open(models.unet),
    textEncoder: await open(models.text),
  } as unknown as LoadedModel;
  model.replaceSession = async (component, session) => {
    const old = component === 'unet' ? model.unet : model.textEncoder;
    if (component === 'unet') model.unet = session;
    else model.textEncoder = session;
    released.push(component);
    await old?.release();
  };
  const use = (path: string, name: string, multiplier: number): Promise<AppliedLora> =>
    openLoraFile(path).then((file) => ({ name, file, textEncoderMultiplier: multiplier, unetMultiplier: multiplier }));
  const runUnet = async () => [...(await model.unet.run({ x: new ort.Tensor('float32', Float32Array.of(1, 1, 1, 1), [1, 4]), image: new ort.Tensor('float32', new Float32Array(18), [1, 2, 3, 3]) })).y.data as Float32Array];
  const plain = await runUnet();

  assert.deepEqual((await applyLoras(model, [await use(unetOnly, 'a', 1)])).recreated, ['unet']);
  const withA = await runUnet();
  assert.notDeepEqual(withA, plain);
  assert.deepEqual((await applyLoras(model, [await use(unetOnly, 'a', 1)])).recreated, [], 'same LoRAs: nothing re-created');
  assert.deepEqual((await applyLoras(model, [await use(unetOnly, 'a', 1), await use(textOnly, 'b', 1)])).recreated, ['text_encoder']);
  assert.deepEqual(await runUnet(), withA);
  assert.deepEqual((await applyLoras(model, [await use(unetOnly, 'a', 0.5), await use(textOnly, 'b', 1)])).recreated, ['unet']);
  assert.deepEqual((await applyLoras(model, [])).recreated, ['text_encoder', 'unet']);
  assert.deepEqual(released, ['unet', 'text_encoder', 'unet', 'text_encoder', 'unet'], 'each replaced session was released');
  assert.deepEqual(await runUnet(), plain, 'without LoRAs the original weights are back');
  await model.unet.release();
  await model.textEncoder?.release();
});

test('SD 2.x: q, k and v LoRAs land on their thirds of OpenCLIP\'s fused in_proj_weight', async () => {
  const folder = temporaryFolder('easel-lora-');
  const IN_PROJ = 'cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight';
  const weight = seeded(12 * 4, 20);
  const graph = new GraphBuilder('text_encoder');
  const x = graph.input('x', 'float32', [1, 4]);
  graph.op('MatMul', [x, graph.op('Transpose', [graph.constant('float32', [12, 4], weight, { name: IN_PROJ })], { perm: [1, 0] })], {}, 'y');
  graph.output('y', 'float32', [1, 12]);
  const modelPath = join(folder, 'text.onnx');
  await writeFile(modelPath, graph.encode().model);
  // Rank-1 LoRAs whose up vectors differ per projection: q adds to rows 0…3 only, k to 4…7, v to 8…11.
  const tensors: Record<string, { shape: number[]; values: Float32Array }> = {};
  const ups = { q: Float32Array.of(1, 0, 0, 0), k: Float32Array.of(0, 2, 0, 0), v: Float32Array.of(0, 0, 0, 3) };
  for (const [p, up] of Object.entries(ups)) {
    tensors[`lora_te_text_model_encoder_layers_0_self_attn_${p}_proj.lora_down.weight`] = { shape: [1, 4], values: Float32Array.of(1, 1, 1, 1) };
    tensors[`lora_te_text_model_encoder_layers_0_self_attn_${p}_proj.lora_up.weight`] = { shape: [4, 1], values: up };
  }
  const loraPath = join(folder, 'sd2.safetensors');
  await writeLora(loraPath, tensors);
  const lora: AppliedLora = { name: 'sd2', file: await openLoraFile(loraPath), textEncoderMultiplier: 1, unetMultiplier: 1 };
  const patched = await patchComponent(modelPath, undefined, 'text_encoder', [lora]);
  const { session } = await createSessionWithProvider(modelPath, 'cpu', {}, undefined, patched.bytes);
  const input = Float32Array.of(1, 2, 3, 4);
  const y = (await session.run({ x: new ort.Tensor('float32', input, [1, 4]) })).y.data as Float32Array;
  const base = Array.from({ length: 12 }, (_, o) => input.reduce((sum, v, c) => sum + v * weight[o * 4 + c], 0));
  // x · down = 10, so row o gains 10 × up[o mod 4] in its third.
  const gain = [1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 3].map((u) => 10 * u);
  base.forEach((value, o) => assert.ok(Math.abs(y[o] - (value + gain[o])) < 1e-4, `row ${o}: ${y[o]} vs ${value + gain[o]}`));
  await session.release();
});
const LORA_REFERENCE = fileURLToPath(new URL('../reference/lora/', import.meta.url));
const SINGLE_FILE = fileURLToPath(new URL('../reference/single_file/', import.meta.url));

interface LoraCase extends TextToImageCase {
  model: string; lora: string; multiplier: number;
}
const loraCases = JSON.parse(readFileSync(join(LORA_REFERENCE, 'cases.json'), 'utf8')) as { tolerance: { mean: number; max: number }; cases: LoraCase[] };

test('the reference kohya LoRA on the imported single-file model reproduces diffusers\' images at both multipliers', async () => {
  const library = temporaryFolder('easel-lora-import-');
  const imported = await importCheckpoint(join(SINGLE_FILE, 'sd15-tiny-public-fp32.safetensors'), {
    destinationRoot: library, name: 'tiny', tokenizerDir: join(SINGLE_FILE, 'diffusers-safetensors', 'tokenizer'),
  });
  const model = await loadModel(await inspectModelFolder(imported.folder), 'cpu');
  try {
    for (const c of loraCases.cases) {
      const tags = parseExtraNetworks(c.prompt).loras;
      assert.deepEqual(tags.map((tag) => [tag.name, tag.unetMultiplier, tag.textEncoderMultiplier]), [['tiny_kohya_public', c.multiplier, c.multiplier]]);
      const file = await openLoraFile(await findLoraFile(tags[0].name, [join(LORA_REFERENCE, 'loras')]));
      const { notices } = await applyLoras(model, [{ name: tags[0].name, file, textEncoderMultiplier: tags[0].textEncoderMultiplier, unetMultiplier: tags[0].unetMultiplier }]);
      assert.deepEqual(notices, []);
      const params = validateParams(referenceCaseParams(c), model);
      const [image] = await generate(model, params);
      const { mean, max } = await compareWithPng(image.rgb, c.width, c.height, join(LORA_REFERENCE, c.expected));
      if (process.env.EASEL_PRINT) console.log(c.id, mean, max);
      assert.ok(mean <= loraCases.tolerance.mean && max <= loraCases.tolerance.max, `${c.id}: mean |Δ| ${mean.toFixed(4)}, max ${max} levels`);
    }
  } finally {
    await model.release();
  }
});

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

test('CLI: <lora:…> with --lora-dir on an imported checkpoint writes the reference image and A1111\'s Lora hashes', async () => {
  const dir = temporaryFolder('easel-cli-lora-');
  const models = join(dir, 'models');
  const imported = spawnSync(process.execPath, [CLI, 'models', 'import', join(SINGLE_FILE, 'sd15-tiny-public-fp32.safetensors'), '--dir', models,
    '--tokenizer', join(SINGLE_FILE, 'diffusers-safetensors', 'tokenizer')], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(imported.status, 0, imported.stderr);
  const c = loraCases.cases[0];
  const out = join(dir, 'cat.png');
  const run = spawnSync(process.execPath, [CLI, 'generate', '--model', imported.stdout.trim(), '--prompt', c.prompt, '--negative-prompt', c.negative,
    '--sampler', c.sampler, '--steps', String(c.steps), '--cfg', String(c.cfg), '--seed', String(c.seed), '--width', String(c.width), '--height', String(c.height),
    '--emphasis', 'None', '--lora-dir', join(LORA_REFERENCE, 'loras'), '--out', out, '--yes'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.status, 0, run.stderr);
  const metadata = readImageMetadata(readFileSync(out));
  assert.equal(metadata.parameters.loraHashes, 'tiny_kohya_public: 0ff80f3029d5');
  assert.match(readImageMetadata(readFileSync(out)).chunks.find((chunk) => chunk.keyword === 'parameters')?.text ?? '', /<lora:tiny_kohya_public:0\.8>\n.*Lora hashes: "tiny_kohya_public: 0ff80f3029d5"/s);
  const { data, info } = await sharp(out).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const { mean, max } = await compareWithPng(new Uint8Array(data), info.width, info.height, join(LORA_REFERENCE, c.expected));
  assert.ok(mean <= loraCases.tolerance.mean && max <= loraCases.tolerance.max, `mean ${mean}, max ${max}`);
});

const OPTIMUM = fileURLToPath(new URL('../reference/img2img_inpaint/model-optimum-main/', import.meta.url));

/**
 * Layers of the real Optimum export in test/reference/img2img_inpaint/model-optimum-main, with the
 * initializer each one's node reads, as its graph holds them: Linear weights renamed `onnx::MatMul_…`
 * and stored [in, out] for MatMul, Conv and Gemm (transB) weights under their module names, [out, in, …].
 */
const OPTIMUM_LAYERS = [
  { component: 'unet', module: 'down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q', initializer: 'onnx::MatMul_5747', out: 16, in: 16, kernel: 0, layout: 'in,out' },
  { component: 'unet', module: 'down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k', initializer: 'onnx::MatMul_5758', out: 16, in: 48, kernel: 0, layout: 'in,out' },
  { component: 'unet', module: 'down_blocks_0_attentions_0_transformer_blocks_0_ff_net_0_proj', initializer: 'onnx::MatMul_5767', out: 128, in: 16, kernel: 0, layout: 'in,out' },
  { component: 'unet', module: 'down_blocks_0_resnets_0_conv1', initializer: 'down_blocks.0.resnets.0.conv1.weight', out: 16, in: 16, kernel: 3, layout: 'out,in' },
  { component: 'unet', module: 'down_blocks_0_attentions_0_proj_in', initializer: 'down_blocks.0.attentions.0.proj_in.weight', out: 16, in: 16, kernel: 1, layout: 'out,in' },
  { component: 'unet', module: 'down_blocks_0_resnets_0_time_emb_proj', initializer: 'down_blocks.0.resnets.0.time_emb_proj.weight', out: 16, in: 64, kernel: 0, layout: 'out,in' },
  { component: 'text_encoder', module: 'text_model_encoder_layers_0_self_attn_q_proj', initializer: 'onnx::MatMul_371', out: 48, in: 48, kernel: 0, layout: 'in,out' },
  { component: 'text_encoder', module: 'text_model_encoder_layers_1_mlp_fc2', initializer: 'onnx::MatMul_396', out: 48, in: 192, kernel: 0, layout: 'in,out' },
] as const;
const OPTIMUM_RANK = 4;
const OPTIMUM_ALPHA = 2;

/** A kohya LoRA for OPTIMUM_LAYERS (fp16 like real files) and, per initializer, the change it must make, by plain loops. */
async function writeOptimumLora(path: string, multipliers: Record<'unet' | 'text_encoder', number>): Promise<Map<string, Float32Array>> {
  const tensors: Record<string, { shape: number[]; values: Float32Array }> = {};
  const changes = new Map<string, Float32Array>();
  OPTIMUM_LAYERS.forEach((layer, index) => {
    const name = `lora_${layer.component === 'unet' ? 'unet' : 'te'}_${layer.module}`;
    const taps = layer.kernel === 0 ? 1 : layer.kernel * layer.kernel;
    const columns = layer.in * taps;
    const down = roundTrip(seeded(OPTIMUM_RANK * columns, 30 + index));
    const up = roundTrip(seeded(layer.out * OPTIMUM_RANK, 60 + index));
    const kernel = layer.kernel === 0 ? [] : [layer.kernel, layer.kernel];
    tensors[`${name}.lora_down.weight`] = { shape: [OPTIMUM_RANK, layer.in, ...kernel], values: down };
    tensors[`${name}.lora_up.weight`] = { shape: [layer.out, OPTIMUM_RANK, ...(layer.kernel === 0 ? [] : [1, 1])], values: up };
    tensors[`${name}.alpha`] = { shape: [], values: Float32Array.of(OPTIMUM_ALPHA) };
    const scale = multipliers[layer.component] * (OPTIMUM_ALPHA / OPTIMUM_RANK);
    const change = new Float32Array(layer.out * columns);
    for (let o = 0; o < layer.out; o++) {
      for (let c = 0; c < columns; c++) {
        let delta = 0;
        for (let r = 0; r < OPTIMUM_RANK; r++) delta += up[o * OPTIMUM_RANK + r] * down[r * columns + c];
        change[layer.layout === 'out,in' ? o * columns + c : c * layer.out + o] = scale * delta;
      }
    }
    changes.set(layer.initializer, change);
  });
  await writeLora(path, tensors);
  return changes;
}

test('on a real Optimum ONNX export, a kohya LoRA lands on the weights its modules name: renamed MatMul weights ([in, out]) get the transposed delta, Conv and Gemm weights theirs', async () => {
  const loraPath = join(temporaryFolder('easel-lora-optimum-'), 'optimum.safetensors');
  const multipliers = { unet: 0.8, text_encoder: 0.6 };
  const changes = await writeOptimumLora(loraPath, multipliers);
  const lora: AppliedLora = { name: 'optimum', file: await openLoraFile(loraPath), textEncoderMultiplier: multipliers.text_encoder, unetMultiplier: multipliers.unet };
  for (const component of ['unet', 'text_encoder'] as const) {
    const modelPath = join(OPTIMUM, component, 'model.onnx');
    const patched = await patchComponent(modelPath, undefined, component, [lora]);
    const layers = OPTIMUM_LAYERS.filter((layer) => layer.component === component);
    assert.deepEqual([patched.weights, [...patched.unmatched]], [layers.length, []], component);
    const original = new Uint8Array(readFileSync(modelPath));
    const before = listInitializers(original);
    const after = listInitializers(patched.bytes!);
    for (const layer of layers) {
      const was = await readInitializerFloats(modelPath, join(OPTIMUM, component), original, before.get(layer.initializer)!);
      const now = await readInitializerFloats(modelPath, join(OPTIMUM, component), patched.bytes!, after.get(layer.initializer)!);
      const change = changes.get(layer.initializer)!;
      let worst = 0;
      for (let i = 0; i < was.length; i++) worst = Math.max(worst, Math.abs(now[i] - was[i] - change[i]));
      assert.ok(worst < 1e-6, `${layer.module} → ${layer.initializer}: off by ${worst}`);
    }
    const untouched = [...before.keys()].filter((name) => !changes.has(name));
    assert.ok(untouched.every((name) => after.get(name)?.external?.offset === before.get(name)?.external?.offset), 'every other weight stays external, where it was');
  }
});

test('a LoRA on an Optimum ONNX folder, applied at load, gives the image of the same folder with its deltas written into the weights by hand', async () => {
  const dir = temporaryFolder('easel-lora-optimum-');
  const loraPath = join(dir, 'optimum.safetensors');
  const multipliers = { unet: 0.8, text_encoder: 0.6 };
  const changes = await writeOptimumLora(loraPath, multipliers);
  // The by-hand copy: each changed weight rewritten in place, in model.onnx_data (UNet) or model.onnx (text encoder).
  const byHand = join(dir, 'by-hand');
  cpSync(OPTIMUM, byHand, { recursive: true });
  for (const component of ['unet', 'text_encoder'] as const) {
    const modelPath = join(byHand, component, 'model.onnx');
    const model = new Uint8Array(readFileSync(modelPath));
    const initializers = listInitializers(model);
    for (const layer of OPTIMUM_LAYERS.filter((item) => item.component === component)) {
      const info = initializers.get(layer.initializer)!;
      const values = await readInitializerFloats(modelPath, join(byHand, component), model, info);
      const change = changes.get(layer.initializer)!;
      const bytes = new Uint8Array(Float32Array.from(values, (value, i) => value + change[i]).buffer);
      if (info.external) {
        const dataPath = join(byHand, component, info.external.location);
        const data = new Uint8Array(readFileSync(dataPath));
        data.set(bytes, info.external.offset);
        writeFileSync(dataPath, data);
      } else {
        model.set(bytes, info.embedded!.from);
      }
    }
    writeFileSync(modelPath, model);
  }
  const withLora = await loadModel(await inspectModelFolder(OPTIMUM), 'cpu');
  const merged = await loadModel(await inspectModelFolder(byHand), 'cpu');
  try {
    const params = { prompt: 'a lighthouse on a cliff', negativePrompt: 'fog', sampler: 'Euler a', steps: 4, cfgScale: 7.5, seed: 5, width: 64, height: 64 } as const;
    const [plain] = await generate(withLora, validateParams(params, withLora));
    const lora: AppliedLora = { name: 'optimum', file: await openLoraFile(loraPath), textEncoderMultiplier: multipliers.text_encoder, unetMultiplier: multipliers.unet };
    const { notices, recreated } = await applyLoras(withLora, [lora]);
    assert.deepEqual([notices, recreated], [[], ['text_encoder', 'unet']]);
    const [applied] = await generate(withLora, validateParams(params, withLora));
    const [expected] = await generate(merged, validateParams(params, merged));
    const diff = imageDifference(applied.rgb, expected.rgb);
    if (process.env.EASEL_PRINT) console.log('at load vs by hand', diff, 'vs no LoRA', imageDifference(applied.rgb, plain.rgb));
    assert.ok(diff.max <= 1, `LoRA at load vs by hand: mean ${diff.mean}, max ${diff.max}`);
    assert.ok(imageDifference(applied.rgb, plain.rgb).mean > 1, 'the LoRA changes the image');
  } finally {
    await withLora.release();
    await merged.release();
  }
});
