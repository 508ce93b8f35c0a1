import type { GraphBuilder } from '../onnx/onnxWriter.ts';
import type { VaeConfig } from './ldmConfig.ts';
import { Layers, type LayerOptions } from './layers.ts';
import type { WeightSource } from './weights.ts';

const EPS = 1e-6;

function vaeBlocks(L: Layers, config: VaeConfig) {
  const g = L.g;
  const { groups } = config;
  const resnet = (x: string, key: string, inCh: number, outCh: number): string => {
    let h = L.silu(L.groupNorm(x, `${key}.norm1`, inCh, groups, EPS), `${key}.norm1`);
    h = L.conv(h, `${key}.conv1`, inCh, outCh, 3);
    h = L.silu(L.groupNorm(h, `${key}.norm2`, outCh, groups, EPS), `${key}.norm2`);
    h = L.conv(h, `${key}.conv2`, outCh, outCh, 3);
    const skip = inCh === outCh ? x : L.conv(x, `${key}.nin_shortcut`, inCh, outCh, 1);
    return g.op('Add', [skip, h], {}, `${key}/out`);
  };
  /** ldm's AttnBlock: single-head self-attention over all pixels, q/k/v/proj_out as 1×1 convolutions. */
  const attention = (x: string, key: string, ch: number): string => {
    const shape = g.op('Shape', [x], {}, `${key}/shape`);
    const h = L.groupNorm(x, `${key}.norm`, ch, groups, EPS);
    const tokens = g.op('Transpose', [g.op('Reshape', [h, g.ints([0, ch, -1])], {}, `${key}/flatten`)], { perm: [0, 2, 1] }, `${key}/tokens`);
    const q = L.linearFromConv1x1(tokens, `${key}.q`, ch);
    const k = L.linearFromConv1x1(tokens, `${key}.k`, ch);
    const v = L.linearFromConv1x1(tokens, `${key}.v`, ch);
    const attended = L.linearFromConv1x1(L.attention(q, k, v, 1, ch, key), `${key}.proj_out`, ch);
    const back = g.op('Reshape', [g.op('Transpose', [attended], { perm: [0, 2, 1] }, `${key}/channels`), shape], {}, `${key}/nchw`);
    return g.op('Add', [x, back], {}, `${key}/out`);
  };
  const middle = (x: string, key: string, ch: number): string => {
    let h = resnet(x, `${key}.block_1`, ch, ch);
    h = attention(h, `${key}.attn_1`, ch);
    return resnet(h, `${key}.block_2`, ch, ch);
  };
  return { resnet, middle };
}

/** ldm's AutoencoderKL decoder with post_quant_conv: latent_sample [B, z, h, w] (already divided by the scale factor) → sample [B, 3, 8h, 8w] in [−1, 1]. */
export function buildVaeDecoderGraph(config: VaeConfig, weights: WeightSource, prefix: string, options: LayerOptions): GraphBuilder {
  const L = new Layers('vae_decoder', weights, options);
  const g = L.g;
  const { resnet, middle } = vaeBlocks(L, config);
  const z = config.zChannels;
  const latent = g.input('latent_sample', 'float32', ['batch', z, 'latent_height', 'latent_width']);
  let h = L.conv(latent, `${prefix}post_quant_conv`, z, z, 1);
  const levels = config.chMult.length;
  let ch = config.ch * config.chMult[levels - 1];
  h = L.conv(h, `${prefix}decoder.conv_in`, z, ch, 3);
  h = middle(h, `${prefix}decoder.mid`, ch);
  for (let level = levels - 1; level >= 0; level--) {
    const outCh = config.ch * config.chMult[level];
    for (let j = 0; j <= config.numResBlocks; j++) {
      h = resnet(h, `${prefix}decoder.up.${level}.block.${j}`, ch, outCh);
      ch = outCh;
    }
    if (level !== 0) {
      const key = `${prefix}decoder.up.${level}.upsample`;
      const up = g.op('Resize', [h, '', g.constant('float32', [4], Float32Array.of(1, 1, 2, 2), { name: `${key}/scales` })], {
        mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor',
      }, `${key}/nearest`);
      h = L.conv(up, `${key}.conv`, ch, ch, 3);
    }
  }
  h = L.silu(L.groupNorm(h, `${prefix}decoder.norm_out`, ch, config.groups, EPS), `${prefix}decoder.norm_out`);
  const out = L.conv(h, `${prefix}decoder.conv_out`, ch, 3, 3);
  g.op('Identity', [out], {}, 'sample');
  g.output('sample', 'float32', ['batch', 3, 'height', 'width']);
  return g;
}

/**
 * ldm's AutoencoderKL encoder with quant_conv: sample [B, 3, H, W] in [−1, 1] → latent_parameters
 * [B, 2z, H/8, W/8] (mean, then log-variance), as Optimum's vae_encoder export has it.
 */
export function buildVaeEncoderGraph(config: VaeConfig, weights: WeightSource, prefix: string, options: LayerOptions): GraphBuilder {
  const L = new Layers('vae_encoder', weights, options);
  const g = L.g;
  const { resnet, middle } = vaeBlocks(L, config);
  const z = config.zChannels;
  const image = g.input('sample', 'float32', ['batch', 3, 'height', 'width']);
  let ch = config.ch;
  let h = L.conv(image, `${prefix}encoder.conv_in`, 3, ch, 3);
  const levels = config.chMult.length;
  for (let level = 0; level < levels; level++) {
    const outCh = config.ch * config.chMult[level];
    for (let j = 0; j < config.numResBlocks; j++) {
      h = resnet(h, `${prefix}encoder.down.${level}.block.${j}`, ch, outCh);
      ch = outCh;
    }
    // ldm pads right and bottom by one, then convolves with stride 2 and no padding.
    if (level !== levels - 1) h = L.conv(h, `${prefix}encoder.down.${level}.downsample.conv`, ch, ch, 3, { stride: 2, pads: [0, 0, 1, 1] });
  }
  h = middle(h, `${prefix}encoder.mid`, ch);
  h = L.silu(L.groupNorm(h, `${prefix}encoder.norm_out`, ch, config.groups, EPS), `${prefix}encoder.norm_out`);
  h = L.conv(h, `${prefix}encoder.conv_out`, ch, 2 * z, 3);
  const moments = L.conv(h, `${prefix}quant_conv`, 2 * z, 2 * z, 1);
  g.op('Identity', [moments], {}, 'latent_parameters');
  g.output('latent_parameters', 'float32', ['batch', 2 * z, 'latent_height', 'latent_width']);
  return g;
}
