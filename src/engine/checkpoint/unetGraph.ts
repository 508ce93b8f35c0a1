import type { GraphBuilder } from '../onnx/onnxWriter.ts';
import { headsAt, type UNetConfig } from './ldmConfig.ts';
import { Layers, type LayerOptions } from './layers.ts';
import type { WeightSource } from './weights.ts';

/**
 * ldm's openaimodel.UNetModel (SD 1.x/2.x) as an ONNX graph with diffusers' ONNX signature:
 * sample [B, C, H, W], timestep [B] (float, as diffusers' PyTorch pipeline passes it),
 * encoder_hidden_states [B, 77, context] → out_sample. Weights are read by their LDM keys under `prefix`.
 */
export function buildUNetGraph(config: UNetConfig, weights: WeightSource, prefix: string, options: LayerOptions): GraphBuilder {
  const L = new Layers('unet', weights, options);
  const g = L.g;
  const { groups } = config;
  const sample = g.input('sample', L.dtype, ['batch', config.inChannels, 'height', 'width']);
  // The timestep stays float32 in a float16 graph: Karras timesteps are fractional, and float16 keeps
  // only half-steps above 512. diffusers computes the sinusoid in float32 and casts it, as here.
  const timestep = g.input('timestep', 'float32', ['timestep_batch']);
  const context = g.input('encoder_hidden_states', L.dtype, ['batch', 'sequence', config.contextDim]);
  const ch0 = config.modelChannels;
  const timeDim = ch0 * 4;

  // Sinusoidal embedding, cos first (flip_sin_to_cos), frequencies exp(−ln(10000)·i/half).
  const half = ch0 / 2;
  const frequencies = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half));
  const t = g.op('Reshape', [timestep, g.ints([-1, 1])], {}, 'timestep/column');
  const args = g.op('Mul', [t, g.constant('float32', [1, half], frequencies, { name: 'timestep/frequencies' })], {}, 'timestep/args');
  const sinusoid = g.op('Concat', [g.op('Cos', [args], {}, 'timestep/cos'), g.op('Sin', [args], {}, 'timestep/sin')], { axis: 1 }, 'timestep/embedding');
  const e1 = L.linear(L.fromFloat32(sinusoid, 'timestep/embedding_cast'), `${prefix}time_embed.0`, ch0, timeDim);
  const emb = L.linear(L.silu(e1, `${prefix}time_embed.1`), `${prefix}time_embed.2`, timeDim, timeDim);
  const embActivated = L.silu(emb, `${prefix}emb`);

  const resBlock = (x: string, key: string, inCh: number, outCh: number): string => {
    let h = L.groupNorm(x, `${key}.in_layers.0`, inCh, groups, 1e-5);
    h = L.conv(L.silu(h, `${key}.in_layers.1`), `${key}.in_layers.2`, inCh, outCh, 3);
    const e = L.linear(embActivated, `${key}.emb_layers.1`, timeDim, outCh);
    h = g.op('Add', [h, g.op('Unsqueeze', [e, g.ints([2, 3])], {}, `${key}.emb_layers/nchw`)], {}, `${key}/with_emb`);
    h = L.groupNorm(h, `${key}.out_layers.0`, outCh, groups, 1e-5);
    h = L.conv(L.silu(h, `${key}.out_layers.2`), `${key}.out_layers.3`, outCh, outCh, 3);
    const skip = inCh === outCh ? x : L.conv(x, `${key}.skip_connection`, inCh, outCh, 1);
    return g.op('Add', [skip, h], {}, `${key}/out`);
  };

  const attention = (x: string, key: string, ch: number, source: string, sourceWidth: number, heads: number): string => {
    const q = L.linear(x, `${key}.to_q`, ch, ch, false);
    const k = L.linear(source, `${key}.to_k`, sourceWidth, ch, false);
    const v = L.linear(source, `${key}.to_v`, sourceWidth, ch, false);
    return L.linear(L.attention(q, k, v, heads, ch, key), `${key}.to_out.0`, ch, ch);
  };

  /** `onlyCross`: the first attention attends to the text too (diffusers' only_cross_attention), not to the image. */
  const spatialTransformer = (x: string, key: string, ch: number, onlyCross = false): string => {
    const heads = headsAt(config, ch);
    const shape = g.op('Shape', [x], {}, `${key}/shape`);
    let h = L.groupNorm(x, `${key}.norm`, ch, groups, 1e-6);
    if (!config.linearProjection) h = L.conv(h, `${key}.proj_in`, ch, ch, 1);
    h = g.op('Transpose', [g.op('Reshape', [h, g.ints([0, ch, -1])], {}, `${key}/flatten`)], { perm: [0, 2, 1] }, `${key}/tokens`);
    if (config.linearProjection) h = L.linear(h, `${key}.proj_in`, ch, ch);
    for (let d = 0; d < config.transformerDepth; d++) {
      const b = `${key}.transformer_blocks.${d}`;
      const normed = L.layerNorm(h, `${b}.norm1`, ch);
      const attn1 = onlyCross ? attention(normed, `${b}.attn1`, ch, context, config.contextDim, heads) : attention(normed, `${b}.attn1`, ch, normed, ch, heads);
      h = g.op('Add', [attn1, h], {}, `${b}.attn1/residual`);
      h = g.op('Add', [attention(L.layerNorm(h, `${b}.norm2`, ch), `${b}.attn2`, ch, context, config.contextDim, heads), h], {}, `${b}.attn2/residual`);
      const inner = ch * 4;
      const projected = L.linear(L.layerNorm(h, `${b}.norm3`, ch), `${b}.ff.net.0.proj`, ch, inner * 2);
      const [value, gate] = g.opMulti('Split', [projected, g.ints([inner, inner])], 2, { axis: -1 }, `${b}.ff.net.0/split`);
      const geglu = g.op('Mul', [value, L.gelu(gate, `${b}.ff.net.0`)], {}, `${b}.ff.net.0/geglu`);
      h = g.op('Add', [L.linear(geglu, `${b}.ff.net.2`, inner, ch), h], {}, `${b}.ff/residual`);
    }
    if (config.linearProjection) h = L.linear(h, `${key}.proj_out`, ch, ch);
    h = g.op('Reshape', [g.op('Transpose', [h], { perm: [0, 2, 1] }, `${key}/channels`), shape], {}, `${key}/nchw`);
    if (!config.linearProjection) h = L.conv(h, `${key}.proj_out`, ch, ch, 1);
    return g.op('Add', [h, x], {}, `${key}/out`);
  };

  const onlyCrossAt = (level: number) => config.onlyCrossAttention?.levels[level] ?? false;

  // Input blocks: conv_in, then per level numResBlocks × (ResBlock [+ SpatialTransformer]) and a downsampling conv.
  let h = L.conv(sample, `${prefix}input_blocks.0.0`, config.inChannels, ch0, 3);
  const skips: Array<{ value: string; channels: number }> = [{ value: h, channels: ch0 }];
  let ch = ch0;
  let ds = 1;
  let block = 1;
  const levels = config.channelMult.length;
  for (let level = 0; level < levels; level++) {
    const outCh = ch0 * config.channelMult[level];
    for (let r = 0; r < config.numResBlocks; r++) {
      const key = `${prefix}input_blocks.${block}`;
      h = resBlock(h, `${key}.0`, ch, outCh);
      ch = outCh;
      if (config.attentionResolutions.includes(ds)) h = spatialTransformer(h, `${key}.1`, ch, onlyCrossAt(level));
      skips.push({ value: h, channels: ch });
      block++;
    }
    if (level !== levels - 1) {
      h = L.conv(h, `${prefix}input_blocks.${block}.0.op`, ch, ch, 3, { stride: 2 });
      skips.push({ value: h, channels: ch });
      ds *= 2;
      block++;
    }
  }

  if (config.midBlock !== false) {
    h = resBlock(h, `${prefix}middle_block.0`, ch, ch);
    h = spatialTransformer(h, `${prefix}middle_block.1`, ch, config.onlyCrossAttention?.middle ?? false);
    h = resBlock(h, `${prefix}middle_block.2`, ch, ch);
  }

  block = 0;
  for (let level = levels - 1; level >= 0; level--) {
    const outCh = ch0 * config.channelMult[level];
    for (let r = 0; r <= config.numResBlocks; r++) {
      const key = `${prefix}output_blocks.${block}`;
      const skip = skips.pop()!;
      h = g.op('Concat', [h, skip.value], { axis: 1 }, `${key}/concat`);
      h = resBlock(h, `${key}.0`, ch + skip.channels, outCh);
      ch = outCh;
      let position = 1;
      if (config.attentionResolutions.includes(ds)) h = spatialTransformer(h, `${key}.${position++}`, ch, onlyCrossAt(level));
      if (level !== 0 && r === config.numResBlocks) {
        const upKey = `${key}.${position}`;
        const up = g.op('Resize', [h, '', g.constant('float32', [4], Float32Array.of(1, 1, 2, 2), { name: `${upKey}/scales` })], {
          mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor',
        }, `${upKey}/nearest`);
        h = L.conv(up, `${upKey}.conv`, ch, ch, 3);
        ds /= 2;
      }
      block++;
    }
  }

  h = L.groupNorm(h, `${prefix}out.0`, ch, groups, 1e-5);
  const out = L.conv(L.silu(h, `${prefix}out.1`), `${prefix}out.2`, ch, config.outChannels, 3);
  g.op('Identity', [out], {}, 'out_sample');
  g.output('out_sample', L.dtype, ['batch', config.outChannels, 'height', 'width']);
  return g;
}
