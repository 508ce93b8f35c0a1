import * as ort from 'onnxruntime-node';
import { timestepTensor, type LoadedModel } from '../../src/engine/modelSessions.ts';
import { float16ToFloat32, float32ToFloat16 } from '../../src/engine/float16.ts';
import { alphasCumprod, trainingSigmas } from '../../src/engine/samplers/noiseSchedule.ts';
import { DEFAULT_SCHEDULER_CONFIG } from '../../src/engine/samplers/schedulerConfig.ts';

/**
 * The analytic UNet's target x₀ for a prompt, read back from the model itself: at x = 0 its
 * ε-prediction is −x₀/σₜ (and its v-prediction −x₀·σₜ/√(σₜ² + 1) … see below), independent of any sampler.
 */
export async function analyticTarget(model: LoadedModel, prompt: string, latentHeight: number, latentWidth: number): Promise<Float32Array> {
  const { ids } = model.tokenizer.encode(prompt);
  const text = await (await model.openSession('text_encoder')).run({ input_ids: new ort.Tensor('int32', ids, [1, ids.length]) });
  const hidden = text.last_hidden_state;
  const timestep = 500;
  // The fixture's scheduler_config.json holds every key, so its schedule needs no sampler's defaults.
  const sigma = trainingSigmas(alphasCumprod({ ...DEFAULT_SCHEDULER_CONFIG, ...model.folder.scheduler }))[timestep];
  const size = 4 * latentHeight * latentWidth;
  const f16 = model.signature.sampleType === 'float16';
  const zeros = new Float32Array(size);
  const result = await model.unet.run({
    sample: f16 ? new ort.Tensor('float16', float32ToFloat16(zeros), [1, 4, latentHeight, latentWidth]) : new ort.Tensor('float32', zeros, [1, 4, latentHeight, latentWidth]),
    timestep: timestepTensor(model.signature, timestep, 1),
    encoder_hidden_states: hidden,
  });
  const output = result.out_sample.type === 'float16' ? float16ToFloat32(result.out_sample.data as Uint16Array) : (result.out_sample.data as Float32Array);
  // ε(0) = −x₀/σ; v(0) = (ε − σ·x₀)/√(σ²+1) = −x₀·(1/σ + σ)/√(σ²+1).
  const factor = model.folder.scheduler.prediction_type === 'epsilon' ? -sigma : -Math.sqrt(sigma * sigma + 1) / (1 / sigma + sigma);
  return output.map((value) => value * factor);
}

export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
