import { basename } from 'node:path';
import { EaselError } from '../../shared/errors.ts';
import type { ExternalReference, GraphBuilder, OnnxDType } from '../onnx/onnxWriter.ts';
import { ONNX_DATA_TYPE } from '../onnx/onnxWriter.ts';
import type { SafetensorsDType, SafetensorsHeader, TensorEntry } from './safetensors.ts';

/**
 * Where a graph builder's weights come from, by original LDM checkpoint key. Every initializer is named
 * after its key (so profiles, errors and LoRA point at `input_blocks.4.1.…`), and holds the bytes where
 * they already lie in the .safetensors file: ONNX external data with that file's offset and length.
 */
export interface WeightSource {
  /** Whether the checkpoint has this key. */
  has(key: string): boolean;
  /** The stored shape, or undefined when the key is absent. */
  shape(key: string): number[] | undefined;
  /**
   * The key's tensor as a value of the compute type `compute` in `graph`, with `shape` (checked against
   * the stored element count and, except for [C,C] ↔ [C,C,1,1] 1×1 convolutions, the stored shape).
   * Stored in that type, the initializer is used as it lies; otherwise a Cast converts it once, when
   * the session loads (ONNX Runtime folds casts of initializers).
   */
  float(graph: GraphBuilder, key: string, shape: number[], compute?: ComputeType): string;
}

/** The float type a graph computes in: float32 (cpu), or float16 for an fp16 checkpoint on a GPU provider. */
export type ComputeType = 'float32' | 'float16';

const ONNX_DTYPES: Partial<Record<SafetensorsDType, OnnxDType>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

function sameShape(stored: number[], wanted: number[]): boolean {
  if (stored.length === wanted.length && stored.every((d, i) => d === wanted[i])) return true;
  // A 1×1 convolution and a Linear layer hold the same bytes ([C, C, 1, 1] in LDM's VAE, [C, C] in diffusers').
  const strip = (s: number[]) => (s.length === 4 && s[2] === 1 && s[3] === 1 ? s.slice(0, 2) : s);
  const a = strip(stored);
  const b = strip(wanted);
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export interface SafetensorsLocation {
  header: SafetensorsHeader;
  /** The file name ONNX external data uses: relative to the folder the session is given for weights. */
  location: string;
}

/** Weights read in place from one or more .safetensors files; `resolve` maps an LDM key to a file and its own key there. */
export class SafetensorsWeights implements WeightSource {
  constructor(
    private readonly resolve: (key: string) => { file: SafetensorsLocation; entry: TensorEntry } | undefined,
    private readonly describe: string,
  ) {}

  /** One single-file LDM checkpoint: keys are its own. */
  static single(header: SafetensorsHeader): SafetensorsWeights {
    const file = { header, location: basename(header.path) };
    return new SafetensorsWeights((key) => {
      const entry = header.tensors.get(key);
      return entry ? { file, entry } : undefined;
    }, basename(header.path));
  }

  has(key: string): boolean {
    return this.resolve(key) !== undefined;
  }

  shape(key: string): number[] | undefined {
    return this.resolve(key)?.entry.shape;
  }

  /** Where the key's bytes lie: file, offset and length (for reading them back, e.g. to apply a LoRA). */
  locate(key: string): { path: string; entry: TensorEntry } | undefined {
    const found = this.resolve(key);
    return found ? { path: found.file.header.path, entry: found.entry } : undefined;
  }

  float(graph: GraphBuilder, key: string, shape: number[], compute: ComputeType = 'float32'): string {
    const found = this.resolve(key);
    if (!found) throw new EaselError('CHECKPOINT_INVALID', `${this.describe} has no tensor ${key}; the checkpoint is incomplete or of another architecture.`);
    const { entry, file } = found;
    if (!sameShape(entry.shape, shape)) {
      throw new EaselError('CHECKPOINT_INVALID', `${this.describe}: ${key} has shape [${entry.shape.join(', ')}] where the model configuration needs [${shape.join(', ')}]. Check the .yaml beside the checkpoint.`);
    }
    const dtype = ONNX_DTYPES[entry.dtype];
    if (!dtype) throw new EaselError('CHECKPOINT_UNSUPPORTED', `${this.describe}: ${key} is ${entry.dtype}; Easel imports F32, F16 and BF16 weights.`);
    const reference: ExternalReference = { location: file.location, offset: entry.begin, length: entry.end - entry.begin };
    const stored = graph.constant(dtype, shape, reference, { name: key });
    return dtype === compute ? stored : graph.op('Cast', [stored], { to: ONNX_DATA_TYPE[compute] }, `${key}/${compute === 'float32' ? 'float' : compute}`);
  }
}

/**
 * Records which keys a builder asks for with which shapes, and answers with zero-filled float32
 * initializers: how the synthetic full-size checkpoint learns its tensor list from the same builders
 * that read real checkpoints.
 */
export class RecordingWeights implements WeightSource {
  readonly requested = new Map<string, number[]>();

  has(): boolean {
    return true;
  }

  shape(key: string): number[] | undefined {
    return this.requested.get(key);
  }

  float(graph: GraphBuilder, key: string, shape: number[], compute: ComputeType = 'float32'): string {
    const previous = this.requested.get(key);
    if (previous && !sameShape(previous, shape)) throw new Error(`${key} asked for with two shapes`);
    this.requested.set(key, shape);
    return graph.constant(compute, shape, { location: 'synthetic.safetensors', offset: 0, length: 0 }, { name: key });
  }
}
