/**
 * The LoRA merge, W' = W + multiplier · (alpha / rank) · up · down, as kohya sd-scripts and
 * AUTOMATIC1111 (network_lora.py: rebuild_conventional, calc_scale) compute it, for Linear weights
 * [out, in], 1×1 convolutions [out, in, 1, 1] and 3×3 convolutions [out, in, 3, 3] (down [rank, in, 3, 3],
 * up [out, rank, 1, 1]). Pure Float32Array arithmetic.
 */
import { EaselError } from '../../shared/errors.ts';

export interface LoraFactor {
  /** up: [out, rank, (1, 1)]. */
  up: Float32Array;
  upShape: readonly number[];
  /** down: [rank, in, (kh, kw)]. */
  down: Float32Array;
  downShape: readonly number[];
  /** The file's alpha; absent means alpha = rank (scale 1), as A1111's calc_scale. */
  alpha?: number;
}

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** alpha / rank, or 1 without alpha. */
export function loraScale(factor: Pick<LoraFactor, 'alpha' | 'downShape'>): number {
  const rank = factor.downShape[0];
  return factor.alpha === undefined ? 1 : factor.alpha / rank;
}

/**
 * Adds `multiplier · scale · up · down` into `weight` (row-major, `weightShape`), or into rows
 * [rowOffset, rowOffset + out) of it — a third of SD 2.x's fused q/k/v projection.
 */
export function addLoraDelta(weight: Float32Array, weightShape: readonly number[], factor: LoraFactor, multiplier: number, where: string, rowOffset = 0): void {
  const rank = factor.downShape[0];
  const out = factor.upShape[0];
  const upRank = product(factor.upShape) / out;
  const columns = product(factor.downShape) / rank;
  const rowLength = product(weightShape.slice(1));
  if (upRank !== rank || factor.up.length !== out * rank || factor.down.length !== rank * columns) {
    throw new EaselError('LORA_INVALID', `${where}: up [${factor.upShape.join(', ')}] and down [${factor.downShape.join(', ')}] do not multiply (rank ${upRank} vs ${rank}).`);
  }
  if (columns !== rowLength || rowOffset + out > weightShape[0]) {
    throw new EaselError('LORA_INVALID', `${where}: the LoRA makes [${out}, ${columns}] but the model's weight is [${weightShape.join(', ')}]; the LoRA is for another model architecture.`);
  }
  const scale = multiplier * loraScale(factor);
  if (scale === 0) return;
  const { up, down } = factor;
  const row = new Float32Array(columns);
  for (let o = 0; o < out; o++) {
    row.fill(0);
    for (let r = 0; r < rank; r++) {
      const u = up[o * rank + r];
      if (u === 0) continue;
      const base = r * columns;
      for (let c = 0; c < columns; c++) row[c] += u * down[base + c];
    }
    const target = (rowOffset + o) * rowLength;
    for (let c = 0; c < columns; c++) weight[target + c] += scale * row[c];
  }
}
