import type { SchedulerConfig } from './schedulerConfig.ts';

const f32 = Math.fround;

/**
 * The training noise schedule as diffusers builds it: betas, then alphas_cumprod. The rounding follows
 * what diffusers' classes produced for test/reference/diffusers_sampler_loops.json (every σ at an
 * integer timestep bit-identical): float32 end points, the linspace and the square in double, each
 * beta stored as float32, and the cumulative product accumulated in double, stored as float32.
 *
 * With rescale_betas_zero_snr the betas are rescaled first so that ᾱ reaches 0 at the last training
 * step; the σ-space samplers (Euler, Euler a, DPM++ 2M) then set that last ᾱ to 2⁻²⁴, as diffusers
 * does, so σ stays finite (`sigmaSpace`).
 */
export function alphasCumprod(config: SchedulerConfig, sigmaSpace = false): Float64Array {
  const count = config.num_train_timesteps;
  let betas: Float64Array = new Float64Array(count);
  if (config.trained_betas) {
    for (let i = 0; i < count; i++) betas[i] = f32(config.trained_betas[i]);
  } else if (config.beta_schedule === 'squaredcos_cap_v2') {
    const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
    for (let i = 0; i < count; i++) betas[i] = f32(Math.min(1 - alphaBar((i + 1) / count) / alphaBar(i / count), 0.999));
  } else {
    const scaled = config.beta_schedule === 'scaled_linear';
    const values = linspace(f32(scaled ? Math.sqrt(config.beta_start) : config.beta_start), f32(scaled ? Math.sqrt(config.beta_end) : config.beta_end), count);
    for (let i = 0; i < count; i++) betas[i] = f32(scaled ? values[i] * values[i] : values[i]);
  }
  if (config.rescale_betas_zero_snr) betas = rescaleZeroTerminalSnr(betas);
  const cumulative = cumulativeProduct(betas);
  if (config.rescale_betas_zero_snr && sigmaSpace) cumulative[count - 1] = 2 ** -24;
  return cumulative;
}

function cumulativeProduct(betas: Float64Array): Float64Array {
  const cumulative = new Float64Array(betas.length);
  let product = 1;
  for (let i = 0; i < betas.length; i++) {
    product *= f32(1 - betas[i]);
    cumulative[i] = f32(product);
  }
  return cumulative;
}

/** diffusers' rescale_zero_terminal_snr (Lin et al. 2023, algorithm 1) in float32: shift √ᾱ to end at 0, scale it back to start at √ᾱ₀. */
function rescaleZeroTerminalSnr(betas: Float64Array): Float64Array {
  const count = betas.length;
  const root = cumulativeProduct(betas).map((value) => f32(Math.sqrt(value)));
  const first = root[0];
  const last = root[count - 1];
  const scale = f32(first / f32(first - last));
  const alphaBar = root.map((value) => {
    const shifted = f32(f32(value - last) * scale);
    return f32(shifted * shifted);
  });
  const rescaled = new Float64Array(count);
  rescaled[0] = f32(1 - alphaBar[0]);
  for (let i = 1; i < count; i++) rescaled[i] = f32(1 - f32(alphaBar[i] / alphaBar[i - 1]));
  return rescaled;
}

/** torch.linspace's order of evaluation: from the start for the first half, from the end for the rest. */
function linspace(start: number, end: number, count: number): Float64Array {
  const out = new Float64Array(count);
  if (count === 1) {
    out[0] = start;
    return out;
  }
  const step = (end - start) / (count - 1);
  const halfway = Math.floor(count / 2);
  for (let i = 0; i < count; i++) out[i] = i < halfway ? start + step * i : end - step * (count - i - 1);
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
