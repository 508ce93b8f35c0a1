import type { GraphBuilder } from '../onnx/onnxWriter.ts';
import { Layers, type LayerOptions } from './layers.ts';
import type { WeightSource } from './weights.ts';

/** diffusers' `AutoencoderTiny` (TAESD) decoder as its config.json describes it (SDXS ships one as its `vae`). */
export interface TinyVaeConfig {
  /** `decoder_block_out_channels`: the width of each stage. */
  channels: number[];
  /** `num_decoder_blocks`: residual blocks per stage. */
  blocks: number[];
  latentChannels: number;
  /** `latent_magnitude`: latents are soft-clamped to ±this before decoding. */
  latentMagnitude: number;
  /** `scaling_factor` (1.0 for TAESD: it takes the UNet's latents as they are). */
  scaleFactor: number;
}

/**
 * DecoderTiny with diffusers' `AutoencoderTiny.decode` around it: tanh(x/m)·m, conv + ReLU, per stage its
 * blocks (three 3×3 convs, ReLU between, a skip and a ReLU after), ×2 nearest upsampling and a bias-free
 * conv between stages, a final conv to RGB, then ×2 − 1 so the output is in [−1, 1] like the KL VAE's.
 * `latent_sample` [B, z, h, w] → `sample` [B, 3, 8h, 8w]; weights read by their diffusers keys (`decoder.layers.N…`).
 */
export function buildTinyDecoderGraph(config: TinyVaeConfig, weights: WeightSource, prefix: string, options: LayerOptions): GraphBuilder {
  const L = new Layers('vae_decoder', weights, options);
  const g = L.g;
  const relu = (x: string, name: string) => g.op('Relu', [x], {}, `${name}/relu`);
  const convNoBias = (x: string, key: string, channels: number) => g.op('Conv', [x, L.w(`${key}.weight`, [channels, channels, 3, 3])], {
    kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1],
  }, `${key}/out`);
  const latent = g.input('latent_sample', 'float32', ['batch', config.latentChannels, 'height', 'width']);
  const magnitude = g.scalar(config.latentMagnitude);
  let x = g.op('Mul', [g.op('Tanh', [g.op('Div', [latent, magnitude], {}, 'clamp/scaled')], {}, 'clamp/tanh'), magnitude], {}, 'clamp/out');
  let layer = 0;
  const key = () => `${prefix}decoder.layers.${layer}`;
  x = relu(L.conv(x, key(), config.latentChannels, config.channels[0], 3), key());
  layer += 2;
  let channels = config.channels[0];
  config.blocks.forEach((count, stage) => {
    const width = config.channels[stage];
    for (let b = 0; b < count; b++, layer++) {
      const block = key();
      let h = relu(L.conv(x, `${block}.conv.0`, channels, width, 3), `${block}.conv.1`);
      h = relu(L.conv(h, `${block}.conv.2`, width, width, 3), `${block}.conv.3`);
      h = L.conv(h, `${block}.conv.4`, width, width, 3);
      const skip = channels === width ? x : g.op('Conv', [x, L.w(`${block}.skip.weight`, [width, channels, 1, 1])], { kernel_shape: [1, 1] }, `${block}.skip/out`);
      x = relu(g.op('Add', [h, skip], {}, `${block}/sum`), `${block}.fuse`);
      channels = width;
    }
    if (stage < config.blocks.length - 1) {
      x = g.op('Resize', [x, '', g.constant('float32', [4], Float32Array.of(1, 1, 2, 2), { name: `${key()}/scales` })], {
        mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor',
      }, `${key()}/upsample`);
      layer++;
      x = convNoBias(x, key(), channels);
    } else {
      x = L.conv(x, key(), channels, 3, 3);
    }
    layer++;
  });
  const sample = g.op('Sub', [g.op('Mul', [x, g.scalar(2)], {}, 'output/x2'), g.scalar(1)], {}, 'output/minus1');
  g.op('Identity', [sample], {}, 'sample');
  g.output('sample', 'float32', ['batch', 3, 'height_out', 'width_out']);
  return g;
}
