/**
 * Every limit, default and cross-field rule of a generation's settings, in one place. The panel, the
 * host, the CLI, the worker protocol and the engine all check settings with these; package.json's
 * `minimum`/`maximum`/`default`s are held to them by a test.
 */
import {
  DECODER_KINDS, EMPHASIS_MODES, KARRAS_SAMPLERS, MEMORY_MODES, RNG_SOURCES, SAMPLER_NAMES, SCHEDULE_TYPES,
  type DecoderKind, type EmphasisMode, type ExecutionProviderChoice, type LinkStyle, type MemoryMode, type PromptFilterMode, type RngSource, type SafetyCheckerMode, type SamplerName, type ScheduleType,
} from './names.ts';
import { integer, finite, oneOf, refine, text, type Check } from './schema.ts';

export interface Range {
  readonly min: number;
  readonly max: number;
  readonly multipleOf?: number;
}

export const LIMITS = {
  steps: { min: 1, max: 500 },
  cfgScale: { min: 0, max: 100 },
  /** Width and height: whole pixels, a multiple of `multipleOf` (the VAE's downscale factor). */
  dimension: { min: 8, max: 2048, multipleOf: 8 },
  batchCount: { min: 1, max: 64 },
  /** img2img / inpainting: how much of the schedule runs (1 = all of it). */
  strength: { min: 0, max: 1 },
  /** Inpainting: mask blur in pixels (A1111); 0 keeps diffusers' hard mask. */
  maskBlur: { min: 0, max: 64 },
  previewInterval: { min: 0, max: 500 },
  idleReleaseSeconds: { min: 0, max: 86_400 },
  /**
   * Characters in a prompt or negative prompt, the same in the panel, Generate from Selection, the CLI
   * and the worker. Far above what CLIP reads (77 tokens per chunk), low enough that a message
   * carrying it stays small.
   */
  promptLength: { min: 0, max: 10_000 },
} as const satisfies Record<string, Range>;

/** The largest encoded file Easel reads as an init image or mask (the decoded size has its own limit). */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

/** Seeds are unsigned 64-bit integers, written as decimal strings wherever they cross a boundary. */
export const MAX_SEED = (1n << 64n) - 1n;

export interface GenerationDefaults {
  sampler: SamplerName;
  schedule: ScheduleType;
  steps: number;
  cfgScale: number;
  width: number;
  height: number;
  rng: RngSource;
  batchCount: number;
  previewInterval: number;
  idleReleaseSeconds: number;
  executionProvider: ExecutionProviderChoice;
  insertLink: LinkStyle;
  promptFilter: PromptFilterMode;
  safetyChecker: SafetyCheckerMode;
  provenance: boolean;
  /** A1111's "Emphasis" setting (sd_emphasis.py); "Original" is its default. */
  emphasis: EmphasisMode;
  decoder: DecoderKind;
  memory: MemoryMode;
  /** img2img / inpainting denoising strength (diffusers' default). */
  strength: number;
  maskBlur: number;
}

export const DEFAULTS: Readonly<GenerationDefaults> = {
  sampler: 'Euler a', schedule: 'Automatic', steps: 20, cfgScale: 7, width: 512, height: 512, rng: 'cpu', batchCount: 1, previewInterval: 2, idleReleaseSeconds: 300,
  executionProvider: 'cpu', insertLink: 'auto', promptFilter: 'warn', safetyChecker: 'blur', provenance: true, emphasis: 'Original', decoder: 'full', memory: 'balanced', strength: 0.75, maskBlur: 0,
};

const inRange = (range: Range): Check<number> => integer(range.min, range.max);
export const SETTING_CHECKS = {
  prompt: text(LIMITS.promptLength.max),
  negativePrompt: text(LIMITS.promptLength.max),
  sampler: oneOf(SAMPLER_NAMES),
  schedule: oneOf(SCHEDULE_TYPES),
  steps: inRange(LIMITS.steps),
  cfgScale: finite(LIMITS.cfgScale.min, LIMITS.cfgScale.max),
  width: refine(inRange(LIMITS.dimension), (value) => value % LIMITS.dimension.multipleOf === 0),
  height: refine(inRange(LIMITS.dimension), (value) => value % LIMITS.dimension.multipleOf === 0),
  rng: oneOf(RNG_SOURCES),
  emphasis: oneOf(EMPHASIS_MODES),
  decoder: oneOf(DECODER_KINDS),
  memory: oneOf(MEMORY_MODES),
  strength: finite(LIMITS.strength.min, LIMITS.strength.max),
  maskBlur: inRange(LIMITS.maskBlur),
  batchCount: inRange(LIMITS.batchCount),
  previewInterval: inRange(LIMITS.previewInterval),
  idleReleaseSeconds: inRange(LIMITS.idleReleaseSeconds),
} as const;

/** A seed as a decimal string: 1 to 20 digits, at most 2^64 − 1. */
export const seedText: Check<string> = (value): value is string => typeof value === 'string' && /^\d{1,20}$/.test(value) && BigInt(value) <= MAX_SEED;

/** A seed from text, a safe integer or a bigint; undefined when it is not a seed. */
export function parseSeed(value: unknown): bigint | undefined {
  if (typeof value === 'string') return seedText(value.trim()) ? BigInt(value.trim()) : undefined;
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : undefined;
  if (typeof value === 'bigint') return value >= 0n && value <= MAX_SEED ? value : undefined;
  return undefined;
}

export function randomSeed(): bigint {
  return BigInt(Math.floor(Math.random() * 2 ** 32));
}

/** The settings the rules below look at; every field optional so a partial request can be checked. */
export interface SettingsToCheck {
  prompt?: unknown;
  negativePrompt?: unknown;
  sampler?: unknown;
  schedule?: unknown;
  steps?: unknown;
  cfgScale?: unknown;
  width?: unknown;
  height?: unknown;
  rng?: unknown;
  batchCount?: unknown;
  seed?: unknown;
  emphasis?: unknown;
  decoder?: unknown;
  strength?: unknown;
  maskBlur?: unknown;
}

export type SettingField = keyof SettingsToCheck;

/** One broken rule: the field at fault (so a form can mark it) and a sentence naming the setting. */
export interface SettingProblem {
  field: SettingField;
  message: string;
}

/**
 * Every rule a generation's settings break, fields first, then cross-field rules (Karras spacing
 * only for σ-space samplers, seed + batch within range). Absent fields are not checked.
 */
export function settingsProblems(settings: SettingsToCheck): SettingProblem[] {
  const problems: SettingProblem[] = [];
  const add = (field: SettingField, message: string) => problems.push({ field, message });
  const { prompt, negativePrompt, sampler, schedule, steps, cfgScale, width, height, rng, batchCount, seed, emphasis, decoder, strength, maskBlur } = settings;
  const maxPrompt = LIMITS.promptLength.max;
  if (prompt !== undefined && typeof prompt !== 'string') add('prompt', 'The prompt must be text.');
  else if (typeof prompt === 'string' && prompt.length > maxPrompt) add('prompt', `The prompt is ${prompt.length} characters long; the limit is ${maxPrompt}.`);
  if (negativePrompt !== undefined && typeof negativePrompt !== 'string') add('negativePrompt', 'The negative prompt must be text.');
  else if (typeof negativePrompt === 'string' && negativePrompt.length > maxPrompt) add('negativePrompt', `The negative prompt is ${negativePrompt.length} characters long; the limit is ${maxPrompt}.`);
  if (sampler !== undefined && !SETTING_CHECKS.sampler(sampler)) add('sampler', `Unknown sampler "${String(sampler)}". Choose one of: ${SAMPLER_NAMES.join(', ')}.`);
  if (schedule !== undefined && !SETTING_CHECKS.schedule(schedule)) add('schedule', `Unknown schedule type "${String(schedule)}"; use ${SCHEDULE_TYPES.join(' or ')}.`);
  if (steps !== undefined && !SETTING_CHECKS.steps(steps)) add('steps', `Steps must be a whole number from ${LIMITS.steps.min} to ${LIMITS.steps.max}, got ${String(steps)}.`);
  if (cfgScale !== undefined && !SETTING_CHECKS.cfgScale(cfgScale)) add('cfgScale', `CFG scale must be a number from ${LIMITS.cfgScale.min} to ${LIMITS.cfgScale.max}, got ${String(cfgScale)}.`);
  for (const [field, label, value] of [['width', 'Width', width], ['height', 'Height', height]] as const) {
    if (value === undefined) continue;
    const { min, max, multipleOf } = LIMITS.dimension;
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) add(field, `${label} must be a whole number of pixels from ${min} to ${max}, got ${String(value)}.`);
    else if ((value as number) % multipleOf !== 0) add(field, `${label} must be a multiple of ${multipleOf}, got ${String(value)} (try ${roundDimension(value as number)}).`);
  }
  if (rng !== undefined && !SETTING_CHECKS.rng(rng)) add('rng', `RNG source must be ${RNG_SOURCES.map((name) => `"${name}"`).join(' or ')}, got "${String(rng)}".`);
  if (batchCount !== undefined && !SETTING_CHECKS.batchCount(batchCount)) add('batchCount', `Batch count must be from ${LIMITS.batchCount.min} to ${LIMITS.batchCount.max}, got ${String(batchCount)}.`);
  if (emphasis !== undefined && !SETTING_CHECKS.emphasis(emphasis)) add('emphasis', `Unknown emphasis "${String(emphasis)}"; use ${EMPHASIS_MODES.join(', ')}.`);
  if (decoder !== undefined && !SETTING_CHECKS.decoder(decoder)) add('decoder', `Decoder must be ${DECODER_KINDS.map((name) => `"${name}"`).join(' or ')}, got "${String(decoder)}".`);
  if (strength !== undefined && !SETTING_CHECKS.strength(strength)) add('strength', `Denoising strength must be a number from ${LIMITS.strength.min} to ${LIMITS.strength.max}, got ${String(strength)}.`);
  if (maskBlur !== undefined && !SETTING_CHECKS.maskBlur(maskBlur)) add('maskBlur', `Mask blur must be a whole number of pixels from ${LIMITS.maskBlur.min} to ${LIMITS.maskBlur.max}, got ${String(maskBlur)}.`);
  const seedValue = parseSeed(seed);
  if (seed !== undefined && seedValue === undefined) add('seed', `Seed must be a whole number from 0 to ${MAX_SEED}, got ${String(seed)}.`);
  if (schedule === 'Karras' && SETTING_CHECKS.sampler(sampler) && !KARRAS_SAMPLERS.includes(sampler)) {
    add('schedule', `Schedule type Karras is not available for ${sampler}; use Automatic (Karras works with ${KARRAS_SAMPLERS.join(', ')}).`);
  }
  if (seedValue !== undefined && SETTING_CHECKS.batchCount(batchCount) && seedValue + BigInt(batchCount - 1) > MAX_SEED) add('seed', 'Seed plus batch count goes past the largest seed.');
  return problems;
}

/** The nearest allowed width or height. */
export function roundDimension(value: number): number {
  const { min, max, multipleOf } = LIMITS.dimension;
  return Math.min(max, Math.max(min, Math.round(value / multipleOf) * multipleOf));
}
