import { alphaProductAt, spacedTimesteps } from './noiseSchedule.ts';
import type { Sampler, SamplerSetup } from './sampler.ts';
import { addNoiseAtAlpha, clipSample, predictOriginalFromAlpha } from './sampler.ts';

/** diffusers' DDIMScheduler with η = 0 (deterministic). */
export function createDdim({ config, steps }: SamplerSetup): Sampler {
  const alphaAt = alphaProductAt(config);
  const timesteps = spacedTimesteps(config, steps, false);
  const stride = Math.floor(config.num_train_timesteps / steps);
  let predicted = new Float32Array(0);
  return {
    name: 'DDIM',
    timesteps,
    initNoiseSigma: 1,
    scaleModelInput: (sample) => sample,
    addNoise: (original, noise, index) => addNoiseAtAlpha(original, noise, alphaAt(timesteps[index])),
    step(modelOutput, index, sample) {
      if (predicted.length !== sample.length) predicted = new Float32Array(sample.length);
      const timestep = timesteps[index];
      const previousTimestep = timestep - stride;
      const alphaProd = alphaAt(timestep);
      const alphaProdPrevious = alphaAt(previousTimestep);
      predictOriginalFromAlpha(config.prediction_type, modelOutput, sample, alphaProd, predicted);
      const sqrtAlpha = Math.sqrt(alphaProd);
      const sqrtBeta = Math.sqrt(1 - alphaProd);
      if (config.clip_sample) clipSample(predicted, config.clip_sample_range);
      const sqrtAlphaPrevious = Math.sqrt(alphaProdPrevious);
      const directionScale = Math.sqrt(1 - alphaProdPrevious);
      const next = new Float32Array(sample.length);
      for (let i = 0; i < next.length; i++) {
        const epsilon = config.prediction_type === 'epsilon'
          ? modelOutput[i]
          : sqrtAlpha * modelOutput[i] + sqrtBeta * sample[i];
        next[i] = sqrtAlphaPrevious * predicted[i] + directionScale * epsilon;
      }
      return next;
    },
  };
}
