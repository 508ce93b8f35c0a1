import { alphasCumprod, interpolate, karrasSigmas, sigmaToTimestep, spacedTimesteps, trainingSigmas } from './noiseSchedule.ts';
import type { SchedulerConfig } from './schedulerConfig.ts';

export interface SigmaSchedule {
  timesteps: Float64Array;
  /** One σ per step, then the final 0. */
  sigmas: Float64Array;
  initNoiseSigma: number;
}

const f32 = Math.fround;

/**
 * The σ schedule of diffusers' EulerDiscreteScheduler (also Euler ancestral, whose class reads fewer
 * keys: the rest keep their neutral defaults): σ interpolated at the spaced timesteps; with Karras
 * spacing, ρ = 7 sigmas between the last and first of those (or sigma_min / sigma_max from the config)
 * and the timesteps mapped back through log σ; the final σ is 0 or, with final_sigmas_type
 * "sigma_min", the training schedule's smallest σ. timestep_type "continuous" with v-prediction feeds
 * the UNet 0.25·log σ instead of a training timestep.
 */
export function discreteSigmaSchedule(config: SchedulerConfig, steps: number, karras: boolean): SigmaSchedule {
  const table = trainingSigmas(alphasCumprod(config, true));
  let timesteps: Float64Array = spacedTimesteps(config, steps, true);
  let stepSigmas: Float64Array = timesteps.map((t) => interpolate(t, table));
  if (karras) {
    const logSigmas = table.map((sigma) => f32(Math.log(sigma)));
    stepSigmas = karrasSigmas(config.sigma_min ?? stepSigmas[steps - 1], config.sigma_max ?? stepSigmas[0], steps);
    timesteps = stepSigmas.map((sigma) => f32(sigmaToTimestep(sigma, logSigmas)));
  }
  const sigmas = new Float64Array(steps + 1);
  for (let i = 0; i < steps; i++) sigmas[i] = f32(stepSigmas[i]);
  sigmas[steps] = config.final_sigmas_type === 'sigma_min' ? table[0] : 0;
  if (config.timestep_type === 'continuous' && config.prediction_type === 'v_prediction') {
    timesteps = sigmas.subarray(0, steps).map((sigma) => f32(0.25 * f32(Math.log(sigma))));
  }
  const maxSigma = Math.max(...sigmas);
  const initNoiseSigma = config.timestep_spacing === 'leading' ? f32(Math.sqrt(f32(f32(maxSigma * maxSigma) + 1))) : maxSigma;
  return { timesteps, sigmas, initNoiseSigma };
}
