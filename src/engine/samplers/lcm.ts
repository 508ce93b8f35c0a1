import { EaselError } from '../../shared/errors.ts';
import { alphaProductAt } from './noiseSchedule.ts';
import type { Sampler, SamplerSetup } from './sampler.ts';
import { addNoiseAtAlpha, clipSample, predictOriginalFromAlpha } from './sampler.ts';

const SIGMA_DATA = 0.5;

/**
 * diffusers' LCMScheduler: timesteps picked from the distillation schedule (every T / original steps),
 * a consistency-model boundary condition, and fresh noise between steps but not after the last.
 */
export function createLcm({ config, steps }: SamplerSetup): Sampler {
  const alphaAt = alphaProductAt(config);
  const originalSteps = config.original_inference_steps;
  if (steps > originalSteps) {
    throw new EaselError('INVALID_REQUEST', `LCM runs at most ${originalSteps} steps (original_inference_steps in scheduler_config.json); ${steps} were asked for.`);
  }
  const skip = Math.floor(config.num_train_timesteps / originalSteps);
  const timesteps = new Float64Array(steps);
  for (let i = 0; i < steps; i++) {
    const index = Math.floor((i * originalSteps) / steps);
    timesteps[i] = (originalSteps - index) * skip - 1;
  }
  let predicted = new Float32Array(0);
  return {
    name: 'LCM',
    timesteps,
    initNoiseSigma: 1,
    scaleModelInput: (sample) => sample,
    addNoise: (original, noise, index) => addNoiseAtAlpha(original, noise, alphaAt(timesteps[index])),
    step(modelOutput, index, sample, noise) {
      if (predicted.length !== sample.length) predicted = new Float32Array(sample.length);
      const timestep = timesteps[index];
      const scaledTimestep = timestep * config.timestep_scaling;
      const cSkip = SIGMA_DATA ** 2 / (scaledTimestep ** 2 + SIGMA_DATA ** 2);
      const cOut = scaledTimestep / Math.sqrt(scaledTimestep ** 2 + SIGMA_DATA ** 2);
      predictOriginalFromAlpha(config.prediction_type, modelOutput, sample, alphaAt(timestep), predicted);
      if (config.clip_sample) clipSample(predicted, config.clip_sample_range);
      const next = new Float32Array(sample.length);
      for (let i = 0; i < next.length; i++) next[i] = cOut * predicted[i] + cSkip * sample[i];
      if (index === steps - 1) return next;
      const alphaProdPrevious = alphaAt(timesteps[index + 1]);
      const sqrtAlphaPrevious = Math.sqrt(alphaProdPrevious);
      const sqrtBetaPrevious = Math.sqrt(1 - alphaProdPrevious);
      const fresh = noise();
      for (let i = 0; i < next.length; i++) next[i] = sqrtAlphaPrevious * next[i] + sqrtBetaPrevious * fresh[i];
      return next;
    },
  };
}
