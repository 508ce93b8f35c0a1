/** The names every layer speaks, spelled once. package.json's `enum`s are held to these by a test. */
import { EaselError } from './errors.ts';
import { boolean, finite, oneOf, shaped, text, type Infer } from './schema.ts';

/** Sampler names as AUTOMATIC1111 writes them in infotext. */
export const SAMPLER_NAMES = ['Euler a', 'Euler', 'DPM++ 2M', 'DDIM', 'PLMS', 'LCM'] as const;
export type SamplerName = (typeof SAMPLER_NAMES)[number];

/** A1111's "Schedule type": `Automatic` keeps the sampler's own spacing, `Karras` uses Karras sigmas. */
export const SCHEDULE_TYPES = ['Automatic', 'Karras'] as const;
export type ScheduleType = (typeof SCHEDULE_TYPES)[number];

/** Karras spacing is defined for the σ-space samplers only. */
export const KARRAS_SAMPLERS: readonly SamplerName[] = ['Euler a', 'Euler', 'DPM++ 2M'];

/** Noise sources: `cpu` = diffusers with a CPU torch generator, `gpu` = A1111's default Philox source. */
export const RNG_SOURCES = ['cpu', 'gpu'] as const;
export type RngSource = (typeof RNG_SOURCES)[number];

/** Execution provider names, without loading ONNX Runtime (the extension host and the CLI use these). */
export const EXECUTION_PROVIDERS = ['auto', 'cpu', 'webgpu', 'dml', 'coreml', 'cuda'] as const;
export type ExecutionProviderChoice = (typeof EXECUTION_PROVIDERS)[number];
export type ExecutionProvider = Exclude<ExecutionProviderChoice, 'auto'>;
export const CONCRETE_PROVIDERS = EXECUTION_PROVIDERS.filter((name): name is ExecutionProvider => name !== 'auto');

/** AUTOMATIC1111's "Emphasis" option: how `(word:1.3)` weights change the text encoder's output. */
export const EMPHASIS_MODES = ['Original', 'No norm', 'Ignore', 'None'] as const;
export type EmphasisMode = (typeof EMPHASIS_MODES)[number];

/** Which decoder makes the final image: the model's own VAE, or the tiny decoder (TAESD). */
export const DECODER_KINDS = ['full', 'tiny'] as const;
export type DecoderKind = (typeof DECODER_KINDS)[number];

/**
 * How the engine trades memory for speed: `low` skips ONNX Runtime's pre-packed weight copies, releases
 * the text encoder after encoding and opens the VAE decoder only to decode.
 */
export const MEMORY_MODES = ['balanced', 'low'] as const;
export type MemoryMode = (typeof MEMORY_MODES)[number];

/** What to do when a model's safety checker flags an image. */
export const SAFETY_CHECKER_MODES = ['blur', 'block', 'off'] as const;
export type SafetyCheckerMode = (typeof SAFETY_CHECKER_MODES)[number];

export const PROMPT_FILTER_MODES = ['off', 'warn', 'block'] as const;
export type PromptFilterMode = (typeof PROMPT_FILTER_MODES)[number];

/** What "Generate Image from Selection" inserts after the selection. */
export const LINK_STYLES = ['auto', 'markdown', 'html', 'comment', 'none'] as const;
export type LinkStyle = (typeof LINK_STYLES)[number];

/** True when `value` is one of `names` (a type guard for any of the lists above). */
export function isOneOf<const T extends readonly string[]>(names: T, value: unknown): value is T[number] {
  return typeof value === 'string' && names.includes(value);
}

export const isSamplerName = (value: unknown): value is SamplerName => isOneOf(SAMPLER_NAMES, value);
export const isScheduleType = (value: unknown): value is ScheduleType => isOneOf(SCHEDULE_TYPES, value);
export const isEmphasisMode = (value: unknown): value is EmphasisMode => isOneOf(EMPHASIS_MODES, value);
export const isExecutionProviderChoice = (value: unknown): value is ExecutionProviderChoice => isOneOf(EXECUTION_PROVIDERS, value);

/** Accepts a name case-insensitively (A1111 sampler names, "karras"/"automatic"); `what` names the setting. */
export function parseName<const T extends readonly string[]>(names: T, value: string, what: string): T[number] {
  const match = names.find((name) => name.toLowerCase() === value.trim().toLowerCase());
  if (match === undefined) throw new EaselError('INVALID_REQUEST', `Unknown ${what} "${value}". Choose one of: ${names.join(', ')}.`);
  return match;
}

export const parseSamplerName = (value: string): SamplerName => parseName(SAMPLER_NAMES, value, 'sampler');
export const parseScheduleType = (value: string): ScheduleType => parseName(SCHEDULE_TYPES, value, 'schedule type');

export const providerProbe = shaped({ provider: oneOf(CONCRETE_PROVIDERS), works: boolean, detail: text(2000), ms: finite(0) });
/** Whether a provider could start a session on this machine, and why not (from the worker's probe). */
export type ProviderProbe = Infer<typeof providerProbe>;
