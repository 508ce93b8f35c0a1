import {
  provideVSCodeDesignSystem, vsCodeButton, vsCodeDivider, vsCodeDropdown, vsCodeOption, vsCodeProgressRing, vsCodeRadio, vsCodeRadioGroup, vsCodeTextArea, vsCodeTextField,
} from '@vscode/webview-ui-toolkit';
import {
  GALLERY_LIMIT, isFormField, isPanelSettings, panelSettingsProblemInput, parseHostToWebviewMessage,
  type EditImageView, type FormField, type GalleryItem, type HostToWebviewMessage, type ImageAction, type PanelEdit, type PanelRecommendation, type PanelSettings, type WebviewMessage,
} from '../src/protocol/panelMessages.ts';
import { describeRecommended, recommendedChanges, type RecommendedSettings } from '../src/shared/recommendedSettings.ts';
import { rovingToolbar } from './rovingFocus.ts';
import { settingsProblems } from '../src/shared/generationSettings.ts';
import { SAMPLER_NAMES, SCHEDULE_TYPES } from '../src/shared/names.ts';
import { RESTRICTED_MODE_NOTICE } from '../src/shared/restrictedMode.ts';
import { DEFAULT_STRENGTH, MAX_MASK_BLUR, PANEL_MASK_BLUR, sizeForImage } from '../src/engine/editLimits.ts';

provideVSCodeDesignSystem().register(
  vsCodeButton(), vsCodeDivider(), vsCodeDropdown(), vsCodeOption(), vsCodeProgressRing(), vsCodeRadio(), vsCodeRadioGroup(), vsCodeTextArea(), vsCodeTextField(),
);

interface VsCodeApi {
  postMessage(message: WebviewMessage): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const app = document.getElementById('app')!;
const SIZE_PRESETS: Array<[string, number, number]> = [['512 × 512', 512, 512], ['768 × 768', 768, 768], ['512 × 768 portrait', 512, 768], ['768 × 512 landscape', 768, 512], ['1024 × 1024', 1024, 1024]];
/** Gallery images are kept as thumbnails this many pixels on the longer side, so GALLERY_LIMIT of them fit the saved state. */
const THUMBNAIL_PX = 256;

interface State {
  settings: PanelSettings;
  gallery: GalleryItem[];
  lastSeed?: string;
  /** The model (and recommendation) whose recommended settings were last proposed: not proposed again over what was typed since. */
  recommendedFor?: string;
  /** What the form held before that recommendation was applied, for Reset; absent when there is nothing to reset. */
  beforeRecommended?: Partial<PanelSettings>;
  /** The note shown while a recommendation is applied. */
  recommendedNote?: string;
  /** Gallery images whose files are gone. */
  missing: string[];
}

const saved = vscode.getState() as Partial<State> | undefined;
const defaults = JSON.parse(decodeURIComponent(app.dataset.defaults ?? '%7B%7D')) as PanelSettings;
const state: State = {
  settings: isPanelSettings(saved?.settings) ? (saved!.settings as PanelSettings) : defaults,
  gallery: Array.isArray(saved?.gallery) ? (saved!.gallery as GalleryItem[]) : [],
  lastSeed: typeof saved?.lastSeed === 'string' ? saved.lastSeed : undefined,
  recommendedFor: typeof saved?.recommendedFor === 'string' ? saved.recommendedFor : undefined,
  beforeRecommended: typeof saved?.beforeRecommended === 'object' && saved.beforeRecommended !== null ? saved.beforeRecommended : undefined,
  recommendedNote: typeof saved?.recommendedNote === 'string' ? saved.recommendedNote : undefined,
  missing: Array.isArray(saved?.missing) ? saved!.missing.filter((id) => typeof id === 'string') : [],
};

function element<K extends keyof HTMLElementTagNameMap>(tag: K, attributes?: Record<string, string>, children?: Array<Node | string>): HTMLElementTagNameMap[K];
function element(tag: string, attributes?: Record<string, string>, children?: Array<Node | string>): HTMLElement;
function element(tag: string, attributes: Record<string, string> = {}, children: Array<Node | string> = []): HTMLElement {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function icon(name: string): HTMLElement {
  return element('span', { class: `codicon codicon-${name}`, 'aria-hidden': 'true' });
}

function field(id: string, label: string, value: string, attributes: Record<string, string> = {}): HTMLElement {
  return element('vscode-text-field', { id, value, ...attributes }, [label]);
}

function dropdown(id: string, options: readonly string[], value: string): HTMLElement {
  const select = element('vscode-dropdown', { id, position: 'below' }, options.map((option) => element('vscode-option', option === value ? { value: option, selected: '' } : { value: option }, [option])));
  return select;
}

const statusLine = element('div', { id: 'status-line', class: 'status-line' });
const trustLine = element('div', { id: 'trust-line', class: 'notice', hidden: '' });
const recommendedText = element('span', { id: 'recommended-text' });
const recommendedReset = element('vscode-button', { id: 'recommended-reset', appearance: 'secondary', title: 'Put back the values from before the recommendation' }, ['Reset']);
const recommendedLine = element('div', { id: 'recommended', class: 'notice recommended', role: 'status', hidden: '' }, [recommendedText, recommendedReset]);
const prompt = element('vscode-text-area', { id: 'prompt', rows: '4', resize: 'vertical', placeholder: 'Describe the image…', value: state.settings.prompt }, ['Prompt']);
const negative = element('vscode-text-area', { id: 'negative-prompt', rows: '2', resize: 'vertical', placeholder: 'What to avoid (optional)', value: state.settings.negativePrompt }, ['Negative prompt']);
const sampler = dropdown('sampler', SAMPLER_NAMES, state.settings.sampler);
const schedule = dropdown('schedule', SCHEDULE_TYPES, state.settings.schedule);
const steps = field('steps', 'Steps', String(state.settings.steps), { size: '6' });
const cfg = field('cfg', 'CFG scale', String(state.settings.cfgScale), { size: '6' });
const sizePreset = dropdown('size-preset', [...SIZE_PRESETS.map(([label]) => label), 'Custom'], presetLabel(state.settings.width, state.settings.height));
const width = field('width', 'Width', String(state.settings.width), { size: '6' });
const height = field('height', 'Height', String(state.settings.height), { size: '6' });
const seedMode = element('vscode-radio-group', { id: 'seed-mode', orientation: 'horizontal' }, [
  element('label', { slot: 'label' }, ['Seed']),
  element('vscode-radio', state.settings.seedMode === 'random' ? { value: 'random', checked: '' } : { value: 'random' }, ['Random']),
  element('vscode-radio', state.settings.seedMode === 'fixed' ? { value: 'fixed', checked: '' } : { value: 'fixed' }, ['Fixed']),
]);
const seed = field('seed', 'Fixed seed', state.settings.seed, { placeholder: 'e.g. 1234', size: '22' });
const reuseSeed = element('vscode-button', { id: 'reuse-seed', appearance: 'icon', title: 'Reuse last seed', 'aria-label': 'Reuse last seed' }, [icon('history')]);
const batch = field('batch', 'Batch count', String(state.settings.batchCount), { size: '4' });
const modelButton = element('vscode-button', { id: 'select-model', appearance: 'secondary' }, [icon('folder-opened'), ' Model…']);
const loraButton = element('vscode-button', { id: 'add-lora', appearance: 'secondary', title: 'Add a LoRA from easel.loraDirectories to the prompt' }, [icon('layers'), ' LoRA…']);
const generate = element('vscode-button', { id: 'generate', title: 'Generate (Ctrl+Enter)' }, [icon('sparkle'), ' Generate']);
const cancel = element('vscode-button', { id: 'cancel', appearance: 'secondary', disabled: '' }, [icon('debug-stop'), ' Cancel']);
const progressBar = element('div', { class: 'progress-track', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' }, [element('div', { id: 'progress-fill', class: 'progress-fill' })]);
const progressText = element('div', { id: 'progress-text', class: 'progress-text', 'aria-live': 'polite' });
const message = element('div', { id: 'message', class: 'message', 'aria-live': 'polite' });
const preview = element('canvas', { id: 'preview', class: 'preview', width: '64', height: '64', hidden: '' });
const gallery = element('div', { id: 'gallery', class: 'gallery' });

// Edit with Easel…: the init image, a mask painter over it (white = repaint), strength and mask blur.
const editName = element('span', { id: 'edit-name', class: 'file-name' });
const editClear = element('vscode-button', { id: 'edit-clear', appearance: 'icon', title: 'Stop editing (generate from text)', 'aria-label': 'Stop editing' }, [icon('close')]);
const editImage = element('img', { id: 'edit-image', alt: 'Init image' });
const maskCanvas = element('canvas', { id: 'mask-canvas', class: 'mask-canvas', width: '8', height: '8' });
const brush = element('input', { id: 'brush-size', type: 'range', min: '2', max: '256', value: '32', 'aria-label': 'Brush size' });
const paintButton = element('vscode-button', { id: 'mask-paint', appearance: 'primary', title: 'Paint the region to repaint' }, [icon('edit'), ' Paint']);
const eraseButton = element('vscode-button', { id: 'mask-erase', appearance: 'secondary', title: 'Erase the mask' }, [icon('eraser'), ' Erase']);
const invertButton = element('vscode-button', { id: 'mask-invert', appearance: 'secondary' }, [icon('arrow-swap'), ' Invert']);
const clearButton = element('vscode-button', { id: 'mask-clear', appearance: 'secondary' }, [icon('clear-all'), ' Clear']);
const strength = element('input', { id: 'strength', type: 'range', min: '0', max: '1', step: '0.01', value: String(DEFAULT_STRENGTH), 'aria-label': 'Denoising strength' });
const strengthValue = element('span', { id: 'strength-value' }, [String(DEFAULT_STRENGTH)]);
const maskBlur = field('mask-blur', 'Mask blur (px)', String(PANEL_MASK_BLUR), { size: '4' });
const editNote = element('div', { id: 'edit-note', class: 'notice' });
const editSection = element('section', { id: 'edit', class: 'edit', hidden: '' }, [
  element('div', { class: 'row' }, [icon('file-media'), ' Editing ', editName, editClear]),
  element('div', { class: 'canvas-stack' }, [editImage, maskCanvas]),
  element('div', { class: 'row mask-tools' }, [paintButton, eraseButton, invertButton, clearButton, element('label', { for: 'brush-size' }, ['Brush']), brush]),
  element('div', { class: 'row' }, [element('label', { for: 'strength' }, ['Denoising strength']), strength, strengthValue, maskBlur]),
  editNote,
]);

app.append(
  element('header', { class: 'header' }, [element('h2', {}, ['Generate Image']), element('div', { class: 'header-actions' }, [loraButton, modelButton])]),
  statusLine,
  trustLine,
  recommendedLine,
  prompt,
  negative,
  element('div', { class: 'row' }, [element('div', { class: 'labelled' }, [element('label', { for: 'sampler' }, ['Sampler']), sampler]), element('div', { class: 'labelled' }, [element('label', { for: 'schedule' }, ['Schedule']), schedule]), steps, cfg]),
  element('div', { class: 'row' }, [element('div', { class: 'labelled' }, [element('label', { for: 'size-preset' }, ['Size']), sizePreset]), width, height, batch]),
  element('div', { class: 'row seed-row' }, [seedMode, seed, reuseSeed]),
  editSection,
  element('div', { class: 'row actions' }, [generate, cancel]),
  progressBar,
  progressText,
  message,
  preview,
  element('vscode-divider'),
  element('h3', {}, ['This session']),
  gallery,
);

function presetLabel(w: number, h: number): string {
  return SIZE_PRESETS.find(([, pw, ph]) => pw === w && ph === h)?.[0] ?? 'Custom';
}

function valueOf(node: HTMLElement): string {
  return String((node as unknown as { value?: string }).value ?? '').trim();
}

function setValue(node: HTMLElement, value: string): void {
  (node as unknown as { value: string }).value = value;
}

interface FormProblem {
  message: string;
  field?: FormField;
}

function readSettings(): PanelSettings | FormProblem {
  // Text that is not a number is passed on as it is, so the shared rules quote what was typed.
  const number = (node: HTMLElement): number | string => {
    const raw = valueOf(node);
    return raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  };
  const settings = {
    prompt: valueOf(prompt), negativePrompt: valueOf(negative), sampler: valueOf(sampler), schedule: valueOf(schedule),
    steps: number(steps), cfgScale: number(cfg), width: number(width), height: number(height), seedMode: valueOf(seedMode) === 'fixed' ? 'fixed' : 'random', seed: valueOf(seed),
    batchCount: number(batch), rng: state.settings.rng, decoder: state.settings.decoder,
  };
  const [problem] = settingsProblems(panelSettingsProblemInput(settings));
  if (problem) return { message: problem.message, ...(isFormField(problem.field) ? { field: problem.field } : {}) };
  return isPanelSettings(settings) ? settings : { message: 'Some settings are out of range.' };
}

const isProblem = (value: PanelSettings | FormProblem): value is FormProblem => 'message' in value;

function persist(): void {
  vscode.setState({ ...state, gallery: state.gallery.slice(-GALLERY_LIMIT) });
}

function applySettings(settings: PanelSettings): void {
  state.settings = settings;
  setValue(prompt, settings.prompt);
  setValue(negative, settings.negativePrompt);
  setValue(sampler, settings.sampler);
  setValue(schedule, settings.schedule);
  setValue(steps, String(settings.steps));
  setValue(cfg, String(settings.cfgScale));
  setValue(width, String(settings.width));
  setValue(height, String(settings.height));
  setValue(sizePreset, presetLabel(settings.width, settings.height));
  setValue(seedMode, settings.seedMode);
  setValue(seed, settings.seed);
  setValue(batch, String(settings.batchCount));
  persist();
}

function settingsChanged(): void {
  const settings = readSettings();
  if (isProblem(settings)) return;
  state.settings = settings;
  persist();
  vscode.postMessage({ type: 'settingsChanged', settings });
}

function setBusy(busy: boolean): void {
  generate.toggleAttribute('disabled', busy);
  cancel.toggleAttribute('disabled', !busy);
  app.classList.toggle('busy', busy);
}

const FIELD_CONTROLS: Record<FormField, HTMLElement> = {
  prompt, negativePrompt: negative, sampler, schedule, steps, cfgScale: cfg, width, height, seed, batchCount: batch, model: modelButton,
};
/** The field the shown message is about: it is marked invalid, and editing it clears both. */
let messageField: FormField | undefined;

function setInvalid(control: HTMLElement, invalid: boolean): void {
  // On the component and on the control inside it, which is what a screen reader reads.
  for (const node of [control, control.shadowRoot?.querySelector('input, textarea, button, [role="combobox"]')]) {
    if (!node) continue;
    if (invalid) node.setAttribute('aria-invalid', 'true');
    else node.removeAttribute('aria-invalid');
  }
  control.classList.toggle('invalid', invalid);
}

/**
 * Shows a message under the actions. A job's last progress line belongs to that job: any other
 * message clears it (only a job's own "finished" keeps it). An error about a field marks the field.
 */
function showMessage(text: string, kind: 'info' | 'error' = 'info', options: { field?: FormField; keepProgress?: boolean } = {}): void {
  message.textContent = text;
  message.className = `message ${kind}`;
  if (!options.keepProgress) setProgress(0, '');
  if (messageField) setInvalid(FIELD_CONTROLS[messageField], false);
  messageField = kind === 'error' ? options.field : undefined;
  if (messageField) setInvalid(FIELD_CONTROLS[messageField], true);
}

/** The user edited a control: its mark, and the message about it, are gone. */
function fieldEdited(field: FormField): void {
  if (messageField === field) showMessage('');
}

function startGeneration(): void {
  const settings = readSettings();
  if (isProblem(settings)) {
    showMessage(settings.message, 'error', { field: settings.field });
    return;
  }
  if (!settings.prompt) {
    showMessage('Write a prompt first.', 'error', { field: 'prompt' });
    focusPrompt();
    return;
  }
  const edit = readEdit(settings);
  if (typeof edit === 'string') {
    showMessage(edit, 'error');
    return;
  }
  state.settings = settings;
  persist();
  showMessage('');
  setProgress(0, 'Starting…');
  setBusy(true);
  vscode.postMessage({ type: 'generate', settings, ...(edit ? { edit } : {}) });
}

let editing = false;
let maskPainted = false;
let erasing = false;

function readEdit(settings: PanelSettings): PanelEdit | undefined | string {
  if (!editing) return undefined;
  const blur = Number(valueOf(maskBlur));
  if (!Number.isInteger(blur) || blur < 0 || blur > MAX_MASK_BLUR) return `Mask blur must be a whole number of pixels from 0 to ${MAX_MASK_BLUR}.`;
  return { strength: Number((strength as HTMLInputElement).value), maskBlur: blur, ...(maskPainted ? { mask: exportMask(settings.width, settings.height) } : {}) };
}

/** The painted mask at the job's size: white where painted on black, as a PNG data URL. */
function exportMask(widthPx: number, heightPx: number): string {
  const out = element('canvas', { width: String(widthPx), height: String(heightPx) });
  const context = out.getContext('2d')!;
  context.fillStyle = '#000';
  context.fillRect(0, 0, widthPx, heightPx);
  context.drawImage(maskCanvas as HTMLCanvasElement, 0, 0, widthPx, heightPx);
  return out.toDataURL('image/png');
}

function sizeNote(): void {
  const image = editImage as HTMLImageElement;
  if (!editing || !image.naturalWidth) return;
  const [w, h] = [Number(valueOf(width)), Number(valueOf(height))];
  const resized = w !== image.naturalWidth || h !== image.naturalHeight;
  editNote.textContent = `${resized ? `The image is ${image.naturalWidth}×${image.naturalHeight}; it is resized to ${w}×${h}. ` : ''}`
    + `${maskPainted ? 'Inpainting: the painted region is repainted — an inpainting model uses the mask directly, any other model blends the rest back at every step.' : 'img2img: paint a mask to repaint only part of the image.'}`;
}

function showEditImage(view: EditImageView | undefined): void {
  editing = view !== undefined;
  editSection.toggleAttribute('hidden', !editing);
  maskPainted = false;
  if (!view) return;
  editName.textContent = view.name;
  (strength as HTMLInputElement).value = String(view.strength ?? DEFAULT_STRENGTH);
  strengthValue.textContent = (strength as HTMLInputElement).value;
  setValue(maskBlur, String(view.maskBlur ?? PANEL_MASK_BLUR));
  const image = editImage as HTMLImageElement;
  image.onload = () => {
    const canvas = maskCanvas as HTMLCanvasElement;
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    if (view.fitSize) {
      const size = sizeForImage(image.naturalWidth, image.naturalHeight, 2048);
      setValue(width, String(Math.max(64, size.width)));
      setValue(height, String(Math.max(64, size.height)));
      setValue(sizePreset, presetLabel(size.width, size.height));
      settingsChanged();
    }
    if (view.mask) loadMask(view.mask);
    sizeNote();
  };
  image.onerror = () => showMessage(`${view.name} cannot be shown here; Generate still reads it (and says if it cannot).`, 'error');
  image.src = view.dataUrl;
}

/** A stored mask (white = repaint) back onto the painter, as alpha. */
function loadMask(dataUrl: string): void {
  const mask = new Image();
  mask.onload = () => {
    const canvas = maskCanvas as HTMLCanvasElement;
    const context = canvas.getContext('2d')!;
    context.clearRect(0, 0, canvas.width, canvas.height);
    context.drawImage(mask, 0, 0, canvas.width, canvas.height);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    for (let i = 0; i < pixels.data.length; i += 4) {
      pixels.data[i + 3] = pixels.data[i];
      pixels.data[i] = pixels.data[i + 1] = pixels.data[i + 2] = 255;
    }
    context.putImageData(pixels, 0, 0);
    maskPainted = true;
    sizeNote();
  };
  mask.src = dataUrl;
}

function paintAt(event: PointerEvent): void {
  const canvas = maskCanvas as HTMLCanvasElement;
  const box = canvas.getBoundingClientRect();
  const scale = canvas.width / box.width;
  const x = (event.clientX - box.left) * scale;
  const y = (event.clientY - box.top) * scale;
  const context = canvas.getContext('2d')!;
  context.globalCompositeOperation = erasing ? 'destination-out' : 'source-over';
  context.fillStyle = '#fff';
  context.beginPath();
  context.arc(x, y, (Number((brush as HTMLInputElement).value) / 2) * scale, 0, Math.PI * 2);
  context.fill();
  if (!erasing) maskPainted = true;
}

function setTool(erase: boolean): void {
  erasing = erase;
  paintButton.setAttribute('appearance', erase ? 'secondary' : 'primary');
  eraseButton.setAttribute('appearance', erase ? 'primary' : 'secondary');
}

function setProgress(fraction: number, text: string): void {
  const percent = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
  document.getElementById('progress-fill')!.style.width = `${percent}%`;
  progressBar.setAttribute('aria-valuenow', String(percent));
  progressText.textContent = text;
}

function galleryCard(item: GalleryItem): HTMLElement {
  const missing = state.missing.includes(item.id);
  const action = (name: ImageAction, codicon: string, label: string) => {
    const button = element('button', { type: 'button', class: 'icon-button', title: label, 'aria-label': label, 'data-action': name }, [icon(codicon)]);
    button.addEventListener('click', () => {
      if (name === 'reuseSeed') {
        setValue(seedMode, 'fixed');
        setValue(seed, item.seed);
        settingsChanged();
      }
      vscode.postMessage({ type: 'imageAction', action: name, imageId: item.id });
    });
    return button;
  };
  const buttons = [
    action('open', 'go-to-file', 'Open'), action('reveal', 'file-directory', 'Reveal in Explorer'), action('copyMarkdown', 'markdown', 'Copy Markdown link'),
    action('copyParameters', 'copy', 'Copy parameters'), action('reuseSeed', 'history', 'Reuse seed'), action('regenerate', 'refresh', 'Regenerate'),
    ...(item.flagged ? [action('revealOriginal', 'eye', 'Reveal original (the safety checker flagged this image)')] : []),
  ];
  // One tab stop per card: the arrow keys move between its buttons.
  const toolbar = element('div', { class: 'card-actions', role: 'toolbar', 'aria-label': `${item.fileName}: actions` }, buttons);
  rovingToolbar(toolbar, buttons);
  return element('figure', { class: missing ? 'card missing' : 'card', 'data-image-id': item.id }, [
    element('img', { src: item.dataUrl, alt: item.prompt, title: item.relativePath, width: String(Math.min(item.width, THUMBNAIL_PX)) }),
    element('figcaption', {}, [element('span', { class: 'file-name' }, [item.fileName]), element('span', { class: 'seed' }, [`seed ${item.seed}`])]),
    ...(missing ? [element('div', { class: 'missing-note' }, [icon('warning'), ' file deleted or moved'])] : []),
    toolbar,
    ...(item.flagged ? [element('div', { class: 'flag' }, [icon('shield'), ' Blurred by the safety checker'])] : []),
  ]);
}

function renderGallery(): void {
  gallery.replaceChildren(...state.gallery.slice().reverse().map(galleryCard));
}

/** A small JPEG of a gallery image for the saved state (the full PNG is in the workspace). */
function thumbnail(dataUrl: string): Promise<string> {
  return new Promise((resolve) => {
    const image = new Image();
    image.onload = () => {
      const scale = Math.min(1, THUMBNAIL_PX / Math.max(image.naturalWidth, image.naturalHeight));
      const canvas = element('canvas', { width: String(Math.max(1, Math.round(image.naturalWidth * scale))), height: String(Math.max(1, Math.round(image.naturalHeight * scale))) });
      canvas.getContext('2d')!.drawImage(image, 0, 0, canvas.width, canvas.height);
      resolve(canvas.toDataURL('image/jpeg', 0.85));
    };
    image.onerror = () => resolve(dataUrl);
    image.src = dataUrl;
  });
}

function addToGallery(item: GalleryItem): void {
  state.gallery.push(item);
  state.gallery.splice(0, Math.max(0, state.gallery.length - GALLERY_LIMIT));
  state.lastSeed = item.seed;
  persist();
  renderGallery();
  void thumbnail(item.dataUrl).then((small) => {
    item.dataUrl = small;
    persist();
  });
}

function focusPrompt(): void {
  prompt.focus();
  const inner = prompt.shadowRoot?.querySelector('textarea');
  if (inner && prompt.shadowRoot?.activeElement !== inner) inner.focus();
}

/**
 * The selected model's recommended settings: applied once per model (not again over what was typed
 * since), with a note saying what changed and a Reset that puts the previous values back.
 */
function proposeRecommended(recommended: PanelRecommendation | undefined, modelName: string): void {
  const key = recommended ? `${recommended.modelKey}\n${JSON.stringify(recommended.settings)}` : undefined;
  if (key === state.recommendedFor) return showRecommendedNote();
  const previous = state.beforeRecommended;
  state.recommendedFor = key;
  state.beforeRecommended = undefined;
  state.recommendedNote = undefined;
  // A model without a recommendation after one with: the values from before that recommendation come back.
  let base = previous && !recommended ? { ...state.settings, ...previous } : state.settings;
  const changes: RecommendedSettings = recommended ? recommendedChanges(base, recommended.settings) : {};
  if (changes.sampler !== undefined && changes.schedule === undefined && settingsProblems({ sampler: changes.sampler, schedule: base.schedule }).length > 0) changes.schedule = 'Automatic';
  if (Object.keys(changes).length > 0) {
    state.beforeRecommended = Object.fromEntries(Object.keys(changes).map((field) => [field, base[field as keyof PanelSettings]]));
    state.recommendedNote = `Using ${modelName}'s recommended settings: ${describeRecommended(changes)} (${recommended!.source}).`;
    base = { ...base, ...changes };
  }
  if (base !== state.settings) {
    applySettings(base);
    vscode.postMessage({ type: 'settingsChanged', settings: base });
  }
  persist();
  showRecommendedNote();
}

function showRecommendedNote(): void {
  recommendedText.textContent = state.recommendedNote ?? '';
  recommendedLine.toggleAttribute('hidden', state.recommendedNote === undefined);
}

function drawPreview(widthPx: number, heightPx: number, base64: string): void {
  const bytes = Uint8ClampedArray.from(atob(base64), (c) => c.charCodeAt(0));
  if (bytes.length !== widthPx * heightPx * 4) return;
  (preview as HTMLCanvasElement).width = widthPx;
  (preview as HTMLCanvasElement).height = heightPx;
  (preview as HTMLCanvasElement).getContext('2d')!.putImageData(new ImageData(bytes, widthPx, heightPx), 0, 0);
  preview.removeAttribute('hidden');
}

function handle(messageFromHost: HostToWebviewMessage): void {
  switch (messageFromHost.type) {
    case 'init':
      applySettings(messageFromHost.settings);
      statusLine.textContent = messageFromHost.statusLine;
      trustLine.toggleAttribute('hidden', messageFromHost.trusted);
      trustLine.textContent = messageFromHost.trusted ? '' : RESTRICTED_MODE_NOTICE;
      renderGallery();
      focusPrompt();
      break;
    case 'model':
      statusLine.textContent = messageFromHost.statusLine;
      // "No model selected" (or a model that failed to load) is answered by choosing one.
      if (messageFromHost.modelName && messageField === 'model') showMessage('');
      proposeRecommended(messageFromHost.recommended, messageFromHost.modelName);
      break;
    case 'imagesMissing': {
      const shown = messageFromHost.imageIds.filter((id) => state.gallery.some((item) => item.id === id) && !state.missing.includes(id));
      if (shown.length === 0) break;
      state.missing.push(...shown);
      persist();
      renderGallery();
      break;
    }
    case 'editImage':
      showEditImage(messageFromHost.image);
      break;
    case 'addToPrompt': {
      const current = String((prompt as unknown as { value?: string }).value ?? '');
      setValue(prompt, current.trim() === '' ? messageFromHost.text : `${current.replace(/\s+$/, '')} ${messageFromHost.text}`);
      settingsChanged();
      break;
    }
    case 'fill':
      applySettings(messageFromHost.settings);
      showMessage(messageFromHost.notes.length ? messageFromHost.notes.join(' ') : 'Filled in from the image’s metadata.');
      // The filled-in prompt is what to check first: bring it into view, ready to edit.
      prompt.scrollIntoView({ block: 'center' });
      focusPrompt();
      break;
    case 'busy':
      setBusy(messageFromHost.busy);
      break;
    case 'progress': {
      const { step, total, text } = messageFromHost.progress;
      setProgress(step !== undefined && total ? step / total : 0, text);
      break;
    }
    case 'preview':
      drawPreview(messageFromHost.width, messageFromHost.height, messageFromHost.rgbaBase64);
      break;
    case 'image':
      addToGallery(messageFromHost.item);
      break;
    case 'finished':
      setBusy(false);
      preview.setAttribute('hidden', '');
      // The last progress line stays (e.g. "step 20/20 · 3.1 it/s") so the result can be read after.
      setProgress(messageFromHost.outcome === 'done' ? 1 : 0, messageFromHost.outcome === 'done' ? progressText.textContent ?? '' : '');
      showMessage(messageFromHost.message, messageFromHost.outcome === 'error' ? 'error' : 'info', { field: messageFromHost.field, keepProgress: true });
      break;
  }
}

window.addEventListener('message', (event: MessageEvent) => {
  try {
    handle(parseHostToWebviewMessage(event.data));
  } catch (error) {
    // Never a silent no-op: say that something from the extension could not be shown.
    showMessage(`Easel could not show an update from the extension: ${(error as Error).message}`, 'error');
  }
});

generate.addEventListener('click', startGeneration);
cancel.addEventListener('click', () => vscode.postMessage({ type: 'cancel' }));
modelButton.addEventListener('click', () => vscode.postMessage({ type: 'selectModel' }));
loraButton.addEventListener('click', () => vscode.postMessage({ type: 'pickLora' }));
reuseSeed.addEventListener('click', () => {
  if (!state.lastSeed) return showMessage('No image yet in this session.');
  setValue(seedMode, 'fixed');
  setValue(seed, state.lastSeed);
  settingsChanged();
});
sizePreset.addEventListener('change', () => {
  const preset = SIZE_PRESETS.find(([label]) => label === valueOf(sizePreset));
  if (preset) {
    setValue(width, String(preset[1]));
    setValue(height, String(preset[2]));
  }
  settingsChanged();
});
for (const node of [prompt, negative, sampler, schedule, steps, cfg, width, height, seedMode, seed, batch]) node.addEventListener('change', settingsChanged);
for (const [field, control] of Object.entries(FIELD_CONTROLS) as Array<[FormField, HTMLElement]>) {
  for (const event of ['input', 'change']) control.addEventListener(event, () => fieldEdited(field));
}
recommendedReset.addEventListener('click', () => {
  if (!state.beforeRecommended) return;
  const settings = { ...state.settings, ...state.beforeRecommended };
  state.beforeRecommended = undefined;
  state.recommendedNote = undefined;
  applySettings(settings);
  vscode.postMessage({ type: 'settingsChanged', settings });
  showRecommendedNote();
});
document.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    if (!generate.hasAttribute('disabled')) startGeneration();
  }
});

maskCanvas.addEventListener('pointerdown', (event) => {
  maskCanvas.setPointerCapture(event.pointerId);
  paintAt(event);
});
maskCanvas.addEventListener('pointermove', (event) => {
  if (maskCanvas.hasPointerCapture(event.pointerId)) paintAt(event);
});
maskCanvas.addEventListener('pointerup', () => sizeNote());
paintButton.addEventListener('click', () => setTool(false));
eraseButton.addEventListener('click', () => setTool(true));
invertButton.addEventListener('click', () => {
  const canvas = maskCanvas as HTMLCanvasElement;
  const context = canvas.getContext('2d')!;
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
  for (let i = 0; i < pixels.data.length; i += 4) {
    pixels.data[i] = pixels.data[i + 1] = pixels.data[i + 2] = 255;
    pixels.data[i + 3] = 255 - pixels.data[i + 3];
  }
  context.putImageData(pixels, 0, 0);
  maskPainted = true;
  sizeNote();
});
clearButton.addEventListener('click', () => {
  const canvas = maskCanvas as HTMLCanvasElement;
  canvas.getContext('2d')!.clearRect(0, 0, canvas.width, canvas.height);
  maskPainted = false;
  sizeNote();
});
strength.addEventListener('input', () => (strengthValue.textContent = (strength as HTMLInputElement).value));
editClear.addEventListener('click', () => {
  showEditImage(undefined);
  vscode.postMessage({ type: 'clearEdit' });
});
for (const node of [width, height]) node.addEventListener('change', sizeNote);

renderGallery();
showRecommendedNote();
vscode.postMessage({ type: 'ready' });
