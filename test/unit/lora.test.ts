import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { listInitializers, listNodes } from '../../src/engine/onnx/initializers.ts';
import { readSafetensorsHeader } from '../../src/engine/checkpoint/safetensors.ts';
import { exportLayerMapping, groupLoraModules, kohyaToCompvis, layerMapping, resolveLoraTargets } from '../../src/engine/lora/loraKeys.ts';
import { addLoraDelta, loraScale } from '../../src/engine/lora/loraMerge.ts';

const reference = (path: string) => fileURLToPath(new URL(`../reference/${path}`, import.meta.url));

test('A1111 names: diffusers-named kohya modules map to the LDM layer names', () => {
  const sd1 = (name: string) => kohyaToCompvis(name, false);
  assert.equal(sd1('lora_unet_down_blocks_0_attentions_1_transformer_blocks_0_attn1_to_q'), 'diffusion_model_input_blocks_2_1_transformer_blocks_0_attn1_to_q');
  assert.equal(sd1('lora_unet_down_blocks_2_resnets_1_conv1'), 'diffusion_model_input_blocks_8_0_in_layers_2');
  assert.equal(sd1('lora_unet_down_blocks_1_resnets_0_conv_shortcut'), 'diffusion_model_input_blocks_4_0_skip_connection');
  assert.equal(sd1('lora_unet_down_blocks_1_downsamplers_0_conv'), 'diffusion_model_input_blocks_6_0_op');
  assert.equal(sd1('lora_unet_mid_block_attentions_0_proj_out'), 'diffusion_model_middle_block_1_proj_out');
  assert.equal(sd1('lora_unet_mid_block_resnets_1_time_emb_proj'), 'diffusion_model_middle_block_2_emb_layers_1');
  assert.equal(sd1('lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_ff_net_2'), 'diffusion_model_output_blocks_11_1_transformer_blocks_0_ff_net_2');
  assert.equal(sd1('lora_unet_up_blocks_0_resnets_2_conv2'), 'diffusion_model_output_blocks_2_0_out_layers_3');
  assert.equal(sd1('lora_unet_up_blocks_0_upsamplers_0_conv'), 'diffusion_model_output_blocks_2_1_conv');
  assert.equal(sd1('lora_unet_up_blocks_2_upsamplers_0_conv'), 'diffusion_model_output_blocks_8_2_conv');
  assert.equal(sd1('lora_unet_time_embedding_linear_2'), 'diffusion_model_time_embed_2');
  assert.equal(sd1('lora_unet_conv_in'), 'diffusion_model_input_blocks_0_0');
  assert.equal(sd1('lora_te_text_model_encoder_layers_11_mlp_fc1'), 'transformer_text_model_encoder_layers_11_mlp_fc1');
  assert.equal(kohyaToCompvis('lora_te_text_model_encoder_layers_3_mlp_fc2', true), 'model_transformer_resblocks_3_mlp_c_proj');
  assert.equal(kohyaToCompvis('lora_te_text_model_encoder_layers_3_self_attn_q_proj', true), 'model_transformer_resblocks_3_attn_q_proj');
});

test('LDM-named kohya keys, PEFT and old diffusers processor names resolve to the same checkpoint weights', () => {
  const mapping = layerMapping([
    'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight',
    'model.diffusion_model.input_blocks.1.1.proj_in.weight',
    'model.diffusion_model.output_blocks.3.1.transformer_blocks.0.attn2.to_out.0.weight',
    'cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.k_proj.weight',
  ]);
  const modules = groupLoraModules('mixed.safetensors', [
    'lora_unet_input_blocks_1_1_proj_in.lora_down.weight', 'lora_unet_input_blocks_1_1_proj_in.lora_up.weight', 'lora_unet_input_blocks_1_1_proj_in.alpha',
    'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight', 'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_B.weight',
    'unet.up_blocks.1.attentions.0.transformer_blocks.0.attn2.processor.to_out_lora.down.weight', 'unet.up_blocks.1.attentions.0.transformer_blocks.0.attn2.processor.to_out_lora.up.weight',
    'text_encoder.text_model.encoder.layers.0.self_attn.k_proj.lora_linear_layer.down.weight', 'text_encoder.text_model.encoder.layers.0.self_attn.k_proj.lora_linear_layer.up.weight',
    'lora_unet_up_blocks_9_attentions_0_nothing.lora_down.weight', 'lora_unet_up_blocks_9_attentions_0_nothing.lora_up.weight',
  ]);
  const { matched, unmatched } = resolveLoraTargets(modules, mapping, false);
  assert.deepEqual(matched.map(({ target }) => target.key).sort(), [
    'cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.k_proj.weight',
    'model.diffusion_model.input_blocks.1.1.proj_in.weight',
    'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight',
    'model.diffusion_model.output_blocks.3.1.transformer_blocks.0.attn2.to_out.0.weight',
  ]);
  assert.equal(matched.find(({ target }) => target.key.includes('proj_in'))?.module.alpha, 'lora_unet_input_blocks_1_1_proj_in.alpha');
  assert.deepEqual(unmatched, ['lora_unet_up_blocks_9_attentions_0_nothing']);
});

test('SD 2.x: q/k/v LoRAs land on thirds of OpenCLIP\'s fused in_proj_weight, out_proj on its own weight', () => {
  const mapping = layerMapping([
    'cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight',
    'cond_stage_model.model.transformer.resblocks.0.attn.out_proj.weight',
  ]);
  const names = ['q_proj', 'k_proj', 'v_proj', 'out_proj'].flatMap((p) => [`lora_te_text_model_encoder_layers_0_self_attn_${p}.lora_down.weight`, `lora_te_text_model_encoder_layers_0_self_attn_${p}.lora_up.weight`]);
  const { matched, unmatched } = resolveLoraTargets(groupLoraModules('sd2.safetensors', names), mapping, true);
  assert.deepEqual(unmatched, []);
  assert.deepEqual(matched.map(({ target }) => [target.key.split('.').at(-1), target.fusedPart]), [
    ['in_proj_weight', 0], ['in_proj_weight', 1], ['in_proj_weight', 2], ['weight', undefined],
  ]);
});

test('the reference kohya LoRA resolves every module onto the reference single-file checkpoint', async () => {
  const lora = await readSafetensorsHeader(reference('lora/loras/tiny_kohya_public.safetensors'));
  const checkpoint = await readSafetensorsHeader(reference('single_file/sd15-tiny-public-fp32.safetensors'));
  const modules = groupLoraModules('tiny_kohya_public.safetensors', lora.tensors.keys());
  assert.equal(modules.length, 136);
  const { matched, unmatched } = resolveLoraTargets(modules, layerMapping(checkpoint.tensors.keys()), false);
  assert.deepEqual(unmatched, []);
  for (const { module, target } of matched) {
    const weight = checkpoint.tensors.get(target.key)!;
    assert.deepEqual([lora.tensors.get(module.up)!.shape[0], lora.tensors.get(module.down)!.shape[1]], weight.shape.slice(0, 2), target.key);
  }
  assert.equal(matched.filter(({ target }) => target.component === 'text_encoder').length, 8);
});

test('LyCORIS and other adapters are refused by name; a file without LoRA tensors says what it expects', () => {
  assert.throws(() => groupLoraModules('loha.safetensors', ['lora_unet_x.hada_w1_a', 'lora_unet_x.hada_w1_b']), /loha\.safetensors is LoHa \(LyCORIS\)/);
  assert.throws(() => groupLoraModules('lokr.safetensors', ['lora_unet_x.lokr_w1']), /LoKr/);
  assert.throws(() => groupLoraModules('sdxl.safetensors', ['lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight']), /SDXL/);
  assert.throws(() => groupLoraModules('model.safetensors', ['model.diffusion_model.out.2.weight']), /no LoRA weights Easel recognises/);
  assert.throws(() => groupLoraModules('half.safetensors', ['lora_unet_a.lora_down.weight']), /no up weight/);
});

test('merge: W + multiplier · alpha/rank · up·down for Linear and 3×3 conv weights, and into a row block', () => {
  // up [2, 1] = [1, 2], down [1, 2] = [3, 4], alpha 0.5, rank 1: scale 0.5; multiplier 2 → up·down = [[3, 4], [6, 8]].
  const linear = Float32Array.of(1, 1, 1, 1);
  const factor = { up: Float32Array.of(1, 2), upShape: [2, 1], down: Float32Array.of(3, 4), downShape: [1, 2], alpha: 0.5 };
  assert.equal(loraScale(factor), 0.5);
  addLoraDelta(linear, [2, 2], factor, 2, 'linear');
  assert.deepEqual([...linear], [4, 5, 7, 9]);
  assert.equal(loraScale({ downShape: [4, 8] }), 1, 'no alpha: scale 1');
  // Rank 2 with alpha 1: scale ½; up [[1, 0], [0, 1]] picks the rows of down.
  const rank2 = new Float32Array(4);
  addLoraDelta(rank2, [2, 2], { up: Float32Array.of(1, 0, 0, 1), upShape: [2, 2], down: Float32Array.of(2, 4, 6, 8), downShape: [2, 2], alpha: 1 }, 1, 'rank2');
  assert.deepEqual([...rank2], [1, 2, 3, 4]);
  // 3×3 conv: down [1, 1, 3, 3] = 1…9, up [2, 1, 1, 1] = [1, −1]: the kernels ±(1…9).
  const conv = new Float32Array(18);
  const nine = Float32Array.from({ length: 9 }, (_, i) => i + 1);
  addLoraDelta(conv, [2, 1, 3, 3], { up: Float32Array.of(1, -1), upShape: [2, 1, 1, 1], down: nine, downShape: [1, 1, 3, 3] }, 1, 'conv');
  assert.deepEqual([...conv], [...nine, ...nine.map((v) => -v)]);
  // The k third of a fused [6, 2] in_proj: rows 2…3.
  const fused = new Float32Array(12);
  addLoraDelta(fused, [6, 2], { ...factor, alpha: undefined }, 1, 'fused', 2);
  assert.deepEqual([...fused], [0, 0, 0, 0, 3, 4, 6, 8, 0, 0, 0, 0]);
  assert.throws(() => addLoraDelta(new Float32Array(6), [2, 3], factor, 1, 'to_q'), /LoRA makes \[2, 2\] but the model's weight is \[2, 3\]/);
});

test('Optimum exports (real ones: model-optimum-main, and LCM\'s with a `u.` wrapper) give every MatMul, Gemm and Conv weight a module; kohya names resolve onto them', () => {
  const exports = [
    { path: 'test/reference/img2img_inpaint/model-optimum-main/unet/model.onnx', component: 'unet', module: 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q', weight: 'onnx::MatMul_5747' },
    { path: 'test/reference/img2img_inpaint/model-optimum-main/text_encoder/model.onnx', component: 'text_encoder', module: 'lora_te_text_model_encoder_layers_1_self_attn_out_proj', weight: 'onnx::MatMul_394' },
    { path: 'test/reference/lcm_guidance/model-lcm-optimum-1x/unet/model.onnx', component: 'unet', module: 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q', weight: 'onnx::MatMul_5749' },
    { path: 'test/reference/lcm_guidance/model-lcm-optimum-1x/unet/model.onnx', component: 'unet', module: 'lora_unet_up_blocks_0_resnets_1_conv_shortcut', weight: 'u.up_blocks.0.resnets.1.conv_shortcut.weight' },
  ] as const;
  for (const { path, component, module, weight } of exports) {
    const model = new Uint8Array(readFileSync(path));
    const initializers = listInitializers(model);
    const nodes = listNodes(model);
    const mapping = exportLayerMapping(nodes, new Map([...initializers].map(([name, info]) => [name, info.dims])), component);
    const weighted = nodes.filter((node) => ['MatMul', 'Gemm', 'Conv'].includes(node.op) && initializers.has(node.inputs[1]));
    assert.equal(new Set([...mapping.values()].map((target) => target.key)).size, weighted.length, `${path}: every weight has its module`);
    const resolved = resolveLoraTargets([{ name: module, down: 'd', up: 'u' }], mapping, false);
    assert.deepEqual(resolved.matched.map(({ target }) => [target.key, target.transposed]), [[weight, weight.startsWith('onnx::MatMul')]], `${path}: ${module}`);
  }
});
