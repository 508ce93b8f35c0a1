import { alphaProductAt, spacedTimesteps } from './noiseSchedule.ts';
import { addNoiseAtAlpha, type Sampler, type SamplerSetup } from './sampler.ts';

/**
 * diffusers' PNDMScheduler with skip_prk_steps (A1111's "PLMS"): pseudo linear multistep on ε.
 * The second evaluation repeats the second timestep and averages with the first, so there are
 * N + 1 model evaluations for N steps.
 */
export function createPlms({ config, steps }: SamplerSetup): Sampler {
  const alphaAt = alphaProductAt(config);
  const ascending = spacedTimesteps(config, steps, false).reverse();
  const timesteps = new Float64Array(steps + 1);
  const plmsOrder = [...ascending.subarray(0, steps - 1), ...ascending.subarray(Math.max(0, steps - 2), steps - 1), ascending[steps - 1]];
  plmsOrder.reverse().forEach((t, i) => (timesteps[i] = t));
  const stride = Math.floor(config.num_train_timesteps / steps);

  const history: Float32Array[] = [];
  let firstSample: Float32Array | undefined;
  let counter = 0;
  return {
    name: 'PLMS',
    timesteps,
    initNoiseSigma: 1,
    scaleModelInput: (sample) => sample,
    addNoise: (original, noise, index) => addNoiseAtAlpha(original, noise, alphaAt(timesteps[index])),
    step(modelOutput, index, sample) {
      let timestep = timesteps[index];
      let previousTimestep = timestep - stride;
      if (counter !== 1) {
        if (history.length > 3) history.shift();
        history.push(modelOutput);
      } else {
        previousTimestep = timestep;
        timestep += stride;
      }
      const epsilon = new Float32Array(sample.length);
      const [e1, e2, e3, e4] = [history.at(-1)!, history.at(-2), history.at(-3), history.at(-4)];
      if (history.length === 1 && counter === 0) {
        epsilon.set(modelOutput);
        firstSample = sample;
      } else if (history.length === 1 && counter === 1) {
        for (let i = 0; i < epsilon.length; i++) epsilon[i] = (modelOutput[i] + e1[i]) / 2;
        sample = firstSample!;
        firstSample = undefined;
      } else if (history.length === 2) {
        for (let i = 0; i < epsilon.length; i++) epsilon[i] = (3 * e1[i] - e2![i]) / 2;
      } else if (history.length === 3) {
        for (let i = 0; i < epsilon.length; i++) epsilon[i] = (23 * e1[i] - 16 * e2![i] + 5 * e3![i]) / 12;
      } else {
        for (let i = 0; i < epsilon.length; i++) epsilon[i] = (55 * e1[i] - 59 * e2![i] + 37 * e3![i] - 9 * e4![i]) / 24;
      }
      counter++;
      return previousSample(sample, timestep, previousTimestep, epsilon);
    },
  };

  /** PNDM's formula (9): x_{t−δ} from x_t and the combined model output. */
  function previousSample(sample: Float32Array, timestep: number, previousTimestep: number, output: Float32Array): Float32Array {
    const alphaProd = alphaAt(timestep);
    const alphaProdPrevious = alphaAt(previousTimestep);
    const betaProd = 1 - alphaProd;
    const betaProdPrevious = 1 - alphaProdPrevious;
    const sampleCoefficient = Math.sqrt(alphaProdPrevious / alphaProd);
    const denominator = alphaProd * Math.sqrt(betaProdPrevious) + Math.sqrt(alphaProd * betaProd * alphaProdPrevious);
    const outputCoefficient = (alphaProdPrevious - alphaProd) / denominator;
    const vPrediction = config.prediction_type === 'v_prediction';
    const next = new Float32Array(sample.length);
    for (let i = 0; i < next.length; i++) {
      const epsilon = vPrediction ? Math.sqrt(alphaProd) * output[i] + Math.sqrt(betaProd) * sample[i] : output[i];
      next[i] = sampleCoefficient * sample[i] - outputCoefficient * epsilon;
    }
    return next;
  }
}
