import type { Sampler, SamplerSetup } from './sampler.ts';
import { addNoiseAtSigma, predictOriginalFromSigma, scaleBySigma } from './sampler.ts';
import { discreteSigmaSchedule } from './sigmaSchedule.ts';

/**
 * diffusers' EulerAncestralDiscreteScheduler: an Euler step down to σ_down, then fresh noise of
 * σ_up. Noise is drawn at every step, the last included, so the generator advances as diffusers'.
 */
export function createEulerAncestral({ config, steps, schedule }: SamplerSetup): Sampler {
  const { timesteps, sigmas, initNoiseSigma } = discreteSigmaSchedule(config, steps, schedule === 'Karras' || config.use_karras_sigmas);
  let predicted = new Float32Array(0);
  return {
    name: 'Euler a',
    timesteps,
    sigmas,
    initNoiseSigma,
    scaleModelInput: (sample, index) => scaleBySigma(sample, sigmas[index]),
    addNoise: (original, noise, index) => addNoiseAtSigma(original, noise, sigmas[index]),
    step(modelOutput, index, sample, noise) {
      if (predicted.length !== sample.length) predicted = new Float32Array(sample.length);
      const sigmaFrom = sigmas[index];
      const sigmaTo = sigmas[index + 1];
      predictOriginalFromSigma(config.prediction_type, modelOutput, sample, sigmaFrom, predicted);
      const sigmaUp = Math.sqrt((sigmaTo ** 2 * (sigmaFrom ** 2 - sigmaTo ** 2)) / sigmaFrom ** 2);
      const sigmaDown = Math.sqrt(Math.max(0, sigmaTo ** 2 - sigmaUp ** 2));
      const dt = sigmaDown - sigmaFrom;
      const fresh = noise();
      const next = new Float32Array(sample.length);
      for (let i = 0; i < next.length; i++) {
        next[i] = sample[i] + ((sample[i] - predicted[i]) / sigmaFrom) * dt + fresh[i] * sigmaUp;
      }
      return next;
    },
  };
}
