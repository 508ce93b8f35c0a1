import { EaselError } from '../errors.ts';
import { createDdim } from './ddim.ts';
import { createDpmpp2m } from './dpmpp2m.ts';
import { createEuler } from './euler.ts';
import { createEulerAncestral } from './eulerAncestral.ts';
import { createLcm } from './lcm.ts';
import { createPlms } from './plms.ts';
import { SAMPLER_NAMES, SCHEDULE_TYPES, type Sampler, type SamplerName, type SamplerOptions, type SamplerSetup, type ScheduleType } from './sampler.ts';
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

/** Karras spacing is defined for the σ-space samplers only. */
const SUPPORTS_KARRAS: ReadonlySet<SamplerName> = new Set(['Euler a', 'Euler', 'DPM++ 2M']);

export function isSamplerName(value: unknown): value is SamplerName {
  return typeof value === 'string' && (SAMPLER_NAMES as readonly string[]).includes(value);
}

export function isScheduleType(value: unknown): value is ScheduleType {
  return typeof value === 'string' && (SCHEDULE_TYPES as readonly string[]).includes(value);
}

/** Accepts A1111's names case-insensitively, and "karras"/"automatic" for the schedule. */
export function parseSamplerName(value: string): SamplerName {
  const match = SAMPLER_NAMES.find((name) => name.toLowerCase() === value.trim().toLowerCase());
  if (!match) throw new EaselError('INVALID_REQUEST', `Unknown sampler "${value}". Choose one of: ${SAMPLER_NAMES.join(', ')}.`);
  return match;
}

export function parseScheduleType(value: string): ScheduleType {
  const match = SCHEDULE_TYPES.find((name) => name.toLowerCase() === value.trim().toLowerCase());
  if (!match) throw new EaselError('INVALID_REQUEST', `Unknown schedule type "${value}". Choose one of: ${SCHEDULE_TYPES.join(', ')}.`);
  return match;
}

export function createSampler(name: SamplerName, options: SamplerOptions): Sampler {
  if (!Number.isInteger(options.steps) || options.steps < 1) {
    throw new EaselError('INVALID_REQUEST', `Steps must be a whole number of at least 1, got ${options.steps}.`);
  }
  if (options.schedule === 'Karras' && !SUPPORTS_KARRAS.has(name)) {
    throw new EaselError('INVALID_REQUEST', `Schedule type Karras is not available for ${name}; use Automatic.`);
  }
  const factory = FACTORIES[name];
  if (!factory) throw new EaselError('INVALID_REQUEST', `Unknown sampler "${String(name)}". Choose one of: ${SAMPLER_NAMES.join(', ')}.`);
  return factory({ ...options, config: resolveSchedulerConfig(name, options.config) });
}
