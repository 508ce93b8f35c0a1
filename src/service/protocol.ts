/**
 * Every message between the extension host (or CLI) and the generation worker. Each side validates
 * what it receives with `parseHostMessage` / `parseWorkerMessage` before acting on it.
 */
import type { EaselErrorCode } from '../engine/errors.ts';
import { DECODER_KINDS, type DecoderKind } from '../engine/decoderKinds.ts';
import { MEMORY_MODES, type MemoryMode } from '../engine/memoryModes.ts';
import { EXECUTION_PROVIDERS, type ExecutionProvider, type ExecutionProviderChoice, type ProviderProbe } from '../engine/providerNames.ts';
import { SAMPLER_NAMES, SCHEDULE_TYPES, type SamplerName, type ScheduleType } from '../engine/samplers/sampler.ts';
import type { LoadingComponent } from '../engine/modelFolder.ts';
import { MAX_MASK_BLUR } from '../engine/generationParams.ts';
import { EMPHASIS_MODES, type EmphasisMode } from '../engine/promptSyntax.ts';
import { SAFETY_CHECKER_MODES, type SafetyCheckerMode } from '../engine/safetyModes.ts';
import { finite, integer, listOf, oneOf, optional, parseMessage, seedText, shaped, text, type Check, type Shape } from '../protocol/validate.ts';

/** A generation request as it crosses threads: plain JSON, the seed as a decimal string. */
export interface GenerationRequest {
  modelDir: string;
  provider: ExecutionProviderChoice;
  prompt: string;
  negativePrompt?: string;
  steps?: number;
  cfgScale?: number;
  /** Decimal string; absent for a random seed. */
  seed?: string;
  sampler?: SamplerName;
  schedule?: ScheduleType;
  width?: number;
  height?: number;
  rng?: 'cpu' | 'gpu';
  batchCount?: number;
  emphasis?: EmphasisMode;
  /** `low` trades some speed for less memory (no pre-packed weight copies). */
  memory?: MemoryMode;
  /** The final image's decoder (default full); `tiny` needs `tinyDecoderDir`. */
  decoder?: DecoderKind;
  /** A TAESD folder: loaded beside the model, it also makes the live previews. */
  tinyDecoderDir?: string;
  /** Emit a preview at most every N steps (0: none). */
  previewEvery?: number;
  /** Embed the IPTC provenance XMP (default true). */
  provenance?: boolean;
  /** What to do when the model's safety checker flags an image (default blur). */
  safetyChecker?: SafetyCheckerMode;
  /** img2img / inpainting: start from this image instead of noise. */
  edit?: EditRequest;
}

/** Encoded PNG/JPEG/WebP bytes; the worker decodes them (with its size limits) and fits them to the job's size. */
export interface EditRequest {
  image: ArrayBuffer;
  /** Recorded in the metadata: the init image's path relative to the workspace, or its file name. */
  imagePath?: string;
  /** 8-bit mask, 255 = repaint; absent for plain img2img. */
  mask?: ArrayBuffer;
  maskPath?: string;
  /** Denoising strength 0 … 1 (default DEFAULT_STRENGTH). */
  strength?: number;
  /** Mask blur in pixels (default 0). */
  maskBlur?: number;
}

export interface SafetyDecision {
  /** The mode in force, or "unavailable" when the model has no checker. */
  checker: SafetyCheckerMode | 'unavailable';
  flagged: boolean;
  action: 'none' | 'blurred' | 'withheld';
}

export interface ImageTiming {
  totalMs: number;
  unetMs: number;
  decodeMs: number;
  overheadPerStepMs: number;
  steps: number;
}

export type HostMessage =
  | { type: 'generate'; jobId: string; request: GenerationRequest }
  | { type: 'cancel'; jobId: string }
  | { type: 'configure'; idleReleaseMs: number }
  /** Test hooks: end the worker, throw in it, or make the next GPU job's UNet fail after its first step. */
  | { type: 'crash'; mode: 'exit' | 'throw' | 'gpu' }
  | { type: 'probe'; requestId: string }
  | { type: 'shutdown' };

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'probed'; requestId: string; probes: ProviderProbe[] }
  | { type: 'loading'; jobId: string; component: LoadingComponent }
  | { type: 'loaded'; jobId: string; provider: ExecutionProvider; ms: number; notices: string[] }
  | { type: 'step'; jobId: string; imageIndex: number; step: number; total: number; timestep: number; elapsedMs: number; itPerSec: number; etaMs: number }
  | { type: 'preview'; jobId: string; step: number; width: number; height: number; rgba: ArrayBuffer }
  | { type: 'image'; jobId: string; index: number; seed: string; width: number; height: number; png: ArrayBuffer; originalPng?: ArrayBuffer; safety: SafetyDecision; modelHash?: string; timing: ImageTiming }
  | { type: 'withheld'; jobId: string; index: number; seed: string; reason: string }
  | { type: 'done'; jobId: string; totalMs: number; peakRssMb: number; images: number }
  | { type: 'cancelled'; jobId: string }
  | { type: 'error'; jobId?: string; code: EaselErrorCode; message: string };

export const ERROR_CODES: readonly EaselErrorCode[] = [
  'MODEL_INVALID', 'MODEL_NOT_FOUND', 'TOKENIZER_INVALID', 'INVALID_REQUEST', 'PROVIDER_UNAVAILABLE', 'OUT_OF_MEMORY',
  'CANCELLED', 'INFERENCE_FAILED', 'WORKER_CRASHED', 'PROTOCOL_ERROR', 'OUTPUT_FAILED', 'PNG_INVALID',
  'CHECKPOINT_INVALID', 'CHECKPOINT_UNSUPPORTED', 'IMAGE_INVALID',
];

const COMPONENTS: readonly LoadingComponent[] = ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder', 'safety_checker', 'tiny_decoder'];

const MAX_TEXT = 20_000;
const id: Check = (value) => typeof value === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(value);
const bytes: Check = (value) => value instanceof ArrayBuffer;
const strings = listOf(text(2000));

const REQUEST_SHAPE: Shape = {
  modelDir: text(4096),
  provider: oneOf(EXECUTION_PROVIDERS),
  prompt: text(MAX_TEXT),
  negativePrompt: optional(text()),
  steps: optional(integer(1, 500)),
  cfgScale: optional(finite(0, 100)),
  seed: optional(seedText),
  sampler: optional(oneOf(SAMPLER_NAMES)),
  schedule: optional(oneOf(SCHEDULE_TYPES)),
  width: optional(integer(8, 2048)),
  height: optional(integer(8, 2048)),
  rng: optional(oneOf(['cpu', 'gpu'])),
  batchCount: optional(integer(1, 64)),
  emphasis: optional(oneOf(EMPHASIS_MODES)),
  memory: optional(oneOf(MEMORY_MODES)),
  decoder: optional(oneOf(DECODER_KINDS)),
  tinyDecoderDir: optional(text(4096)),
  previewEvery: optional(integer(0, 500)),
  provenance: optional((value) => typeof value === 'boolean'),
  safetyChecker: optional(oneOf(SAFETY_CHECKER_MODES)),
  edit: optional(shaped({
    image: bytes, imagePath: optional(text(4096)), mask: optional(bytes), maskPath: optional(text(4096)),
    strength: optional(finite(0, 1)), maskBlur: optional(integer(0, MAX_MASK_BLUR)),
  })),
};

const SAFETY_SHAPE: Shape = { checker: oneOf([...SAFETY_CHECKER_MODES, 'unavailable']), flagged: (value) => typeof value === 'boolean', action: oneOf(['none', 'blurred', 'withheld']) };

const HOST_SHAPES: Record<HostMessage['type'], Shape> = {
  generate: { type: oneOf(['generate']), jobId: id, request: shaped(REQUEST_SHAPE) },
  cancel: { type: oneOf(['cancel']), jobId: id },
  configure: { type: oneOf(['configure']), idleReleaseMs: integer(0, 24 * 3600 * 1000) },
  crash: { type: oneOf(['crash']), mode: oneOf(['exit', 'throw', 'gpu']) },
  shutdown: { type: oneOf(['shutdown']) },
  probe: { type: oneOf(['probe']), requestId: id },
};

const TIMING_SHAPE: Shape = { totalMs: finite(0), unetMs: finite(0), decodeMs: finite(0), overheadPerStepMs: finite(), steps: integer(0) };

const WORKER_SHAPES: Record<WorkerMessage['type'], Shape> = {
  ready: { type: oneOf(['ready']) },
  probed: {
    type: oneOf(['probed']), requestId: id,
    probes: listOf(shaped({ provider: oneOf(EXECUTION_PROVIDERS.filter((name) => name !== 'auto')), works: (value) => typeof value === 'boolean', detail: text(2000), ms: finite(0) }), 16),
  },
  loading: { type: oneOf(['loading']), jobId: id, component: oneOf(COMPONENTS) },
  loaded: { type: oneOf(['loaded']), jobId: id, provider: oneOf(EXECUTION_PROVIDERS.filter((name) => name !== 'auto')), ms: finite(0), notices: strings },
  step: { type: oneOf(['step']), jobId: id, imageIndex: integer(), step: integer(), total: integer(1), timestep: finite(), elapsedMs: finite(0), itPerSec: finite(0), etaMs: finite(0) },
  preview: { type: oneOf(['preview']), jobId: id, step: integer(), width: integer(1, 4096), height: integer(1, 4096), rgba: bytes },
  image: {
    type: oneOf(['image']), jobId: id, index: integer(), seed: seedText,
    width: integer(8, 8192), height: integer(8, 8192), png: bytes, originalPng: optional(bytes), safety: shaped(SAFETY_SHAPE), modelHash: optional(text(64)), timing: shaped(TIMING_SHAPE),
  },
  withheld: { type: oneOf(['withheld']), jobId: id, index: integer(), seed: seedText, reason: text(2000) },
  done: { type: oneOf(['done']), jobId: id, totalMs: finite(0), peakRssMb: finite(0), images: integer() },
  cancelled: { type: oneOf(['cancelled']), jobId: id },
  error: { type: oneOf(['error']), jobId: optional(id), code: oneOf(ERROR_CODES), message: text() },
};

export function parseHostMessage(value: unknown): HostMessage {
  return parseMessage<HostMessage>(value, HOST_SHAPES, 'host');
}

export function parseWorkerMessage(value: unknown): WorkerMessage {
  return parseMessage<WorkerMessage>(value, WORKER_SHAPES, 'worker');
}
