import { alphasCumprod, interpolate, karrasSigmas, roundHalfEven, sigmaToTimestep, trainingSigmas } from './noiseSchedule.ts';
import { addNoiseScaled, type Sampler, type SamplerSetup } from './sampler.ts';
import type { SchedulerConfig } from './schedulerConfig.ts';

const f32 = Math.fround;

/** DPMSolverMultistepScheduler's own spacing: N of N + 1 points (leading, linspace) or T/N (trailing). */
function multistepTimesteps(config: SchedulerConfig, steps: number): Float64Array {
  const total = config.num_train_timesteps;
  const out = new Float64Array(steps);
  if (config.timestep_spacing === 'linspace') {
    const step = (total - 1) / steps;
    for (let i = 0; i < steps; i++) out[i] = roundHalfEven((steps - i) * step);
  } else if (config.timestep_spacing === 'leading') {
    const ratio = Math.floor(total / (steps + 1));
    for (let i = 0; i < steps; i++) out[i] = (steps - i) * ratio + config.steps_offset;
  } else {
    const ratio = total / steps;
    for (let i = 0; i < steps; i++) out[i] = roundHalfEven(total - i * ratio) - 1;
  }
  return out;
}

/**
 * α and σₜ of a σ, and λ = log α − log σₜ, rounded to float32 at each operation as diffusers' float32
 * tensors are: h = λₜ − λₛ is a small difference of large values, so its rounding shows in the result.
 */
function alphaSigma(sigma: number): [alpha: number, sigmaT: number, lambda: number] {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  const sigmaT = f32(sigma * alpha);
  return [alpha, sigmaT, f32(f32(Math.log(alpha)) - f32(Math.log(sigmaT)))];
}

/**
 * diffusers' DPMSolverMultistepScheduler as A1111's "DPM++ 2M": algorithm dpmsolver++, order 2,
 * midpoint solver, final σ = 0 with a first-order last step (or σ_min with final_sigmas_type, then the
 * last step is first order only for short runs, as lower_order_final says). Latents stay in VP space (x = α·x₀ + σₜ·ε),
 * so the initial noise is not scaled and the model input is the sample itself. Each operation rounds to
 * float32 as diffusers' tensors do: x₀ = (x − σₜ·ε)/α cancels large terms, and the second-order
 * difference of x₀ carries that rounding into every later step.
 */
export function createDpmpp2m({ config, steps, schedule }: SamplerSetup): Sampler {
  const table = trainingSigmas(alphasCumprod(config, true));
  let timesteps = multistepTimesteps(config, steps);
  let stepSigmas: Float64Array;
  if (schedule === 'Karras' || config.use_karras_sigmas) {
    const logSigmas = table.map((sigma) => f32(Math.log(sigma)));
    stepSigmas = karrasSigmas(table[0], table[table.length - 1], steps);
    timesteps = stepSigmas.map((sigma) => roundHalfEven(sigmaToTimestep(sigma, logSigmas)));
  } else {
    stepSigmas = timesteps.map((t) => interpolate(t, table));
  }
  const sigmas = new Float64Array(steps + 1);
  for (let i = 0; i < steps; i++) sigmas[i] = f32(stepSigmas[i]);
  sigmas[steps] = config.final_sigmas_type === 'sigma_min' ? table[0] : 0;
  // diffusers' lower_order_final: the last step is first order when it ends at σ = 0, and for short runs.
  const firstOrderLast = config.final_sigmas_type === 'zero' || config.euler_at_final || (config.lower_order_final && steps < 15);

  const history: Float32Array[] = [];
  let lowerOrderCount = 0;
  return {
    name: 'DPM++ 2M',
    timesteps,
    sigmas,
    initNoiseSigma: 1,
    scaleModelInput: (sample) => sample,
    addNoise(original, noise, index) {
      const [alpha, sigmaT] = alphaSigma(sigmas[index]);
      return addNoiseScaled(original, noise, alpha, sigmaT);
    },
    step(modelOutput, index, sample) {
      const [alphaS0, sigmaS0, lambdaS0] = alphaSigma(sigmas[index]);
      const denoised = new Float32Array(sample.length);
      if (config.prediction_type === 'epsilon') {
        for (let i = 0; i < denoised.length; i++) denoised[i] = f32(sample[i] - f32(sigmaS0 * modelOutput[i])) / alphaS0;
      } else {
        for (let i = 0; i < denoised.length; i++) denoised[i] = f32(alphaS0 * sample[i]) - f32(sigmaS0 * modelOutput[i]);
      }
      history.push(denoised);
      if (history.length > 2) history.shift();

      const [alphaT, sigmaT, lambdaT] = alphaSigma(sigmas[index + 1]);
      const h = f32(lambdaT - lambdaS0);
      const sampleScale = f32(sigmaT / sigmaS0);
      const denoisedScale = f32(alphaT * f32(f32(Math.exp(-h)) - 1));
      const isLastStep = index === steps - 1 && firstOrderLast;
      const next = new Float32Array(sample.length);
      if (lowerOrderCount < 1 || isLastStep) {
        for (let i = 0; i < next.length; i++) next[i] = f32(sampleScale * sample[i]) - f32(denoisedScale * denoised[i]);
      } else {
        const [, , lambdaS1] = alphaSigma(sigmas[index - 1]);
        const inverseRatio = f32(1 / f32(f32(lambdaS0 - lambdaS1) / h));
        const differenceScale = f32(0.5 * denoisedScale);
        const previous = history[0];
        for (let i = 0; i < next.length; i++) {
          const difference = f32(inverseRatio * f32(denoised[i] - previous[i]));
          next[i] = f32(f32(sampleScale * sample[i]) - f32(denoisedScale * denoised[i])) - f32(differenceScale * difference);
        }
      }
      if (lowerOrderCount < 2) lowerOrderCount++;
      return next;
    },
  };
}
