/**
 * Every message between the extension host (or CLI) and the generation worker. Each side validates
 * what it receives with `parseHostMessage` / `parseWorkerMessage` before acting on it; the types are
 * derived from the shapes that validate them.
 */
import type { LoadingComponent } from '../engine/modelFolder.ts';
import { ERROR_CODES } from '../shared/errors.ts';
import { LIMITS, SETTING_CHECKS, seedText, settingsProblems } from '../shared/generationSettings.ts';
import { CONCRETE_PROVIDERS, EXECUTION_PROVIDERS, providerProbe, SAFETY_CHECKER_MODES } from '../shared/names.ts';
import {
  boolean, bytes, finite, integer, isRecord, listOf, literal, oneOf, optional, parseMessage, shaped, text, type Check, type Infer, type InferMessage,
} from '../shared/schema.ts';

const MAX_MESSAGE_TEXT = 20_000;
/**
 * The A1111 infotext of one image: the prompt and negative prompt, the `Lora hashes` the prompt's tags name (under
 * twice the tags' length once hashed, quoted and escaped), the model folder's name and a line of short pairs.
 */
const MAX_INFOTEXT = 4 * LIMITS.promptLength.max + MAX_MESSAGE_TEXT;
const id: Check<string> = (value): value is string => typeof value === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(value);
const strings = listOf(text(2000));
const COMPONENTS = ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder', 'safety_checker', 'tiny_decoder'] as const satisfies readonly LoadingComponent[];

/** Encoded PNG/JPEG/WebP bytes; the worker decodes them (with its size limits) and fits them to the job's size. */
const editRequest = shaped({
  image: bytes,
  /** Recorded in the metadata: the init image's path relative to the workspace, or its file name. */
  imagePath: optional(text(4096)),
  /** 8-bit mask, 255 = repaint; absent for plain img2img. */
  mask: optional(bytes),
  maskPath: optional(text(4096)),
  strength: optional(SETTING_CHECKS.strength),
  maskBlur: optional(SETTING_CHECKS.maskBlur),
});
export type EditRequest = Infer<typeof editRequest>;

const REQUEST_FIELDS = {
  modelDir: text(4096),
  provider: oneOf(EXECUTION_PROVIDERS),
  prompt: SETTING_CHECKS.prompt,
  negativePrompt: optional(SETTING_CHECKS.negativePrompt),
  steps: optional(SETTING_CHECKS.steps),
  cfgScale: optional(SETTING_CHECKS.cfgScale),
  /** Decimal string; absent for a random seed. */
  seed: optional(seedText),
  sampler: optional(SETTING_CHECKS.sampler),
  schedule: optional(SETTING_CHECKS.schedule),
  width: optional(SETTING_CHECKS.width),
  height: optional(SETTING_CHECKS.height),
  rng: optional(SETTING_CHECKS.rng),
  batchCount: optional(SETTING_CHECKS.batchCount),
  /** How `(word:1.2)` weights apply (A1111's Emphasis setting). */
  emphasis: optional(SETTING_CHECKS.emphasis),
  /** `low` trades some speed for less memory (no pre-packed weight copies). */
  memory: optional(SETTING_CHECKS.memory),
  /** The final image's decoder (default full); `tiny` needs `tinyDecoderDir`. */
  decoder: optional(SETTING_CHECKS.decoder),
  /** A TAESD folder: loaded beside the model, it also makes the live previews. */
  tinyDecoderDir: optional(text(4096)),
  loraDirectories: optional(listOf(text(4096), 64)),
  /** Emit a preview at most every N steps (0: none). */
  previewEvery: optional(SETTING_CHECKS.previewInterval),
  /** Embed the IPTC provenance XMP (default true). */
  provenance: optional(boolean),
  /** What to do when the model's safety checker flags an image (default blur). */
  safetyChecker: optional(oneOf(SAFETY_CHECKER_MODES)),
  /** img2img / inpainting: start from this image instead of noise. */
  edit: optional(editRequest),
};
/** A generation request as a caller makes it: plain JSON, the seed as a decimal string (absent: random). */
export const generationRequest = shaped(REQUEST_FIELDS);
export type GenerationRequest = Infer<typeof generationRequest>;
/**
 * The request the worker runs: the host has already chosen the seed, so every image's seed is known before the
 * job starts and a job resumed on the cpu after a GPU failure makes the same images (seed, seed + 1, …).
 */
export const seededRequest = shaped({ ...REQUEST_FIELDS, seed: seedText });
export type SeededRequest = Infer<typeof seededRequest>;

/** The safety checker's verdict on one image; `checker` is "unavailable" when the model has none. */
const safetyDecision = shaped({ checker: oneOf([...SAFETY_CHECKER_MODES, 'unavailable']), flagged: boolean, action: oneOf(['none', 'blurred', 'withheld']) });
export type SafetyDecision = Infer<typeof safetyDecision>;

const imageTiming = shaped({ totalMs: finite(0), unetMs: finite(0), decodeMs: finite(0), overheadPerStepMs: finite(), steps: integer(0) });
export type ImageTiming = Infer<typeof imageTiming>;

const HOST_SHAPES = {
  generate: { type: literal('generate'), jobId: id, request: seededRequest },
  cancel: { type: literal('cancel'), jobId: id },
  configure: { type: literal('configure'), idleReleaseMs: integer(0, 24 * 3600 * 1000) },
  /** Test hooks: end the worker, throw in it, or make the next GPU job's UNet fail after its first step. */
  crash: { type: literal('crash'), mode: oneOf(['exit', 'throw', 'gpu']) },
  shutdown: { type: literal('shutdown') },
  probe: { type: literal('probe'), requestId: id },
};
export type HostMessage = InferMessage<typeof HOST_SHAPES>;

const WORKER_SHAPES = {
  ready: { type: literal('ready') },
  probed: { type: literal('probed'), requestId: id, probes: listOf(providerProbe, 16) },
  loading: { type: literal('loading'), jobId: id, component: oneOf(COMPONENTS) },
  loaded: { type: literal('loaded'), jobId: id, provider: oneOf(CONCRETE_PROVIDERS), ms: finite(0), notices: strings },
  notice: { type: literal('notice'), jobId: id, message: text(2000) },
  step: { type: literal('step'), jobId: id, imageIndex: integer(), step: integer(), total: integer(1), timestep: finite(), elapsedMs: finite(0), itPerSec: finite(0), etaMs: finite(0) },
  preview: { type: literal('preview'), jobId: id, step: integer(), width: integer(1, 4096), height: integer(1, 4096), rgba: bytes },
  image: {
    type: literal('image'), jobId: id, index: integer(), seed: seedText,
    width: integer(8, 8192), height: integer(8, 8192), png: bytes, originalPng: optional(bytes), safety: safetyDecision, timing: imageTiming,
    /** The A1111 infotext written into `png`'s (and `originalPng`'s) `parameters` chunk, exactly: what "Copy parameters" copies. */
    parameters: text(MAX_INFOTEXT),
  },
  withheld: { type: literal('withheld'), jobId: id, index: integer(), seed: seedText, reason: text(2000) },
  done: { type: literal('done'), jobId: id, totalMs: finite(0), peakRssMb: finite(0), images: integer() },
  cancelled: { type: literal('cancelled'), jobId: id },
  error: { type: literal('error'), jobId: optional(id), code: oneOf(ERROR_CODES), message: text(MAX_MESSAGE_TEXT) },
};
export type WorkerMessage = InferMessage<typeof WORKER_SHAPES>;

export function parseHostMessage(value: unknown): HostMessage {
  return parseMessage(value, HOST_SHAPES, 'host');
}

export function parseWorkerMessage(value: unknown): WorkerMessage {
  return parseMessage(value, WORKER_SHAPES, 'worker');
}

/**
 * Why a generation request would be rejected (by default as a caller makes it; pass `seededRequest` for what the
 * worker takes), as a sentence naming the setting (the shared rules first, so "Width must be a multiple of 8"
 * rather than "malformed message"); undefined when it is valid.
 */
export function requestProblem(value: unknown, check: Check<unknown> = generationRequest): string | undefined {
  if (check(value)) return undefined;
  if (generationRequest(value)) return 'The generation request has no seed; the host chooses it before the job starts.';
  const [problem] = isRecord(value) ? settingsProblems(value) : [];
  return problem?.message ?? 'The generation request is malformed (a model folder, a provider and a prompt of text are required; see the log).';
}

/** The job a message names, if it names one validly: a rejected message still ends its own job. */
export function jobIdOf(value: unknown): string | undefined {
  return isRecord(value) && id(value.jobId) ? value.jobId : undefined;
}
