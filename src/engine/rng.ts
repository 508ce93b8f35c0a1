/**
 * Gaussian noise that reproduces PyTorch's generators, so a seed means the same image here as in
 * diffusers (CPU generator) and in AUTOMATIC1111 (its default "GPU"/"NV" Philox source).
 */

import { MAX_SEED } from '../shared/generationSettings.ts';
import type { RngSource } from '../shared/names.ts';

export function normaliseSeed(seed: number | bigint): bigint {
  const value = typeof seed === 'bigint' ? seed : Number.isSafeInteger(seed) ? BigInt(seed) : NaN;
  if (typeof value !== 'bigint' || value < 0n || value > MAX_SEED) {
    throw new RangeError(`Seed must be an integer from 0 to ${MAX_SEED}, got ${String(seed)}.`);
  }
  return value;
}

/** A stateful noise source: successive calls continue the stream, as torch's generator objects do. */
export interface NoiseGenerator {
  readonly source: RngSource;
  randn(shape: readonly number[]): Float32Array;
}

export function randn(seed: number | bigint, shape: readonly number[], source: RngSource): Float32Array {
  return createNoiseGenerator(seed, source).randn(shape);
}

export function createNoiseGenerator(seed: number | bigint, source: RngSource): NoiseGenerator {
  const value = normaliseSeed(seed);
  return source === 'cpu' ? new TorchCpuGenerator(value) : new PhiloxGenerator(value);
}

function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) {
    if (!Number.isInteger(dim) || dim < 0) throw new RangeError(`Invalid tensor shape [${shape.join(', ')}].`);
    count *= dim;
  }
  return count;
}

const MT_N = 624;
const MT_M = 397;

/** torch.Generator('cpu'): MT19937 seeded with the low 32 bits, as torch's mt19937 does. */
class TorchCpuGenerator implements NoiseGenerator {
  readonly source = 'cpu' as const;
  private readonly state = new Uint32Array(MT_N);
  private index = MT_N;
  private cachedNormal: number | undefined;

  constructor(seed: bigint) {
    const state = this.state;
    state[0] = Number(seed & 0xffffffffn);
    for (let i = 1; i < MT_N; i++) {
      const prev = state[i - 1] ^ (state[i - 1] >>> 30);
      state[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  private nextUint32(): number {
    if (this.index >= MT_N) this.twist();
    let y = this.state[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const state = this.state;
    for (let i = 0; i < MT_N; i++) {
      const following = i + 1 < MT_N ? i + 1 : 0;
      const shifted = i + MT_M < MT_N ? i + MT_M : i + MT_M - MT_N;
      const y = (state[i] & 0x80000000) | (state[following] & 0x7fffffff);
      state[i] = state[shifted] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }

  /** at::uniform_real_distribution<float>: 24 random bits scaled to [0, 1). */
  private uniformFloat(): number {
    return (this.nextUint32() & 0xffffff) / 16777216;
  }

  /** at::uniform_real_distribution<double>: 53 bits of random64() (first draw is the high word). */
  private uniformDouble(): number {
    const high = this.nextUint32();
    const low = this.nextUint32();
    return ((high & 0x1fffff) * 4294967296 + low) / 9007199254740992;
  }

  randn(shape: readonly number[]): Float32Array {
    const count = elementCount(shape);
    const out = new Float32Array(count);
    if (count >= 16) this.fillVectorised(out);
    else for (let i = 0; i < count; i++) out[i] = this.serialNormal();
    return out;
  }

  /** torch's normal_fill: uniforms for everything, Box–Muller in blocks of 16, tail block redrawn. */
  private fillVectorised(out: Float32Array): void {
    const count = out.length;
    for (let i = 0; i < count; i++) out[i] = this.uniformFloat();
    for (let i = 0; i + 16 <= count; i += 16) boxMuller16(out, i);
    if (count % 16 !== 0) {
      const start = count - 16;
      for (let i = 0; i < 16; i++) out[start + i] = this.uniformFloat();
      boxMuller16(out, start);
    }
  }

  /** at::normal_distribution<double>, which caches the second value of each pair on the generator. */
  private serialNormal(): number {
    if (this.cachedNormal !== undefined) {
      const value = this.cachedNormal;
      this.cachedNormal = undefined;
      return value;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const radius = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.cachedNormal = radius * Math.sin(theta);
    return radius * Math.cos(theta);
  }
}

const f32 = Math.fround;
const TWO_PI_F32 = f32(2 * Math.PI);

/**
 * torch's normal_fill_16_AVX2, which x86 builds use for 16 or more elements: Box–Muller with the
 * cephes polynomials of avx_mathfun.h in float32, multiply-adds fused as the compiler fuses them.
 */
function boxMuller16(data: Float32Array, offset: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f32(1 - data[offset + j]);
    const u2 = data[offset + j + 8];
    const radius = f32(Math.sqrt(f32(-2 * logAvx(u1))));
    const theta = f32(TWO_PI_F32 * u2);
    sinCosAvx(theta);
    data[offset + j] = f32(radius * sinCosResult[1]);
    data[offset + j + 8] = f32(radius * sinCosResult[0]);
  }
}

const fusedMulAdd = (a: number, b: number, c: number): number => f32(a * b + c);
const bitView = new Float32Array(1);
const bitWords = new Uint32Array(bitView.buffer);
const LOG_POLY = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1,
  -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(f32);
const SQRT_HALF_F32 = f32(0.707106781186547524);
const LOG_Q1 = f32(-2.1219444e-4);
const LOG_Q2 = f32(0.693359375);

function logAvx(value: number): number {
  bitView[0] = value;
  const exponentBits = bitWords[0] >>> 23;
  bitWords[0] = (bitWords[0] & 0x807fffff) | 0x3f000000;
  let x = bitView[0];
  let exponent = exponentBits - 0x7f + 1;
  const below = x < SQRT_HALF_F32;
  const correction = below ? x : 0;
  x = f32(x - 1);
  if (below) exponent -= 1;
  x = f32(x + correction);
  const z = f32(x * x);
  let y = LOG_POLY[0];
  for (let i = 1; i < LOG_POLY.length; i++) y = fusedMulAdd(y, x, LOG_POLY[i]);
  y = f32(f32(y * x) * z);
  y = fusedMulAdd(exponent, LOG_Q1, y);
  y = fusedMulAdd(-z, 0.5, y);
  x = f32(x + y);
  return fusedMulAdd(exponent, LOG_Q2, x);
}

const FOUR_OVER_PI_F32 = f32(1.27323954473516);
const DP1 = f32(-0.78515625);
const DP2 = f32(-2.4187564849853515625e-4);
const DP3 = f32(-3.77489497744594108e-8);
const COS_POLY = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2].map(f32);
const SIN_POLY = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(f32);
const sinCosResult = new Float64Array(2);

function sinCosAvx(angle: number): void {
  let sinSign = angle < 0 ? -1 : 1;
  let x = Math.abs(angle);
  let octant = Math.trunc(f32(x * FOUR_OVER_PI_F32));
  octant = (octant + 1) & ~1;
  x = fusedMulAdd(octant, DP1, x);
  x = fusedMulAdd(octant, DP2, x);
  x = fusedMulAdd(octant, DP3, x);
  if (octant & 4) sinSign = -sinSign;
  const cosSign = ~(octant - 2) & 4 ? -1 : 1;
  const z = f32(x * x);
  let cosPoly = fusedMulAdd(fusedMulAdd(COS_POLY[0], z, COS_POLY[1]), z, COS_POLY[2]);
  cosPoly = f32(f32(cosPoly * z) * z);
  cosPoly = f32(fusedMulAdd(-z, 0.5, cosPoly) + 1);
  let sinPoly = fusedMulAdd(fusedMulAdd(SIN_POLY[0], z, SIN_POLY[1]), z, SIN_POLY[2]);
  sinPoly = fusedMulAdd(f32(sinPoly * z), x, x);
  const swapPolynomials = (octant & 2) !== 0;
  sinCosResult[0] = sinSign * (swapPolynomials ? cosPoly : sinPoly);
  sinCosResult[1] = cosSign * (swapPolynomials ? sinPoly : cosPoly);
}

const PHILOX_M0 = 0xd2511f53;
const PHILOX_M1 = 0xcd9e8d57;
const PHILOX_W0 = 0x9e3779b9;
const PHILOX_W1 = 0xbb67ae85;
const TWO_POW32_INV = f32(2.3283064e-10);
const TWO_POW32_INV_2PI = f32(2.3283064e-10 * 6.2831855);

/**
 * torch.randn on a CUDA device: element i takes Philox4x32-10 at counter (offset, 0, i, 0) under the
 * 64-bit seed as key, and the sine half of Box–Muller on its first two words. Each call advances the
 * offset by one, as AUTOMATIC1111's NV emulation does.
 */
class PhiloxGenerator implements NoiseGenerator {
  readonly source = 'gpu' as const;
  private offset = 0;
  private readonly keyLow: number;
  private readonly keyHigh: number;
  private readonly words = new Uint32Array(4);

  constructor(seed: bigint) {
    this.keyLow = Number(seed & 0xffffffffn);
    this.keyHigh = Number((seed >> 32n) & 0xffffffffn);
  }

  randn(shape: readonly number[]): Float32Array {
    const count = elementCount(shape);
    const out = new Float32Array(count);
    const words = this.words;
    for (let i = 0; i < count; i++) {
      philox4x32x10(this.offset, 0, i, 0, this.keyLow, this.keyHigh, words);
      const u = words[0] * TWO_POW32_INV + TWO_POW32_INV / 2;
      const v = words[1] * TWO_POW32_INV_2PI + TWO_POW32_INV_2PI / 2;
      out[i] = Math.sqrt(-2 * Math.log(u)) * Math.sin(v);
    }
    this.offset++;
    return out;
  }
}

function mulHigh32(a: number, b: number): number {
  const aLow = a & 0xffff;
  const aHigh = a >>> 16;
  const bLow = b & 0xffff;
  const bHigh = b >>> 16;
  const lowLow = aLow * bLow;
  const highLow = aHigh * bLow;
  const lowHigh = aLow * bHigh;
  const carry = ((lowLow >>> 16) + (highLow & 0xffff) + (lowHigh & 0xffff)) >>> 16;
  return (aHigh * bHigh + (highLow >>> 16) + (lowHigh >>> 16) + carry) >>> 0;
}

function philox4x32x10(
  c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array,
): void {
  for (let round = 0; round < 10; round++) {
    const high0 = mulHigh32(PHILOX_M0, c0);
    const low0 = Math.imul(PHILOX_M0, c0) >>> 0;
    const high1 = mulHigh32(PHILOX_M1, c2);
    const low1 = Math.imul(PHILOX_M1, c2) >>> 0;
    c0 = (high1 ^ c1 ^ k0) >>> 0;
    c1 = low1;
    c2 = (high0 ^ c3 ^ k1) >>> 0;
    c3 = low0;
    k0 = (k0 + PHILOX_W0) >>> 0;
    k1 = (k1 + PHILOX_W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}
