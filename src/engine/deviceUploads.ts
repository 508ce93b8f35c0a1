import * as ort from 'onnxruntime-node';
import { GraphBuilder } from './onnx/onnxWriter.ts';
import type { ExecutionProvider } from '../shared/names.ts';

/**
 * Puts tensors that stay the same for every step (the text conditioning, LCM's guidance embedding)
 * into the GPU provider's memory once, so the UNet does not upload them again at each step. Node's
 * onnxruntime has no device API, so the upload is an Identity session whose output stays on the device
 * (`preferredOutputLocation: 'gpu-buffer'`). The per-step sample and the UNet's output stay on the CPU:
 * the sampler needs them there, so keeping them on the device would add a copy, not save one.
 */
export interface DeviceUploads {
  /** The same values as a device tensor; valid until the next `discard()` or `release()`. */
  upload(tensor: ort.Tensor): Promise<ort.Tensor>;
  /** Frees what earlier uploads hold. */
  discard(): void;
  release(): Promise<void>;
}

const DEVICE_PROVIDERS: ReadonlySet<ExecutionProvider> = new Set(['webgpu']);

function identityModel(dtype: 'float32' | 'float16', rank: number): Uint8Array {
  const graph = new GraphBuilder('easel_device_upload');
  const dims = Array.from({ length: rank }, (_, i) => `d${i}`);
  graph.output(graph.op('Identity', [graph.input('x', dtype, dims)], {}, 'y'), dtype, dims);
  return graph.encode().model;
}

/** Undefined for providers that compute in host memory (cpu), where there is nothing to save. */
export function createDeviceUploads(provider: ExecutionProvider): DeviceUploads | undefined {
  if (!DEVICE_PROVIDERS.has(provider)) return undefined;
  const sessions = new Map<string, Promise<ort.InferenceSession>>();
  const live: ort.Tensor[] = [];
  const sessionFor = (dtype: 'float32' | 'float16', rank: number) => {
    const key = `${dtype}/${rank}`;
    if (!sessions.has(key)) {
      sessions.set(key, ort.InferenceSession.create(identityModel(dtype, rank), { executionProviders: [provider], preferredOutputLocation: 'gpu-buffer' }));
    }
    return sessions.get(key)!;
  };
  const discard = () => {
    for (const tensor of live.splice(0)) tensor.dispose();
  };
  return {
    async upload(tensor) {
      if (tensor.type !== 'float32' && tensor.type !== 'float16') return tensor;
      const session = await sessionFor(tensor.type, tensor.dims.length);
      const { y } = await session.run({ x: tensor });
      live.push(y);
      return y;
    },
    discard,
    async release() {
      discard();
      for (const session of sessions.values()) await (await session).release().catch(() => undefined);
      sessions.clear();
    },
  };
}
