import type { Sampler, SamplerSetup } from './sampler.ts';
import { addNoiseAtSigma, predictOriginalFromSigma, scaleBySigma } from './sampler.ts';
import { discreteSigmaSchedule } from './sigmaSchedule.ts';

/** diffusers' EulerDiscreteScheduler without churn: x ← x + (σᵢ₊₁ − σᵢ)·(x − x̂₀)/σᵢ. */
export function createEuler({ config, steps, schedule }: SamplerSetup): Sampler {
  const { timesteps, sigmas, initNoiseSigma } = discreteSigmaSchedule(config, steps, schedule === 'Karras' || config.use_karras_sigmas);
  let predicted = new Float32Array(0);
  return {
    name: 'Euler',
    timesteps,
    sigmas,
    initNoiseSigma,
    scaleModelInput: (sample, index) => scaleBySigma(sample, sigmas[index]),
    addNoise: (original, noise, index) => addNoiseAtSigma(original, noise, sigmas[index]),
    step(modelOutput, index, sample) {
      if (predicted.length !== sample.length) predicted = new Float32Array(sample.length);
      const sigma = sigmas[index];
      predictOriginalFromSigma(config.prediction_type, modelOutput, sample, sigma, predicted);
      const dt = sigmas[index + 1] - sigma;
      const next = new Float32Array(sample.length);
      for (let i = 0; i < next.length; i++) next[i] = sample[i] + ((sample[i] - predicted[i]) / sigma) * dt;
      return next;
    },
  };
}
