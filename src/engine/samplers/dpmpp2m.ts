import { alphasCumprod, interpolate, karrasSigmas, roundHalfEven, sigmaToTimestep, trainingSigmas } from './noiseSchedule.ts';
import type { Sampler, SamplerOptions } from './sampler.ts';
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

function alphaSigma(sigma: number): [alpha: number, sigmaT: number] {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  return [alpha, sigma * alpha];
}

/**
 * diffusers' DPMSolverMultistepScheduler as A1111's "DPM++ 2M": algorithm dpmsolver++, order 2,
 * midpoint solver, final σ = 0 with a first-order last step. Latents stay in VP space (x = α·x₀ + σₜ·ε),
 * so the initial noise is not scaled and the model input is the sample itself.
 */
export function createDpmpp2m({ config, steps, schedule }: SamplerOptions): Sampler {
  const table = trainingSigmas(alphasCumprod(config));
  let timesteps = multistepTimesteps(config, steps);
  let stepSigmas: Float64Array;
  if (schedule === 'Karras') {
    const logSigmas = table.map((sigma) => f32(Math.log(sigma)));
    stepSigmas = karrasSigmas(table[0], table[table.length - 1], steps);
    timesteps = stepSigmas.map((sigma) => roundHalfEven(sigmaToTimestep(sigma, logSigmas)));
  } else {
    stepSigmas = timesteps.map((t) => interpolate(t, table));
  }
  const sigmas = new Float64Array(steps + 1);
  for (let i = 0; i < steps; i++) sigmas[i] = f32(stepSigmas[i]);

  const history: Float32Array[] = [];
  let lowerOrderCount = 0;
  return {
    name: 'DPM++ 2M',
    timesteps,
    sigmas,
    initNoiseSigma: 1,
    scaleModelInput: (sample) => sample,
    step(modelOutput, index, sample) {
      const [alphaS0, sigmaS0] = alphaSigma(sigmas[index]);
      const denoised = new Float32Array(sample.length);
      if (config.prediction_type === 'epsilon') {
        for (let i = 0; i < denoised.length; i++) denoised[i] = (sample[i] - sigmaS0 * modelOutput[i]) / alphaS0;
      } else {
        for (let i = 0; i < denoised.length; i++) denoised[i] = alphaS0 * sample[i] - sigmaS0 * modelOutput[i];
      }
      history.push(denoised);
      if (history.length > 2) history.shift();

      const [alphaT, sigmaT] = alphaSigma(sigmas[index + 1]);
      const lambdaT = Math.log(alphaT) - Math.log(sigmaT);
      const lambdaS0 = Math.log(alphaS0) - Math.log(sigmaS0);
      const h = lambdaT - lambdaS0;
      const sampleScale = sigmaT / sigmaS0;
      const denoisedScale = alphaT * (Math.exp(-h) - 1);
      const isLastStep = index === steps - 1;
      const next = new Float32Array(sample.length);
      if (lowerOrderCount < 1 || isLastStep) {
        for (let i = 0; i < next.length; i++) next[i] = sampleScale * sample[i] - denoisedScale * denoised[i];
      } else {
        const [alphaS1, sigmaS1] = alphaSigma(sigmas[index - 1]);
        const lambdaS1 = Math.log(alphaS1) - Math.log(sigmaS1);
        const ratio = (lambdaS0 - lambdaS1) / h;
        const previous = history[0];
        for (let i = 0; i < next.length; i++) {
          const difference = (denoised[i] - previous[i]) / ratio;
          next[i] = sampleScale * sample[i] - denoisedScale * denoised[i] - 0.5 * denoisedScale * difference;
        }
      }
      if (lowerOrderCount < 2) lowerOrderCount++;
      return next;
    },
  };
}
