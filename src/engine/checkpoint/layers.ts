import { float32ToFloat16 } from '../float16.ts';
import { GraphBuilder, MICROSOFT_DOMAIN, ONNX_DATA_TYPE } from '../onnx/onnxWriter.ts';
import type { ComputeType, WeightSource } from './weights.ts';

export interface LayerOptions {
  /**
   * `fused`: ONNX Runtime's com.microsoft MultiHeadAttention and Gelu kernels (CPU and GPU providers);
   * `plain`: standard ONNX operators only (MatMul/Softmax), as a diffusers/Optimum export has them.
   */
  attention: 'fused' | 'plain';
  /**
   * The float type activations and weights are computed in. `float16` is for an fp16 checkpoint on a GPU
   * provider: its weights are used as stored, and the steps where float16 is known to lose precision
   * or overflow in Stable Diffusion (GroupNorm statistics, the attention softmax, the timestep
   * sinusoid) run in float32, as diffusers' fp16 pipelines and ONNX Runtime's float16 conversion do.
   */
  compute?: ComputeType;
}

/**
 * The building blocks of the SD graphs (linear, convolution, norms, attention), each named after the
 * checkpoint key its weights come from so ONNX Runtime's errors and profiles point at the layer.
 */
export class Layers {
  readonly g: GraphBuilder;
  /** The graph's activation type (its float inputs and outputs too). */
  readonly dtype: ComputeType;

  constructor(name: string, readonly weights: WeightSource, readonly options: LayerOptions) {
    this.g = new GraphBuilder(name);
    this.dtype = options.compute ?? 'float32';
  }

  /** A scalar constant in the compute type. */
  scalar(value: number): string {
    return this.dtype === 'float32' ? this.g.scalar(value) : this.g.constant('float16', [], float32ToFloat16(Float32Array.of(value)));
  }

  /** `x` (compute type) as float32, for a step float16 is unsafe for; nothing to do in a float32 graph. */
  toFloat32(x: string, name: string): string {
    return this.dtype === 'float32' ? x : this.g.op('Cast', [x], { to: ONNX_DATA_TYPE.float32 }, name);
  }

  /** `x` (float32) back into the compute type. */
  fromFloat32(x: string, name: string): string {
    return this.dtype === 'float32' ? x : this.g.op('Cast', [x], { to: ONNX_DATA_TYPE[this.dtype] }, name);
  }

  /** The name of a float32 step's result: `name` in a float32 graph; otherwise the cast back takes `name`. */
  private float32Result(name: string): string {
    return this.dtype === 'float32' ? name : `${name}_float`;
  }

  private readonly loaded = new Map<string, string>();

  /**
   * The key's weight in the compute type (or `dtype`: float32 for norm parameters); each key becomes one
   * initializer however often it is used, and is asked for in one type.
   */
  w(key: string, shape: number[], dtype: ComputeType = this.dtype): string {
    let value = this.loaded.get(key);
    if (value === undefined) {
      value = this.weights.float(this.g, key, shape, dtype);
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

  /** A per-channel float32 vector [C] as [C, 1, 1] for NCHW broadcasting. */
  private channelVector(key: string, channels: number): string {
    return this.g.op('Reshape', [this.w(key, [channels], 'float32'), this.g.ints([channels, 1, 1])], {}, `${key}/c11`);
  }

  /**
   * GroupNorm on NCHW: InstanceNormalization over [N, G, C/G·H·W] (ONNX Runtime's native kernel), then
   * γ, β per channel. Always in float32: its statistics run over up to C/G·H·W values (PyTorch's
   * half-precision GroupNorm accumulates and applies γ, β in float32 too).
   */
  groupNorm(input: string, key: string, channels: number, groups: number, epsilon: number): string {
    const x = this.toFloat32(input, `${key}/float`);
    const grouped = this.g.op('Reshape', [x, this.g.ints([0, groups, -1])], {}, `${key}/grouped`);
    const ones = this.g.constant('float32', [groups], new Float32Array(groups).fill(1));
    const zeros = this.g.constant('float32', [groups], new Float32Array(groups));
    const normalised = this.g.op('InstanceNormalization', [grouped, ones, zeros], { epsilon: { float: epsilon } }, `${key}/instance_norm`);
    const shaped = this.g.op('Reshape', [normalised, this.g.op('Shape', [x], {}, `${key}/shape`)], {}, `${key}/nchw`);
    const scaled = this.g.op('Mul', [shaped, this.channelVector(`${key}.weight`, channels)], {}, `${key}/scale`);
    const out = this.g.op('Add', [scaled, this.channelVector(`${key}.bias`, channels)], {}, this.float32Result(`${key}/out`));
    return this.fromFloat32(out, `${key}/out`);
  }

  /**
   * LayerNorm over the last axis. In a float16 graph it runs in float32 (input, γ and β), as PyTorch's
   * half-precision LayerNorm computes: ONNX's stash_type asks for that, but not every provider's kernel
   * honours it (WebGPU's loses precision at large activations even in float32).
   */
  layerNorm(input: string, key: string, width: number, epsilon = 1e-5, weightKey = `${key}.weight`, biasKey = `${key}.bias`): string {
    const x = this.toFloat32(input, `${key}/float`);
    const out = this.g.op('LayerNormalization', [x, this.w(weightKey, [width], 'float32'), this.w(biasKey, [width], 'float32')], { axis: -1, epsilon: { float: epsilon } }, this.float32Result(`${key}/out`));
    return this.fromFloat32(out, `${key}/out`);
  }

  silu(x: string, name: string): string {
    return this.g.op('Mul', [x, this.g.op('Sigmoid', [x], {}, `${name}/sigmoid`)], {}, `${name}/silu`);
  }

  gelu(x: string, name: string): string {
    if (this.options.attention === 'fused') return this.g.op('Gelu', [x], {}, `${name}/gelu`, { domain: MICROSOFT_DOMAIN });
    const half = this.g.op('Mul', [x, this.scalar(0.5)], {}, `${name}/half`);
    const erf = this.g.op('Erf', [this.g.op('Mul', [x, this.scalar(Math.SQRT1_2)], {}, `${name}/scaled`)], {}, `${name}/erf`);
    return this.g.op('Mul', [half, this.g.op('Add', [erf, this.scalar(1)], {}, `${name}/erf1`)], {}, `${name}/gelu`);
  }

  /** x·σ(1.702x), CLIP's activation. */
  quickGelu(x: string, name: string): string {
    if (this.options.attention === 'fused') return this.g.op('QuickGelu', [x], { alpha: { float: 1.702 } }, `${name}/quick_gelu`, { domain: MICROSOFT_DOMAIN });
    const gate = this.g.op('Sigmoid', [this.g.op('Mul', [x, this.scalar(1.702)], {}, `${name}/scaled`)], {}, `${name}/sigmoid`);
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
    const scale = this.scalar(1 / Math.sqrt(headSize));
    let scores: string;
    if (this.dtype === 'float32') {
      scores = this.g.op('Mul', [this.g.op('MatMul', [qh, kh], {}, `${name}/qk`), scale], {}, `${name}/scores`);
    } else {
      // float16: q is scaled before the product so the scores stay in range (diffusers' baddbmm alpha),
      // and the mask and softmax run in float32 (the causal mask's -1e9 is not a float16).
      const product = this.g.op('MatMul', [this.g.op('Mul', [qh, scale], {}, `${name}/q_scaled`), kh], {}, `${name}/qk`);
      scores = this.toFloat32(product, `${name}/scores`);
    }
    if (causalMask) scores = this.g.op('Add', [scores, causalMask], {}, `${name}/masked`);
    const probabilities = this.fromFloat32(this.g.op('Softmax', [scores], { axis: -1 }, this.float32Result(`${name}/softmax`)), `${name}/softmax`);
    const context = this.g.op('MatMul', [probabilities, vh], {}, `${name}/context`);
    const merged = this.g.op('Transpose', [context], { perm: [0, 2, 1, 3] }, `${name}/merge`);
    return this.g.op('Reshape', [merged, this.g.ints([0, 0, width])], {}, `${name}/out`);
  }
}
