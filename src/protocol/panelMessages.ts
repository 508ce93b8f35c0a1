/**
 * Messages between the generator panel (webview) and the extension host. Both sides validate what
 * they receive; the host never trusts a path or value from the webview without checking it. The
 * types are derived from the shapes that validate them.
 */
import { DEFAULTS, MAX_INPUT_BYTES, SETTING_CHECKS, seedText, settingsProblems } from '../shared/generationSettings.ts';
import { isRecommendedSettings } from '../shared/recommendedSettings.ts';
import {
  boolean, finite, integer, listOf, literal, oneOf, optional, parseMessage, refine, shaped, text, type Check, type Infer, type InferMessage,
} from '../shared/schema.ts';

export const SEED_MODES = ['random', 'fixed'] as const;
export type SeedMode = (typeof SEED_MODES)[number];

const panelSettingsFields = shaped({
  prompt: SETTING_CHECKS.prompt,
  negativePrompt: SETTING_CHECKS.negativePrompt,
  sampler: SETTING_CHECKS.sampler,
  schedule: SETTING_CHECKS.schedule,
  steps: SETTING_CHECKS.steps,
  cfgScale: SETTING_CHECKS.cfgScale,
  width: SETTING_CHECKS.width,
  height: SETTING_CHECKS.height,
  seedMode: oneOf(SEED_MODES),
  /** Used when seedMode is fixed. */
  seed: (value): value is string => value === '' || seedText(value),
  batchCount: SETTING_CHECKS.batchCount,
  rng: SETTING_CHECKS.rng,
  /** easel.decoder by default; Regenerate restores what the image was made with. */
  decoder: SETTING_CHECKS.decoder,
});

/** The panel's form: every field in range and no cross-field rule broken (e.g. DDIM with Karras). */
export const isPanelSettings = refine(panelSettingsFields, (settings) => settingsProblems(panelSettingsProblemInput(settings)).length === 0);
export type PanelSettings = Infer<typeof panelSettingsFields>;

/** What the shared rules check in the panel's settings (the seed only when it is fixed). */
export function panelSettingsProblemInput<T extends { seedMode: string; seed: unknown }>(settings: T): Omit<T, 'seedMode' | 'seed'> & { seed?: unknown } {
  const { seedMode, seed, ...rest } = settings;
  return seedMode === 'fixed' ? { ...rest, seed } : rest;
}

export const DEFAULT_PANEL_SETTINGS: PanelSettings = {
  prompt: '', negativePrompt: '', sampler: DEFAULTS.sampler, schedule: DEFAULTS.schedule, steps: DEFAULTS.steps, cfgScale: DEFAULTS.cfgScale,
  width: DEFAULTS.width, height: DEFAULTS.height, seedMode: 'random', seed: '', batchCount: DEFAULTS.batchCount, rng: DEFAULTS.rng, decoder: DEFAULTS.decoder,
};

/**
 * The form's controls an error can point at (aria-invalid and an outline until it is edited); `model`
 * is the Model… button (no model selected, a model that cannot load).
 */
export const FORM_FIELDS = ['prompt', 'negativePrompt', 'sampler', 'schedule', 'steps', 'cfgScale', 'width', 'height', 'seed', 'batchCount', 'model'] as const;
export type FormField = (typeof FORM_FIELDS)[number];
export const isFormField = (value: unknown): value is FormField => FORM_FIELDS.includes(value as FormField);

/** How many gallery cards the panel keeps across reloads (as thumbnails in its saved state). */
export const GALLERY_LIMIT = 50;

/** The selected model's recommended settings, for the panel to propose; `modelKey` tells one model from another. */
const panelRecommendation = shaped({ modelKey: text(4096), settings: isRecommendedSettings, source: text(200) });
export type PanelRecommendation = Infer<typeof panelRecommendation>;

export const IMAGE_ACTIONS = ['open', 'reveal', 'copyMarkdown', 'copyParameters', 'reuseSeed', 'regenerate', 'revealOriginal'] as const;
export type ImageAction = (typeof IMAGE_ACTIONS)[number];
const imageId: Check<string> = (value): value is string => typeof value === 'string' && /^img-[0-9]{1,9}$/.test(value);

/** Init images up to MAX_INPUT_BYTES travel as data URLs (base64: 4/3 of the bytes). */
const MAX_DATA_URL = Math.ceil((MAX_INPUT_BYTES * 4) / 3) + 64;
const imageDataUrl: Check<string> = (value): value is string => typeof value === 'string' && value.length <= MAX_DATA_URL && /^data:image\/(png|jpeg|webp);base64,[A-Za-z0-9+/]*={0,2}$/.test(value);
const pngDataUrl: Check<string> = (value): value is string => imageDataUrl(value) && value.startsWith('data:image/png;base64,');

/** The panel's edit controls when an init image is loaded; the image itself stays with the host. */
const panelEdit = shaped({
  strength: SETTING_CHECKS.strength,
  maskBlur: SETTING_CHECKS.maskBlur,
  /** The painted mask at the job's size as a PNG data URL (white = repaint); absent when nothing is painted. */
  mask: optional(pngDataUrl),
});
export type PanelEdit = Infer<typeof panelEdit>;

/** The init image shown in the panel (a data URL of the file as it is), with what Regenerate restores. */
const editImageView = shaped({
  dataUrl: imageDataUrl,
  name: text(4096),
  mask: optional(pngDataUrl),
  strength: optional(SETTING_CHECKS.strength),
  maskBlur: optional(SETTING_CHECKS.maskBlur),
  /** Set width and height from the image (a new edit); Regenerate keeps the recorded size. */
  fitSize: boolean,
});
export type EditImageView = Infer<typeof editImageView>;

const WEBVIEW_SHAPES = {
  ready: { type: literal('ready') },
  generate: { type: literal('generate'), settings: isPanelSettings, edit: optional(panelEdit) },
  clearEdit: { type: literal('clearEdit') },
  cancel: { type: literal('cancel') },
  selectModel: { type: literal('selectModel') },
  pickLora: { type: literal('pickLora') },
  settingsChanged: { type: literal('settingsChanged'), settings: isPanelSettings },
  imageAction: { type: literal('imageAction'), action: oneOf(IMAGE_ACTIONS), imageId },
};
export type WebviewMessage = InferMessage<typeof WEBVIEW_SHAPES>;

const galleryItem = shaped({
  id: imageId, fileName: text(300), relativePath: text(4096), seed: seedText, width: integer(8, 8192), height: integer(8, 8192),
  prompt: SETTING_CHECKS.prompt,
  /** data:image/png;base64,… of the image. */
  dataUrl: (value): value is string => typeof value === 'string' && value.startsWith('data:image/png;base64,'),
  /** The safety checker flagged it and a blurred version was written. */
  flagged: boolean,
});
export type GalleryItem = Infer<typeof galleryItem>;

const progressView = shaped({
  phase: oneOf(['queued', 'loading', 'step', 'saving']), text: text(500), step: optional(integer()), total: optional(integer()),
  itPerSec: optional(finite(0)), etaMs: optional(finite(0)),
});
export type ProgressView = Infer<typeof progressView>;

/** Limits of the host → webview messages that carry user text. */
export const PANEL_TEXT_LIMITS = { note: 1000, notes: 100, message: 2000, statusLine: 500 } as const;

const HOST_SHAPES = {
  init: { type: literal('init'), settings: isPanelSettings, modelName: text(500), provider: text(50), trusted: boolean, statusLine: text(PANEL_TEXT_LIMITS.statusLine), gallery: listOf(galleryItem) },
  fill: { type: literal('fill'), settings: isPanelSettings, notes: listOf(text(PANEL_TEXT_LIMITS.note), PANEL_TEXT_LIMITS.notes) },
  editImage: { type: literal('editImage'), image: optional(editImageView) },
  busy: { type: literal('busy'), busy: boolean },
  progress: { type: literal('progress'), progress: progressView },
  preview: { type: literal('preview'), width: integer(1, 1024), height: integer(1, 1024), rgbaBase64: text(8 * 1024 * 1024) },
  image: { type: literal('image'), item: galleryItem },
  finished: { type: literal('finished'), outcome: oneOf(['done', 'cancelled', 'error']), message: text(PANEL_TEXT_LIMITS.message), field: optional(isFormField) },
  model: { type: literal('model'), modelName: text(500), provider: text(50), statusLine: text(PANEL_TEXT_LIMITS.statusLine), recommended: optional(panelRecommendation) },
  /** The image files behind these gallery cards are gone (deleted or moved). */
  imagesMissing: { type: literal('imagesMissing'), imageIds: listOf(imageId, 1000) },
  addToPrompt: { type: literal('addToPrompt'), text: text(1000) },
};
export type HostToWebviewMessage = InferMessage<typeof HOST_SHAPES>;

export function parseWebviewMessage(value: unknown): WebviewMessage {
  return parseMessage(value, WEBVIEW_SHAPES, 'webview');
}

export function parseHostToWebviewMessage(value: unknown): HostToWebviewMessage {
  return parseMessage(value, HOST_SHAPES, 'host');
}
