import type { SchedulerConfig } from './schedulerConfig.ts';

const f32 = Math.fround;

/**
 * The training noise schedule as diffusers builds it in float32 torch tensors: betas, then
 * alphas_cumprod (torch's CPU cumprod accumulates in double and stores float32).
 */
export function alphasCumprod(config: SchedulerConfig): Float64Array {
  const count = config.num_train_timesteps;
  const betas = new Float64Array(count);
  if (config.beta_schedule === 'squaredcos_cap_v2') {
    const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
    for (let i = 0; i < count; i++) betas[i] = f32(Math.min(1 - alphaBar((i + 1) / count) / alphaBar(i / count), 0.999));
  } else {
    const scaled = config.beta_schedule === 'scaled_linear';
    const start = f32(scaled ? Math.sqrt(config.beta_start) : config.beta_start);
    const end = f32(scaled ? Math.sqrt(config.beta_end) : config.beta_end);
    const values = linspaceFloat32(start, end, count);
    for (let i = 0; i < count; i++) betas[i] = scaled ? f32(values[i] * values[i]) : values[i];
  }
  const cumulative = new Float64Array(count);
  let product = 1;
  for (let i = 0; i < count; i++) {
    product *= f32(1 - betas[i]);
    cumulative[i] = f32(product);
  }
  return cumulative;
}

/** torch.linspace for float32: steps from the start for the first half, from the end for the rest. */
function linspaceFloat32(start: number, end: number, count: number): Float64Array {
  const out = new Float64Array(count);
  if (count === 1) {
    out[0] = start;
    return out;
  }
  const step = f32((end - start) / (count - 1));
  const halfway = Math.floor(count / 2);
  for (let i = 0; i < count; i++) {
    out[i] = i < halfway ? f32(start + step * i) : f32(end - step * (count - i - 1));
  }
  return out;
}

/** σ(t) = √((1 − ᾱₜ)/ᾱₜ), in float32 as diffusers computes it from its tensors. */
export function trainingSigmas(cumulative: Float64Array): Float64Array {
  const sigmas = new Float64Array(cumulative.length);
  for (let i = 0; i < cumulative.length; i++) sigmas[i] = f32(Math.sqrt(f32(f32(1 - cumulative[i]) / cumulative[i])));
  return sigmas;
}

/** np.interp over the integer grid 0 … n−1. */
export function interpolate(x: number, table: Float64Array): number {
  if (x <= 0) return table[0];
  const last = table.length - 1;
  if (x >= last) return table[last];
  const low = Math.floor(x);
  const fraction = x - low;
  return table[low] + (table[low + 1] - table[low]) * fraction;
}

/** Karras et al. (2022) ρ = 7 spacing between σ_max and σ_min. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, steps: number, rho = 7): Float64Array {
  const out = new Float64Array(steps);
  const minInvRho = sigmaMin ** (1 / rho);
  const maxInvRho = sigmaMax ** (1 / rho);
  for (let i = 0; i < steps; i++) {
    const ramp = steps === 1 ? 0 : i / (steps - 1);
    out[i] = (maxInvRho + ramp * (minInvRho - maxInvRho)) ** rho;
  }
  return out;
}

/** diffusers' _sigma_to_t: the fractional training timestep whose log σ matches, by linear interpolation. */
export function sigmaToTimestep(sigma: number, logSigmas: Float64Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma - logSigmas[i] >= 0) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const lowValue = logSigmas[low];
  const highValue = logSigmas[low + 1];
  const weight = Math.min(1, Math.max(0, (lowValue - logSigma) / (lowValue - highValue)));
  return (1 - weight) * low + weight * (low + 1);
}

/** np.round: halves go to the even neighbour. */
export function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * Descending training timesteps for `steps` inference steps, as diffusers' discrete schedulers space
 * them (Euler, DDIM): `leading` steps by T // N from 0 plus steps_offset, `trailing` counts down from
 * T − 1 by T / N, `linspace` spans 0 … T − 1 evenly (fractional values kept).
 */
export function spacedTimesteps(config: SchedulerConfig, steps: number, keepFraction: boolean): Float64Array {
  const total = config.num_train_timesteps;
  const out = new Float64Array(steps);
  switch (config.timestep_spacing) {
    case 'linspace': {
      const step = steps === 1 ? 0 : (total - 1) / (steps - 1);
      for (let i = 0; i < steps; i++) {
        const value = i === steps - 1 && steps > 1 ? total - 1 : i * step;
        out[steps - 1 - i] = keepFraction ? f32(value) : roundHalfEven(value);
      }
      break;
    }
    case 'leading': {
      const ratio = Math.floor(total / steps);
      for (let i = 0; i < steps; i++) out[steps - 1 - i] = i * ratio + config.steps_offset;
      break;
    }
    case 'trailing': {
      const ratio = total / steps;
      for (let i = 0; i < steps; i++) out[i] = roundHalfEven(total - i * ratio) - 1;
      break;
    }
  }
  return out;
}

/**
 * ᾱ at a training timestep for the ᾱ-space samplers (DDIM, PLMS, LCM); before t = 0 it is 1 with
 * set_alpha_to_one, else ᾱ₀, as diffusers' final_alpha_cumprod.
 */
export function alphaProductAt(config: SchedulerConfig): (timestep: number) => number {
  const cumulative = alphasCumprod(config);
  const finalAlphaProd = config.set_alpha_to_one ? 1 : cumulative[0];
  return (timestep) => (timestep >= 0 ? cumulative[timestep] : finalAlphaProd);
}
