import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSafetensorsHeader } from '../../../src/engine/checkpoint/safetensors.ts';
import { buildFloat16Graphs, buildGraphs, openCheckpoint } from '../../../src/engine/checkpoint/buildGraphs.ts';
import { listInitializers } from '../../../src/engine/onnx/initializers.ts';
import { checkpointTensorList, SYNTHETIC_CONFIGS } from '../../../src/engine/checkpoint/syntheticCheckpoint.ts';
import { unetKeyMap, vaeKeyMap } from '../../../src/engine/checkpoint/diffusersKeys.ts';
import { readYamlOverrides, SD15_CONFIG } from '../../../src/engine/checkpoint/ldmConfig.ts';
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { temporaryFolder } from '../../helpers/fixtures.ts';
import { parseMiniYaml } from '../../../src/engine/checkpoint/miniYaml.ts';

const FP32 = 'test/reference/single_file/sd15-tiny-public-fp32.safetensors';
const FP16 = 'test/reference/single_file/sd15-tiny-public-fp16.safetensors';
const FLOAT = 1;
const FLOAT16 = 10;

const parameters = (list: Array<{ name: string; shape: number[] }>, prefix: string) =>
  list.filter((t) => t.name.startsWith(prefix)).reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1), 0);

test('the graph builders read exactly the tensors of the reference checkpoint, with its shapes', async () => {
  const source = await openCheckpoint(FP32);
  const header = await readSafetensorsHeader(FP32);
  const wanted = checkpointTensorList(source.config);
  assert.deepEqual(wanted.map((t) => t.name), [...header.tensors.keys()].sort());
  for (const { name, shape } of wanted) assert.deepEqual(shape, header.tensors.get(name)!.shape, name);
});

test('the reference yaml gives the tiny configuration: heads, groups and text width cannot come from shapes', async () => {
  const { config } = await openCheckpoint(FP32);
  assert.equal(config.unet.numHeads, 8);
  assert.equal(config.unet.groups, 16);
  assert.equal(config.vae.groups, 16);
  assert.deepEqual(config.unet.channelMult, [1, 1, 1, 2]);
  assert.deepEqual({ width: config.text.width, heads: config.text.heads, layers: config.text.layers, activation: config.text.activation }, { width: 32, heads: 2, layers: 2, activation: 'quick_gelu' });
  assert.equal(config.source, 'sd15-tiny-public-fp32.yaml');
});

// Parameter counts of the real models as diffusers / transformers report them (num_parameters()).
test('a synthetic SD 1.5 has SD 1.5\'s tensors: UNet 859,520,964, VAE 83,653,863, CLIP ViT-L text 123,060,480 parameters', () => {
  const list = checkpointTensorList(SYNTHETIC_CONFIGS.sd15);
  assert.equal(parameters(list, 'model.diffusion_model.'), 859_520_964);
  assert.equal(parameters(list, 'first_stage_model.'), 83_653_863);
  assert.equal(parameters(list, 'cond_stage_model.transformer.text_model.'), 123_060_480);
  assert.equal(list.filter((t) => t.name.startsWith('model.diffusion_model.')).length, 686);
});

test('a synthetic SD 2.1 / SD-Turbo has SD 2.1\'s UNet (865,910,724) and OpenCLIP ViT-H run to its penultimate layer (340,387,840)', () => {
  const list = checkpointTensorList(SYNTHETIC_CONFIGS['sd-turbo']);
  assert.equal(parameters(list, 'model.diffusion_model.'), 865_910_724);
  assert.equal(parameters(list, 'cond_stage_model.model.'), 340_387_840);
  assert.ok(list.some((t) => t.name === 'cond_stage_model.model.transformer.resblocks.22.attn.in_proj_weight'));
  assert.ok(!list.some((t) => t.name.startsWith('cond_stage_model.model.transformer.resblocks.23.')), 'the last layer is not run');
});

test('diffusers → LDM key tables agree with diffusers\' conversion script on SD 1.5', () => {
  const unet = unetKeyMap(SD15_CONFIG.unet);
  assert.equal(unet('input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight'), 'down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight');
  assert.equal(unet('input_blocks.3.0.op.weight'), 'down_blocks.0.downsamplers.0.conv.weight');
  assert.equal(unet('input_blocks.7.0.skip_connection.bias'), 'down_blocks.2.resnets.0.conv_shortcut.bias');
  assert.equal(unet('output_blocks.2.1.conv.weight'), 'up_blocks.0.upsamplers.0.conv.weight');
  assert.equal(unet('output_blocks.5.2.conv.weight'), 'up_blocks.1.upsamplers.0.conv.weight');
  assert.equal(unet('output_blocks.11.1.proj_out.weight'), 'up_blocks.3.attentions.2.proj_out.weight');
  assert.equal(unet('middle_block.2.emb_layers.1.weight'), 'mid_block.resnets.1.time_emb_proj.weight');
  assert.equal(unet('out.2.weight'), 'conv_out.weight');
  const vae = vaeKeyMap(SD15_CONFIG.vae);
  assert.equal(vae('decoder.up.3.block.2.conv1.weight'), 'decoder.up_blocks.0.resnets.2.conv1.weight');
  assert.equal(vae('decoder.up.1.upsample.conv.weight'), 'decoder.up_blocks.2.upsamplers.0.conv.weight');
  assert.equal(vae('encoder.down.1.block.0.nin_shortcut.weight'), 'encoder.down_blocks.1.resnets.0.conv_shortcut.weight');
  assert.equal(vae('decoder.mid.attn_1.proj_out.bias'), 'decoder.mid_block.attentions.0.to_out.0.bias');
  assert.equal(vae('encoder.norm_out.weight'), 'encoder.conv_norm_out.weight');
});

test('the yaml subset reader handles v1-inference.yaml\'s forms', () => {
  const parsed = parseMiniYaml('model:\n  params:\n    parameterization: "v"  # comment\n    unet_config:\n      params:\n        channel_mult: [ 1, 2, 4, 4 ]\n        use_linear_in_transformer: True\n        scale: 0.18215\n    empty: []\n');
  assert.deepEqual(parsed, { model: { params: { parameterization: 'v', unet_config: { params: { channel_mult: [1, 2, 4, 4], use_linear_in_transformer: true, scale: 0.18215 } }, empty: [] } } });
});

test('the yaml subset reader reads block lists, as v1/v2-inference.yaml write ch_mult, and refuses what it cannot read', () => {
  // ddconfig as the original v2-inference-v.yaml writes it: the "- n" items at the key's own indentation.
  const ddconfig = '        ddconfig:\n          z_channels: 4\n          ch: 128\n          ch_mult:\n          - 1\n          - 2\n          - 4\n          - 4\n          num_res_blocks: 2\n          attn_resolutions: []\n';
  const parsed = parseMiniYaml(`model:\n  params:\n    first_stage_config:\n      params:\n${ddconfig}    scale_factor: 0.18215\n`);
  assert.deepEqual(parsed, { model: { params: { first_stage_config: { params: { ddconfig: { z_channels: 4, ch: 128, ch_mult: [1, 2, 4, 4], num_res_blocks: 2, attn_resolutions: [] } } }, scale_factor: 0.18215 } } });
  assert.deepEqual(parseMiniYaml('a:\n  - x\n  - "y"\nb: 1\n'), { a: ['x', 'y'], b: 1 });
  assert.throws(() => parseMiniYaml('a: 1\n- 2\n'), /line 2: a list item "-" must follow a key with no value/);
  assert.throws(() => parseMiniYaml('a:\n  - name: x\n'), /line 2: lists of mappings are not supported/);
});

test('a yaml decides the parameterization as LDM does: "v" is v-prediction, no key is ε (v2-inference.yaml, SD 2.x base)', async () => {
  const dir = temporaryFolder();
  const base = SYNTHETIC_CONFIGS.sd21;
  writeFileSync(join(dir, 'v.yaml'), 'model:\n  params:\n    parameterization: "v"\n');
  writeFileSync(join(dir, 'eps.yaml'), 'model:\n  params:\n    linear_start: 0.00085\n');
  const v = await readYamlOverrides(join(dir, 'v.yaml'), base);
  const eps = await readYamlOverrides(join(dir, 'eps.yaml'), base);
  assert.deepEqual([v.prediction, v.imageSize], ['v_prediction', 768]);
  assert.deepEqual([eps.prediction, eps.imageSize], ['epsilon', 512]);
});

test('an fp16 checkpoint gets float16 text-encoder and UNet graphs whose weights are its float16 bytes where they lie; the VAE has none (diffusers\' force_upcast)', async () => {
  const source = await openCheckpoint(FP16);
  assert.equal(source.float16, true);
  assert.equal((await openCheckpoint(FP32)).float16, false);
  const header = await readSafetensorsHeader(FP16);
  const float16 = buildFloat16Graphs(source.config, source.weights, { attention: 'fused' });
  assert.deepEqual(Object.keys(float16).sort(), ['text_encoder', 'unet']);
  const float32 = buildGraphs(source.config, source.weights, { attention: 'fused' });
  for (const [component, prefix] of [['unet', 'model.diffusion_model.'], ['text_encoder', 'cond_stage_model.']] as const) {
    const initializers = listInitializers(float16[component].encode().model);
    const weights = [...header.tensors.values()].filter((entry) => entry.name.startsWith(prefix));
    assert.ok(weights.length > 10 && weights.every((entry) => entry.dtype === 'F16'));
    for (const entry of weights) {
      const initializer = initializers.get(entry.name);
      assert.equal(initializer?.dataType, FLOAT16, entry.name);
      assert.deepEqual(initializer.external, { location: basename(FP16), offset: entry.begin, length: entry.end - entry.begin }, entry.name);
    }
    assert.deepEqual([...initializers.values()].filter((i) => i.external && !header.tensors.has(i.name)), [], 'nothing else reads the checkpoint');
    // The cpu's graph reads the same bytes and casts them at load.
    const cpu = listInitializers(float32[component].encode().model);
    for (const entry of weights) assert.deepEqual(cpu.get(entry.name)?.external, initializers.get(entry.name)?.external);
  }
});

test('the float16 graphs keep in float32 what float16 is unsafe for (GroupNorm and LayerNorm statistics, softmax, the timestep sinusoid) and use every weight matrix as stored', async () => {
  const source = await openCheckpoint(FP16);
  const header = await readSafetensorsHeader(FP16);
  for (const attention of ['fused', 'plain'] as const) {
    const graphs = buildFloat16Graphs(source.config, source.weights, { attention });
    for (const [component, graph] of Object.entries(graphs)) {
      const nodes = graph.graphNodes;
      const producer = new Map(nodes.flatMap((node) => node.outputs.map((output) => [output, node] as const)));
      const castTo = (value: string) => (producer.get(value)?.op === 'Cast' ? producer.get(value)!.attributes.to : undefined);
      // A float32 value: cast to float32, reshaped, or with the (float32) causal mask added.
      const isFloat32 = (value: string): boolean => castTo(value) === FLOAT || (['Add', 'Reshape'].includes(producer.get(value)?.op ?? '') && isFloat32(producer.get(value)!.inputs[0]));
      const stable = nodes.filter((node) => ['InstanceNormalization', 'LayerNormalization', 'Softmax'].includes(node.op));
      assert.ok(stable.length > 0);
      for (const node of stable) assert.ok(isFloat32(node.inputs[0]), `${component} (${attention}): ${node.name} runs in float32`);
      const castWeights = nodes.filter((node) => node.op === 'Cast' && header.tensors.has(node.inputs[0]));
      for (const cast of castWeights) {
        assert.deepEqual([header.tensors.get(cast.inputs[0])!.shape.length, cast.attributes.to], [1, FLOAT], `${component}: only norm vectors are cast (${cast.inputs[0]})`);
      }
      if (component === 'unet') {
        const embedding = nodes.find((node) => node.inputs.includes('timestep/embedding'));
        assert.deepEqual([embedding?.op, embedding?.attributes.to], ['Cast', FLOAT16], 'the sinusoid is float32, then cast as diffusers does');
      }
    }
  }
});
