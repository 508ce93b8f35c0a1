/**
 * Messages between the generator panel (webview) and the extension host. Both sides validate what
 * they receive; the host never trusts a path or value from the webview without checking it.
 */
import { DECODER_KINDS, type DecoderKind } from '../engine/decoderKinds.ts';
import { SAMPLER_NAMES, SCHEDULE_TYPES, type SamplerName, type ScheduleType } from '../engine/samplers/sampler.ts';
import { boolean, finite, integer, listOf, oneOf, optional, parseMessage, seedText, shaped, text, type Shape } from './validate.ts';

export type SeedMode = 'random' | 'fixed';

export interface PanelSettings {
  prompt: string;
  negativePrompt: string;
  sampler: SamplerName;
  schedule: ScheduleType;
  steps: number;
  cfgScale: number;
  width: number;
  height: number;
  seedMode: SeedMode;
  /** Used when seedMode is fixed. */
  seed: string;
  batchCount: number;
  rng: 'cpu' | 'gpu';
  /** easel.decoder by default; Regenerate restores what the image was made with. */
  decoder: DecoderKind;
}

export interface GalleryItem {
  id: string;
  fileName: string;
  relativePath: string;
  seed: string;
  width: number;
  height: number;
  prompt: string;
  /** data:image/png;base64,… of the image. */
  dataUrl: string;
  /** The safety checker flagged it and a blurred version was written. */
  flagged: boolean;
}

export type ImageAction = 'open' | 'reveal' | 'copyMarkdown' | 'copyParameters' | 'reuseSeed' | 'regenerate' | 'revealOriginal';

export type WebviewMessage =
  | { type: 'ready' }
  | { type: 'generate'; settings: PanelSettings }
  | { type: 'cancel' }
  | { type: 'selectModel' }
  | { type: 'settingsChanged'; settings: PanelSettings }
  | { type: 'imageAction'; action: ImageAction; imageId: string };

export interface ProgressView {
  phase: 'queued' | 'loading' | 'step' | 'saving';
  text: string;
  step?: number;
  total?: number;
  itPerSec?: number;
  etaMs?: number;
}

export type HostToWebviewMessage =
  | { type: 'init'; settings: PanelSettings; modelName: string; provider: string; trusted: boolean; statusLine: string; gallery: GalleryItem[] }
  | { type: 'fill'; settings: PanelSettings; notes: string[] }
  | { type: 'busy'; busy: boolean }
  | { type: 'progress'; progress: ProgressView }
  | { type: 'preview'; width: number; height: number; rgbaBase64: string }
  | { type: 'image'; item: GalleryItem }
  | { type: 'finished'; outcome: 'done' | 'cancelled' | 'error'; message: string }
  | { type: 'model'; modelName: string; provider: string; statusLine: string };

export const MAX_PROMPT_LENGTH = 10_000;

const SETTINGS_SHAPE: Shape = {
  prompt: text(MAX_PROMPT_LENGTH),
  negativePrompt: text(MAX_PROMPT_LENGTH),
  sampler: oneOf(SAMPLER_NAMES),
  schedule: oneOf(SCHEDULE_TYPES),
  steps: integer(1, 500),
  cfgScale: finite(0, 100),
  width: (value) => Number.isInteger(value) && (value as number) >= 64 && (value as number) <= 2048 && (value as number) % 8 === 0,
  height: (value) => Number.isInteger(value) && (value as number) >= 64 && (value as number) <= 2048 && (value as number) % 8 === 0,
  seedMode: oneOf(['random', 'fixed']),
  seed: (value) => value === '' || seedText(value),
  batchCount: integer(1, 64),
  rng: oneOf(['cpu', 'gpu']),
  decoder: oneOf(DECODER_KINDS),
};

export const isPanelSettings = shaped(SETTINGS_SHAPE);

const IMAGE_ACTIONS: readonly ImageAction[] = ['open', 'reveal', 'copyMarkdown', 'copyParameters', 'reuseSeed', 'regenerate', 'revealOriginal'];
const imageId = (value: unknown) => typeof value === 'string' && /^img-[0-9]{1,9}$/.test(value);

const WEBVIEW_SHAPES: Record<WebviewMessage['type'], Shape> = {
  ready: { type: oneOf(['ready']) },
  generate: { type: oneOf(['generate']), settings: isPanelSettings },
  cancel: { type: oneOf(['cancel']) },
  selectModel: { type: oneOf(['selectModel']) },
  settingsChanged: { type: oneOf(['settingsChanged']), settings: isPanelSettings },
  imageAction: { type: oneOf(['imageAction']), action: oneOf(IMAGE_ACTIONS), imageId },
};

const GALLERY_SHAPE: Shape = {
  id: imageId, fileName: text(300), relativePath: text(4096), seed: seedText, width: integer(8, 8192), height: integer(8, 8192),
  prompt: text(MAX_PROMPT_LENGTH), dataUrl: (value) => typeof value === 'string' && value.startsWith('data:image/png;base64,'), flagged: boolean,
};
const PROGRESS_SHAPE: Shape = {
  phase: oneOf(['queued', 'loading', 'step', 'saving']), text: text(500), step: optional(integer()), total: optional(integer()),
  itPerSec: optional(finite(0)), etaMs: optional(finite(0)),
};

const HOST_SHAPES: Record<HostToWebviewMessage['type'], Shape> = {
  init: { type: oneOf(['init']), settings: isPanelSettings, modelName: text(500), provider: text(50), trusted: boolean, statusLine: text(500), gallery: listOf(shaped(GALLERY_SHAPE)) },
  fill: { type: oneOf(['fill']), settings: isPanelSettings, notes: listOf(text(1000), 100) },
  busy: { type: oneOf(['busy']), busy: boolean },
  progress: { type: oneOf(['progress']), progress: shaped(PROGRESS_SHAPE) },
  preview: { type: oneOf(['preview']), width: integer(1, 1024), height: integer(1, 1024), rgbaBase64: text(8 * 1024 * 1024) },
  image: { type: oneOf(['image']), item: shaped(GALLERY_SHAPE) },
  finished: { type: oneOf(['finished']), outcome: oneOf(['done', 'cancelled', 'error']), message: text(2000) },
  model: { type: oneOf(['model']), modelName: text(500), provider: text(50), statusLine: text(500) },
};

export function parseWebviewMessage(value: unknown): WebviewMessage {
  return parseMessage<WebviewMessage>(value, WEBVIEW_SHAPES, 'webview');
}

export function parseHostToWebviewMessage(value: unknown): HostToWebviewMessage {
  return parseMessage<HostToWebviewMessage>(value, HOST_SHAPES, 'host');
}

export const DEFAULT_PANEL_SETTINGS: PanelSettings = {
  prompt: '', negativePrompt: '', sampler: 'Euler a', schedule: 'Automatic', steps: 20, cfgScale: 7, width: 512, height: 512, seedMode: 'random', seed: '', batchCount: 1, rng: 'cpu', decoder: 'full',
};
