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
 * The σ schedule of diffusers' EulerDiscreteScheduler (also Euler ancestral): σ interpolated at the
 * spaced timesteps; with Karras spacing, ρ = 7 sigmas between the first and last of those and the
 * timesteps mapped back through log σ.
 */
export function discreteSigmaSchedule(config: SchedulerConfig, steps: number, karras: boolean): SigmaSchedule {
  const table = trainingSigmas(alphasCumprod(config));
  let timesteps: Float64Array = spacedTimesteps(config, steps, true);
  let stepSigmas: Float64Array = timesteps.map((t) => interpolate(t, table));
  if (karras) {
    const logSigmas = table.map((sigma) => f32(Math.log(sigma)));
    stepSigmas = karrasSigmas(stepSigmas[steps - 1], stepSigmas[0], steps);
    timesteps = stepSigmas.map((sigma) => f32(sigmaToTimestep(sigma, logSigmas)));
  }
  const sigmas = new Float64Array(steps + 1);
  for (let i = 0; i < steps; i++) sigmas[i] = f32(stepSigmas[i]);
  const maxSigma = Math.max(...sigmas);
  const initNoiseSigma = config.timestep_spacing === 'leading' ? Math.sqrt(maxSigma * maxSigma + 1) : maxSigma;
  return { timesteps, sigmas, initNoiseSigma };
}
