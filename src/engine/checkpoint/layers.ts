import { GraphBuilder, MICROSOFT_DOMAIN } from '../onnx/onnxWriter.ts';
import type { WeightSource } from './weights.ts';

export interface LayerOptions {
  /**
   * `fused`: ONNX Runtime's com.microsoft MultiHeadAttention and Gelu kernels (CPU and GPU providers);
   * `plain`: standard ONNX operators only (MatMul/Softmax), as a diffusers/Optimum export has them.
   */
  attention: 'fused' | 'plain';
}

/**
 * The building blocks of the SD graphs (linear, convolution, norms, attention), each named after the
 * checkpoint key its weights come from so ONNX Runtime's errors and profiles point at the layer.
 */
export class Layers {
  readonly g: GraphBuilder;

  constructor(name: string, readonly weights: WeightSource, readonly options: LayerOptions) {
    this.g = new GraphBuilder(name);
  }

  private readonly loaded = new Map<string, string>();

  /** The key's weight as a float32 value; each key becomes one initializer however often it is used. */
  w(key: string, shape: number[]): string {
    let value = this.loaded.get(key);
    if (value === undefined) {
      value = this.weights.float(this.g, key, shape);
      this.loaded.set(key, value);
    }
    return value;
  }

  /** y = x·Wᵀ + b for x [..., in]; W is stored [out, in] and transposed once when the session loads. */
  linear(x: string, key: string, inFeatures: number, outFeatures: number, bias = true, weightKey = `${key}.weight`, biasKey = `${key}.bias`): string {
    const weight = this.w(weightKey, [outFeatures, inFeatures]);
    const transposed = this.g.op('Transpose', [weight], { perm: [1, 0] }, `${weightKey}/T`);
    const product = this.g.op('MatMul', [x, transposed], {}, `${key}/MatMul`);
    return bias ? this.g.op('Add', [product, this.w(biasKey, [outFeatures])], {}, `${key}/out`) : product;
  }

  /** The same linear layer from a 1×1 convolution's weight [out, in, 1, 1]. */
  linearFromConv1x1(x: string, key: string, channels: number, outChannels = channels): string {
    const weight = this.w(`${key}.weight`, [outChannels, channels, 1, 1]);
    const matrix = this.g.op('Reshape', [weight, this.g.ints([outChannels, channels])], {}, `${key}.weight/2d`);
    const transposed = this.g.op('Transpose', [matrix], { perm: [1, 0] }, `${key}.weight/T`);
    const product = this.g.op('MatMul', [x, transposed], {}, `${key}/MatMul`);
    return this.g.op('Add', [product, this.w(`${key}.bias`, [outChannels])], {}, `${key}/out`);
  }

  conv(x: string, key: string, inChannels: number, outChannels: number, kernel: number, options: { stride?: number; pads?: number[] } = {}): string {
    const weight = this.w(`${key}.weight`, [outChannels, inChannels, kernel, kernel]);
    const bias = this.w(`${key}.bias`, [outChannels]);
    const pad = (kernel - 1) / 2;
    return this.g.op('Conv', [x, weight, bias], {
      kernel_shape: [kernel, kernel], strides: [options.stride ?? 1, options.stride ?? 1], pads: options.pads ?? [pad, pad, pad, pad],
    }, `${key}/out`);
  }

  /** A per-channel vector [C] as [C, 1, 1] for NCHW broadcasting. */
  private channelVector(key: string, channels: number): string {
    return this.g.op('Reshape', [this.w(key, [channels]), this.g.ints([channels, 1, 1])], {}, `${key}/c11`);
  }

  /** GroupNorm on NCHW: InstanceNormalization over [N, G, C/G·H·W] (ONNX Runtime's native kernel), then γ, β per channel. */
  groupNorm(x: string, key: string, channels: number, groups: number, epsilon: number): string {
    const grouped = this.g.op('Reshape', [x, this.g.ints([0, groups, -1])], {}, `${key}/grouped`);
    const ones = this.g.constant('float32', [groups], new Float32Array(groups).fill(1));
    const zeros = this.g.constant('float32', [groups], new Float32Array(groups));
    const normalised = this.g.op('InstanceNormalization', [grouped, ones, zeros], { epsilon: { float: epsilon } }, `${key}/instance_norm`);
    const shaped = this.g.op('Reshape', [normalised, this.g.op('Shape', [x], {}, `${key}/shape`)], {}, `${key}/nchw`);
    const scaled = this.g.op('Mul', [shaped, this.channelVector(`${key}.weight`, channels)], {}, `${key}/scale`);
    return this.g.op('Add', [scaled, this.channelVector(`${key}.bias`, channels)], {}, `${key}/out`);
  }

  layerNorm(x: string, key: string, width: number, epsilon = 1e-5, weightKey = `${key}.weight`, biasKey = `${key}.bias`): string {
    return this.g.op('LayerNormalization', [x, this.w(weightKey, [width]), this.w(biasKey, [width])], { axis: -1, epsilon: { float: epsilon } }, `${key}/out`);
  }

  silu(x: string, name: string): string {
    return this.g.op('Mul', [x, this.g.op('Sigmoid', [x], {}, `${name}/sigmoid`)], {}, `${name}/silu`);
  }

  gelu(x: string, name: string): string {
    if (this.options.attention === 'fused') return this.g.op('Gelu', [x], {}, `${name}/gelu`, { domain: MICROSOFT_DOMAIN });
    const half = this.g.op('Mul', [x, this.g.scalar(0.5)], {}, `${name}/half`);
    const erf = this.g.op('Erf', [this.g.op('Mul', [x, this.g.scalar(Math.SQRT1_2)], {}, `${name}/scaled`)], {}, `${name}/erf`);
    return this.g.op('Mul', [half, this.g.op('Add', [erf, this.g.scalar(1)], {}, `${name}/erf1`)], {}, `${name}/gelu`);
  }

  /** x·σ(1.702x), CLIP's activation. */
  quickGelu(x: string, name: string): string {
    if (this.options.attention === 'fused') return this.g.op('QuickGelu', [x], { alpha: { float: 1.702 } }, `${name}/quick_gelu`, { domain: MICROSOFT_DOMAIN });
    const gate = this.g.op('Sigmoid', [this.g.op('Mul', [x, this.g.scalar(1.702)], {}, `${name}/scaled`)], {}, `${name}/sigmoid`);
    return this.g.op('Mul', [x, gate], {}, `${name}/quick_gelu`);
  }

  /**
   * Scaled dot-product attention of q [B, S, heads·d] over k, v [B, L, heads·d]; `causalMask` is an
   * additive [S, L] mask (plain path only). Returns [B, S, heads·d].
   */
  attention(q: string, k: string, v: string, heads: number, width: number, name: string, causalMask?: string): string {
    const headSize = width / heads;
    if (this.options.attention === 'fused' && causalMask === undefined) {
      return this.g.op('MultiHeadAttention', [q, k, v], { num_heads: heads }, `${name}/mha`, { domain: MICROSOFT_DOMAIN });
    }
    const split = (x: string, role: string, perm: number[]) => this.g.op('Transpose', [this.g.op('Reshape', [x, this.g.ints([0, 0, heads, headSize])], {}, `${name}/${role}_heads`)], { perm }, `${name}/${role}_t`);
    const qh = split(q, 'q', [0, 2, 1, 3]);
    const kh = split(k, 'k', [0, 2, 3, 1]);
    const vh = split(v, 'v', [0, 2, 1, 3]);
    let scores = this.g.op('Mul', [this.g.op('MatMul', [qh, kh], {}, `${name}/qk`), this.g.scalar(1 / Math.sqrt(headSize))], {}, `${name}/scores`);
    if (causalMask) scores = this.g.op('Add', [scores, causalMask], {}, `${name}/masked`);
    const probabilities = this.g.op('Softmax', [scores], { axis: -1 }, `${name}/softmax`);
    const context = this.g.op('MatMul', [probabilities, vh], {}, `${name}/context`);
    const merged = this.g.op('Transpose', [context], { perm: [0, 2, 1, 3] }, `${name}/merge`);
    return this.g.op('Reshape', [merged, this.g.ints([0, 0, width])], {}, `${name}/out`);
  }
}
