import { toFloat16Bits } from '../float16.ts';
import { buildGraphs } from './buildGraphs.ts';
import { SD15_CONFIG, SD21_CONFIG, type CheckpointConfig } from './ldmConfig.ts';
import { writeSafetensors, type TensorSpec } from './safetensorsWriter.ts';
import { RecordingWeights } from './weights.ts';

/**
 * Full-size checkpoints with random weights, for benchmarks: the tensor list comes from the same graph
 * builders that read real checkpoints (they record what they ask for), so the file has exactly the keys
 * and shapes of a real SD 1.5 / SD 2.1 / SD-Turbo checkpoint, without downloading one.
 */
export type SyntheticVariant = 'sd15' | 'sd21' | 'sd-turbo';

export const SYNTHETIC_CONFIGS: Record<SyntheticVariant, CheckpointConfig> = {
  sd15: SD15_CONFIG,
  sd21: SD21_CONFIG,
  /** SD-Turbo is SD 2.1's architecture at 512 px with ε-prediction. */
  'sd-turbo': { ...SD21_CONFIG, prediction: 'epsilon', imageSize: 512, source: 'sd-turbo (SD 2.1 architecture)' },
};

/** The LDM keys and shapes a checkpoint of this configuration holds (the ones Easel's graphs read). */
export function checkpointTensorList(config: CheckpointConfig): Array<{ name: string; shape: number[] }> {
  const recorder = new RecordingWeights();
  buildGraphs(config, recorder, { attention: 'plain' });
  return [...recorder.requested].map(([name, shape]) => ({ name, shape })).sort((a, b) => a.name.localeCompare(b.name));
}

/** A fast deterministic generator (xorshift32), uniform in [−1, 1). */
export function uniform(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 31 - 1;
  };
}

const NORM_WEIGHT = /(norm[^.]*|ln_\w+|in_layers\.0|out_layers\.0|out\.0|layer_norm\d)\.weight$/;

/** Values of a realistic scale: unit-ish norm gains, small biases, weights ~ U(±1/√fan_in). */
function fillTensor(name: string, shape: number[], values: Float32Array, next: () => number): void {
  if (shape.length === 1) {
    const [scale, offset] = NORM_WEIGHT.test(name) ? [0.05, 1] : [0.02, 0];
    for (let i = 0; i < values.length; i++) values[i] = offset + scale * next();
    return;
  }
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  const scale = /embedding/.test(name) ? 0.02 : 1 / Math.sqrt(fanIn);
  for (let i = 0; i < values.length; i++) values[i] = scale * next();
}

/** Writes a full-size random-weight .safetensors checkpoint with LDM key names; returns its size in bytes. */
export async function writeSyntheticCheckpoint(
  path: string,
  options: { variant?: SyntheticVariant; config?: CheckpointConfig; dtype?: 'F16' | 'F32'; seed?: number } = {},
): Promise<{ bytes: number; tensors: number; parameters: number }> {
  const config = options.config ?? SYNTHETIC_CONFIGS[options.variant ?? 'sd15'];
  const dtype = options.dtype ?? 'F16';
  const list = checkpointTensorList(config);
  const specs: TensorSpec[] = list.map(({ name, shape }) => ({ name, shape, dtype }));
  const next = uniform(options.seed ?? 1234);
  let parameters = 0;
  const bytes = await writeSafetensors(path, specs, (spec, out) => {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    parameters += count;
    const values = dtype === 'F32' ? new Float32Array(out.buffer, out.byteOffset, count) : new Float32Array(count);
    fillTensor(spec.name, spec.shape, values, next);
    if (dtype === 'F16') {
      const half = new Uint16Array(out.buffer, out.byteOffset, count);
      for (let i = 0; i < count; i++) half[i] = toFloat16Bits(values[i]);
    }
  }, { format: 'pt', easel: 'synthetic random weights' });
  return { bytes, tensors: specs.length, parameters };
}
