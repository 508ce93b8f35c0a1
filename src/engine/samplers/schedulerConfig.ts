import { EaselError } from '../errors.ts';

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';
export type PredictionType = 'epsilon' | 'v_prediction';

/** The keys of diffusers' scheduler_config.json that the samplers read, spelled as diffusers spells them. */
export interface SchedulerConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: BetaSchedule;
  prediction_type: PredictionType;
  timestep_spacing: TimestepSpacing;
  steps_offset: number;
  set_alpha_to_one: boolean;
  clip_sample: boolean;
  clip_sample_range: number;
  original_inference_steps: number;
  timestep_scaling: number;
}

/** Stable Diffusion 1.x's scheduler_config.json, the values diffusers falls back to for SD models. */
export const DEFAULT_SCHEDULER_CONFIG: Readonly<SchedulerConfig> = Object.freeze({
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  prediction_type: 'epsilon',
  timestep_spacing: 'leading',
  steps_offset: 1,
  set_alpha_to_one: false,
  clip_sample: false,
  clip_sample_range: 1,
  original_inference_steps: 50,
  timestep_scaling: 10,
});

const BETA_SCHEDULES: readonly BetaSchedule[] = ['linear', 'scaled_linear', 'squaredcos_cap_v2'];
const SPACINGS: readonly TimestepSpacing[] = ['leading', 'trailing', 'linspace'];
const PREDICTION_TYPES: readonly PredictionType[] = ['epsilon', 'v_prediction'];

/** Reads a parsed scheduler_config.json; unknown keys are ignored, known keys must have the right type. */
export function parseSchedulerConfig(raw: unknown, source = 'scheduler_config.json'): SchedulerConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new EaselError('MODEL_INVALID', `${source} must hold a JSON object.`);
  }
  const record = raw as Record<string, unknown>;
  const config: SchedulerConfig = { ...DEFAULT_SCHEDULER_CONFIG };
  const number = (key: keyof SchedulerConfig, min: number, integer: boolean): void => {
    const value = record[key];
    if (value === undefined || value === null) return;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
      throw new EaselError('MODEL_INVALID', `${source}: "${key}" must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, found ${JSON.stringify(value)}.`);
    }
    (config as unknown as Record<string, number>)[key] = value;
  };
  const choice = <T extends string>(key: keyof SchedulerConfig, allowed: readonly T[]): void => {
    const value = record[key];
    if (value === undefined || value === null) return;
    if (typeof value !== 'string' || !allowed.includes(value as T)) {
      throw new EaselError('MODEL_INVALID', `${source}: "${key}" is ${JSON.stringify(value)}; Easel supports ${allowed.join(', ')}.`);
    }
    (config as unknown as Record<string, string>)[key] = value;
  };
  const flag = (key: keyof SchedulerConfig): void => {
    const value = record[key];
    if (value === undefined || value === null) return;
    if (typeof value !== 'boolean') throw new EaselError('MODEL_INVALID', `${source}: "${key}" must be true or false.`);
    (config as unknown as Record<string, boolean>)[key] = value;
  };
  number('num_train_timesteps', 2, true);
  number('beta_start', 0, false);
  number('beta_end', 0, false);
  number('steps_offset', 0, true);
  number('clip_sample_range', 0, false);
  number('original_inference_steps', 1, true);
  number('timestep_scaling', 0, false);
  choice('beta_schedule', BETA_SCHEDULES);
  choice('prediction_type', PREDICTION_TYPES);
  choice('timestep_spacing', SPACINGS);
  flag('set_alpha_to_one');
  flag('clip_sample');
  if (record.rescale_betas_zero_snr === true) {
    throw new EaselError('MODEL_INVALID', `${source}: "rescale_betas_zero_snr" is not supported yet.`);
  }
  return config;
}
