import { EaselError } from '../../shared/errors.ts';
import type { SamplerName } from '../../shared/names.ts';

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';
export type PredictionType = 'epsilon' | 'v_prediction';
export type FinalSigmasType = 'zero' | 'sigma_min';
export type TimestepKind = 'discrete' | 'continuous';

/**
 * The keys of diffusers' scheduler_config.json that the samplers read, spelled as diffusers spells them.
 * A sampler sees them resolved: the folder's value where its file has the key, else the default of the
 * diffusers class the sampler follows (`SAMPLER_CLASSES`).
 */
export interface SchedulerConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: BetaSchedule;
  /** Explicit betas, one per training timestep, instead of beta_start/beta_end/beta_schedule. */
  trained_betas: number[] | null;
  prediction_type: PredictionType;
  timestep_spacing: TimestepSpacing;
  steps_offset: number;
  set_alpha_to_one: boolean;
  clip_sample: boolean;
  clip_sample_range: number;
  original_inference_steps: number;
  timestep_scaling: number;
  /** Zero terminal SNR (Lin et al. 2023): betas rescaled so ᾱ at the last training step is 0. */
  rescale_betas_zero_snr: boolean;
  use_karras_sigmas: boolean;
  final_sigmas_type: FinalSigmasType;
  timestep_type: TimestepKind;
  /** How Euler picks σ for the spaced timesteps: interpolated in the training table, or log-linear from σ_max to σ_min. */
  interpolation_type: 'linear' | 'log_linear';
  sigma_min: number | null;
  sigma_max: number | null;
  lower_order_final: boolean;
  euler_at_final: boolean;
}

/** Keys Easel reads only to refuse the values it does not implement (`REFUSED_VALUES`). */
export type RefusedKey = 'thresholding' | 'use_exponential_sigmas' | 'use_beta_sigmas' | 'use_lu_lambdas' | 'use_flow_sigmas' | 'variance_type' | 'lambda_min_clipped';

/** What a scheduler_config.json holds: each key checked, nothing filled in. */
export type SchedulerFile = Partial<SchedulerConfig> & Partial<Record<RefusedKey, unknown>>;

/**
 * Stable Diffusion 1.x's scheduler_config.json, with every key present; Easel reads a folder that
 * has no scheduler_config.json as if it had this one.
 */
export const DEFAULT_SCHEDULER_CONFIG: Readonly<SchedulerConfig> = Object.freeze({
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  trained_betas: null,
  prediction_type: 'epsilon',
  timestep_spacing: 'leading',
  steps_offset: 1,
  set_alpha_to_one: false,
  clip_sample: false,
  clip_sample_range: 1,
  original_inference_steps: 50,
  timestep_scaling: 10,
  rescale_betas_zero_snr: false,
  use_karras_sigmas: false,
  final_sigmas_type: 'zero',
  timestep_type: 'discrete',
  interpolation_type: 'linear',
  sigma_min: null,
  sigma_max: null,
  lower_order_final: true,
  euler_at_final: false,
});

const COMMON = {
  num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear', trained_betas: null, prediction_type: 'epsilon',
} as const satisfies SchedulerFile;

export interface SamplerClass {
  /** The diffusers class the sampler follows (v0.30). */
  className: string;
  /** Every config key the class reads, with the class's own `__init__` default. */
  defaults: SchedulerFile;
}

/**
 * Per sampler, the diffusers scheduler class and its `__init__` defaults. diffusers fills a key missing
 * from scheduler_config.json with the default of the class being built, and `X.from_config(config)`
 * drops values that were only the previous class's defaults (`_use_default_values`), so a missing key
 * takes the chosen sampler's own default and a present key always wins. Keys a class does not read
 * have no effect on it. src/engine/samplers/README.md shows this table.
 */
export const SAMPLER_CLASSES: Readonly<Record<SamplerName, SamplerClass>> = {
  Euler: {
    className: 'EulerDiscreteScheduler',
    defaults: {
      ...COMMON, interpolation_type: 'linear', use_karras_sigmas: false, sigma_min: null, sigma_max: null, timestep_spacing: 'linspace',
      timestep_type: 'discrete', steps_offset: 0, rescale_betas_zero_snr: false, final_sigmas_type: 'zero',
    },
  },
  'Euler a': {
    className: 'EulerAncestralDiscreteScheduler',
    defaults: { ...COMMON, timestep_spacing: 'linspace', steps_offset: 0, rescale_betas_zero_snr: false },
  },
  'DPM++ 2M': {
    className: 'DPMSolverMultistepScheduler',
    defaults: {
      ...COMMON, lower_order_final: true, euler_at_final: false, use_karras_sigmas: false, final_sigmas_type: 'zero', timestep_spacing: 'linspace',
      steps_offset: 0, rescale_betas_zero_snr: false,
    },
  },
  DDIM: {
    className: 'DDIMScheduler',
    defaults: {
      ...COMMON, clip_sample: true, set_alpha_to_one: true, steps_offset: 0, clip_sample_range: 1, timestep_spacing: 'leading', rescale_betas_zero_snr: false,
    },
  },
  PLMS: {
    className: 'PNDMScheduler',
    defaults: { ...COMMON, set_alpha_to_one: false, timestep_spacing: 'leading', steps_offset: 0 },
  },
  LCM: {
    className: 'LCMScheduler',
    defaults: {
      ...COMMON, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', original_inference_steps: 50, clip_sample: false, clip_sample_range: 1,
      set_alpha_to_one: true, steps_offset: 0, timestep_spacing: 'leading', timestep_scaling: 10, rescale_betas_zero_snr: false,
    },
  },
};

/**
 * Keys of diffusers' classes whose non-default values select behaviour Easel does not implement.
 * A sampler whose class reads the key refuses such a value instead of silently ignoring it.
 */
const REFUSED_VALUES: ReadonlyArray<{ key: RefusedKey; classes: readonly SamplerName[]; supported: (value: unknown) => boolean; why: string }> = [
  { key: 'thresholding', classes: ['DPM++ 2M', 'DDIM', 'LCM'], supported: (v) => v === false, why: 'dynamic thresholding is for pixel-space models' },
  { key: 'use_exponential_sigmas', classes: ['Euler', 'DPM++ 2M'], supported: (v) => v === false, why: 'use Karras or the default spacing' },
  { key: 'use_beta_sigmas', classes: ['Euler', 'DPM++ 2M'], supported: (v) => v === false, why: 'use Karras or the default spacing' },
  { key: 'use_lu_lambdas', classes: ['DPM++ 2M'], supported: (v) => v === false, why: 'use Karras or the default spacing' },
  { key: 'use_flow_sigmas', classes: ['DPM++ 2M'], supported: (v) => v === false, why: 'flow-matching models are not Stable Diffusion 1.x/2.x' },
  { key: 'variance_type', classes: ['DPM++ 2M'], supported: (v) => v === null, why: 'learned-variance UNets are not Stable Diffusion 1.x/2.x' },
  { key: 'lambda_min_clipped', classes: ['DPM++ 2M'], supported: (v) => v === -Infinity || v === '-inf', why: 'only the default -inf is implemented' },
];

/** The configuration the named sampler runs with: its class's defaults, overridden by the keys the file holds. */
export function resolveSchedulerConfig(sampler: SamplerName, file: SchedulerFile, source = 'scheduler_config.json'): SchedulerConfig {
  const { defaults } = SAMPLER_CLASSES[sampler];
  const present = file as Record<string, unknown>;
  for (const rule of REFUSED_VALUES) {
    const value = present[rule.key];
    if (value !== undefined && rule.classes.includes(sampler) && !rule.supported(value)) {
      throw new EaselError('MODEL_INVALID', `${source}: "${rule.key}": ${JSON.stringify(value)} is not supported by Easel's ${sampler} (${rule.why}); edit the file or choose another sampler.`);
    }
  }
  if (present.rescale_betas_zero_snr === true && !('rescale_betas_zero_snr' in defaults)) {
    throw new EaselError('MODEL_INVALID', `${source}: "rescale_betas_zero_snr" is true, which ${sampler} (diffusers' ${SAMPLER_CLASSES[sampler].className}) does not implement; choose Euler, Euler a, DPM++ 2M, DDIM or LCM for this model.`);
  }
  const config: Record<string, unknown> = { ...DEFAULT_SCHEDULER_CONFIG, ...defaults };
  for (const key of Object.keys(defaults)) if (present[key] !== undefined) config[key] = present[key];
  const resolved = config as unknown as SchedulerConfig;
  if (resolved.trained_betas && resolved.trained_betas.length !== resolved.num_train_timesteps) {
    throw new EaselError('MODEL_INVALID', `${source}: "trained_betas" has ${resolved.trained_betas.length} values but "num_train_timesteps" is ${resolved.num_train_timesteps}.`);
  }
  if (resolved.original_inference_steps > resolved.num_train_timesteps && sampler === 'LCM') {
    throw new EaselError('MODEL_INVALID', `${source}: "original_inference_steps" (${resolved.original_inference_steps}) exceeds "num_train_timesteps" (${resolved.num_train_timesteps}).`);
  }
  if (resolved.sigma_min !== null && resolved.sigma_max !== null && resolved.sigma_min >= resolved.sigma_max) {
    throw new EaselError('MODEL_INVALID', `${source}: "sigma_min" (${resolved.sigma_min}) must be below "sigma_max" (${resolved.sigma_max}).`);
  }
  return resolved;
}

const BETA_SCHEDULES: readonly BetaSchedule[] = ['linear', 'scaled_linear', 'squaredcos_cap_v2'];
const SPACINGS: readonly TimestepSpacing[] = ['leading', 'trailing', 'linspace'];
const PREDICTION_TYPES: readonly PredictionType[] = ['epsilon', 'v_prediction'];
/** A training schedule longer than this is no Stable Diffusion model, and would cost memory for nothing. */
export const MAX_TRAIN_TIMESTEPS = 10_000;

/**
 * Reads a parsed scheduler_config.json: every key Easel knows is checked for type and range; what the
 * file does not hold stays absent so each sampler can fill it with its own default. Unknown keys are
 * ignored, as diffusers ignores keys its class does not take.
 */
export function parseSchedulerConfig(raw: unknown, source = 'scheduler_config.json'): SchedulerFile {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new EaselError('MODEL_INVALID', `${source} must hold a JSON object.`);
  }
  const record = raw as Record<string, unknown>;
  const config: Record<string, unknown> = {};
  const invalid = (key: string, expected: string) =>
    new EaselError('MODEL_INVALID', `${source}: "${key}" must be ${expected}, found ${JSON.stringify(record[key])}. Fix or replace this scheduler_config.json.`);
  const number = (key: keyof SchedulerConfig, min: number, max: number, integer: boolean, exclusive = false): void => {
    const value = record[key];
    if (value === undefined || value === null) return;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (exclusive && (value === min || value === max)) || (integer && !Number.isInteger(value))) {
      const range = exclusive ? `between ${min} and ${max} (exclusive)` : `from ${min} to ${max}`;
      throw invalid(key, `${integer ? 'an integer' : 'a number'} ${range}`);
    }
    config[key] = value;
  };
  const choice = <T extends string>(key: keyof SchedulerConfig, allowed: readonly T[]): void => {
    const value = record[key];
    if (value === undefined || value === null) return;
    if (typeof value !== 'string' || !allowed.includes(value as T)) {
      throw new EaselError('MODEL_INVALID', `${source}: "${key}" is ${JSON.stringify(value)}; Easel supports ${allowed.join(', ')}.`);
    }
    config[key] = value;
  };
  const flag = (key: keyof SchedulerConfig): void => {
    const value = record[key];
    if (value === undefined || value === null) return;
    if (typeof value !== 'boolean') throw invalid(key, 'true or false');
    config[key] = value;
  };
  number('num_train_timesteps', 2, MAX_TRAIN_TIMESTEPS, true);
  number('beta_start', 0, 1, false, true);
  number('beta_end', 0, 1, false, true);
  const steps = (config.num_train_timesteps as number | undefined) ?? 1000;
  number('steps_offset', 0, steps - 1, true);
  number('clip_sample_range', 0, Number.MAX_VALUE, false, true);
  number('original_inference_steps', 1, steps, true);
  number('timestep_scaling', 0, Number.MAX_VALUE, false);
  number('sigma_min', 0, Number.MAX_VALUE, false, true);
  number('sigma_max', 0, Number.MAX_VALUE, false, true);
  choice('beta_schedule', BETA_SCHEDULES);
  choice('prediction_type', PREDICTION_TYPES);
  choice('timestep_spacing', SPACINGS);
  choice('final_sigmas_type', ['zero', 'sigma_min'] as const);
  choice('timestep_type', ['discrete', 'continuous'] as const);
  choice('interpolation_type', ['linear', 'log_linear'] as const);
  for (const key of ['set_alpha_to_one', 'clip_sample', 'rescale_betas_zero_snr', 'use_karras_sigmas', 'lower_order_final', 'euler_at_final'] as const) flag(key);
  if (typeof config.beta_start === 'number' && typeof config.beta_end === 'number' && config.beta_end < config.beta_start) {
    throw new EaselError('MODEL_INVALID', `${source}: "beta_end" (${config.beta_end}) is below "beta_start" (${config.beta_start}); the noise schedule must increase.`);
  }
  const betas = record.trained_betas;
  if (betas !== undefined && betas !== null) {
    if (!Array.isArray(betas) || betas.length > MAX_TRAIN_TIMESTEPS || !betas.every((b) => typeof b === 'number' && b > 0 && b < 1)) {
      throw invalid('trained_betas', `null or a list of up to ${MAX_TRAIN_TIMESTEPS} numbers between 0 and 1 (exclusive)`);
    }
    config.trained_betas = betas;
  }
  // Keys read as-is by the classes that take them; their values are checked per sampler (resolveSchedulerConfig).
  for (const { key } of REFUSED_VALUES) {
    if (record[key] !== undefined && record[key] !== null) config[key] = record[key];
  }
  return config as SchedulerFile;
}
