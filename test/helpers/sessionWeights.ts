import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { listInitializers } from '../../src/engine/onnx/initializers.ts';
import type { ExecutionProvider } from '../../src/shared/names.ts';
import { temporaryFolder } from './fixtures.ts';

const BYTES: Record<number, [keyof WeightBytes, number]> = { 1: ['float32', 4], 10: ['float16', 2] };

export interface WeightBytes {
  float32: number;
  float16: number;
}

/**
 * The float weights a session holds on `provider`, by type: ONNX Runtime saves the graph it actually
 * runs (after its own optimizations, such as folding a Cast of a float16 initializer into a float32
 * one), and its initializers are counted.
 */
export async function sessionWeightBytes(graphPath: string, provider: ExecutionProvider, weightsDir: string): Promise<WeightBytes> {
  const optimized = join(temporaryFolder('easel-optimized-'), 'model.onnx');
  const session = await ort.InferenceSession.create(new Uint8Array(await readFile(graphPath)), {
    executionProviders: [provider], graphOptimizationLevel: 'all', optimizedModelFilePath: optimized, logSeverityLevel: 3,
    extra: { session: { model_external_initializers_file_folder_path: weightsDir } },
  });
  await session.release();
  const bytes: WeightBytes = { float32: 0, float16: 0 };
  for (const initializer of listInitializers(new Uint8Array(await readFile(optimized))).values()) {
    const kind = BYTES[initializer.dataType];
    if (kind) bytes[kind[0]] += kind[1] * initializer.dims.reduce((a, b) => a * b, 1);
  }
  return bytes;
}
