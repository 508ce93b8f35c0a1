import { EaselError } from '../../shared/errors.ts';
import { createDdim } from './ddim.ts';
import { createDpmpp2m } from './dpmpp2m.ts';
import { createEuler } from './euler.ts';
import { createEulerAncestral } from './eulerAncestral.ts';
import { createLcm } from './lcm.ts';
import { createPlms } from './plms.ts';
import type { SamplerName } from '../../shared/names.ts';
import { settingsProblems } from '../../shared/generationSettings.ts';
import type { Sampler, SamplerOptions, SamplerSetup } from './sampler.ts';
import { resolveSchedulerConfig } from './schedulerConfig.ts';

export * from './sampler.ts';
export * from './schedulerConfig.ts';

const FACTORIES: Record<SamplerName, (setup: SamplerSetup) => Sampler> = {
  'Euler a': createEulerAncestral,
  Euler: createEuler,
  'DPM++ 2M': createDpmpp2m,
  DDIM: createDdim,
  PLMS: createPlms,
  LCM: createLcm,
};

export function createSampler(name: SamplerName, options: SamplerOptions): Sampler {
  const [problem] = settingsProblems({ sampler: name, schedule: options.schedule, steps: options.steps });
  if (problem) throw new EaselError('INVALID_REQUEST', problem.message);
  return FACTORIES[name]({ ...options, config: resolveSchedulerConfig(name, options.config) });
}
