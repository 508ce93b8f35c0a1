import { alphasCumprod, interpolate, karrasSigmas, sigmaToTimestep, spacedTimesteps, trainingSigmas } from './noiseSchedule.ts';
import type { SchedulerConfig } from './schedulerConfig.ts';

export interface SigmaSchedule {
  timesteps: Float64Array;
  /** One σ per step, then the final σ (0 unless final_sigmas_type says sigma_min; see logLinearSigmas for one more). */
  sigmas: Float64Array;
  initNoiseSigma: number;
}

const f32 = Math.fround;

/**
 * interpolation_type "log_linear": N + 1 sigmas evenly spaced in log σ from the largest training σ down
 * to the smallest, as diffusers builds them (float32). The timesteps stay those of the spacing, so the
 * last step ends at σ_min, and the schedule's final σ is never reached — diffusers' behaviour, kept.
 */
function logLinearSigmas(table: Float64Array, steps: number): Float64Array {
  const start = f32(Math.log(table[table.length - 1]));
  const end = f32(Math.log(table[0]));
  const out = new Float64Array(steps + 1);
  for (let i = 0; i <= steps; i++) out[i] = f32(Math.exp(f32(start + ((end - start) / steps) * i)));
  return out;
}

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
  let stepSigmas: Float64Array = config.interpolation_type === 'log_linear'
    ? logLinearSigmas(table, steps)
    : timesteps.map((t) => interpolate(t, table));
  if (karras) {
    const logSigmas = table.map((sigma) => f32(Math.log(sigma)));
    stepSigmas = karrasSigmas(config.sigma_min ?? stepSigmas[stepSigmas.length - 1], config.sigma_max ?? stepSigmas[0], steps);
    timesteps = stepSigmas.map((sigma) => f32(sigmaToTimestep(sigma, logSigmas)));
  }
  const sigmas = new Float64Array(stepSigmas.length + 1);
  for (let i = 0; i < stepSigmas.length; i++) sigmas[i] = f32(stepSigmas[i]);
  sigmas[stepSigmas.length] = config.final_sigmas_type === 'sigma_min' ? table[0] : 0;
  if (config.timestep_type === 'continuous' && config.prediction_type === 'v_prediction') {
    timesteps = sigmas.subarray(0, steps).map((sigma) => f32(0.25 * f32(Math.log(sigma))));
  }
  const maxSigma = Math.max(...sigmas);
  const initNoiseSigma = config.timestep_spacing === 'leading' ? f32(Math.sqrt(f32(f32(maxSigma * maxSigma) + 1))) : maxSigma;
  return { timesteps, sigmas, initNoiseSigma };
}
