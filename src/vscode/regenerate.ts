import { basename } from 'node:path';
import type { ImageMetadata } from '../png/readMetadata.ts';
import { PANEL_TEXT_LIMITS, type PanelSettings } from '../protocol/panelMessages.ts';
import { LIMITS, roundDimension, SETTING_CHECKS } from '../shared/generationSettings.ts';
import { isSamplerName, KARRAS_SAMPLERS } from '../shared/names.ts';

const SOURCE_NAMES: Record<string, string> = {
  easel: 'Easel', a1111: 'AUTOMATIC1111', comfyui: 'ComfyUI', invokeai: 'InvokeAI', novelai: 'NovelAI', fooocus: 'Fooocus', none: 'no tool',
};

/**
 * Panel settings from an image's metadata, with a sentence for everything that could not be carried
 * over or that differs from the current setup (model, size rounding, sampler).
 */
export function settingsFromMetadata(metadata: ImageMetadata, base: PanelSettings, current: { modelName: string; modelHash?: string }): { settings: PanelSettings; notes: string[] } {
  const p = metadata.parameters;
  const notes: string[] = [];
  const roundSize = (value: number | undefined, fallback: number, label: string) => {
    if (value === undefined) return fallback;
    const rounded = roundDimension(value);
    if (rounded !== value) notes.push(`${label} ${value} was rounded to ${rounded}.`);
    return rounded;
  };
  // A field longer than the panel takes is shortened with a note, never dropped with the whole message.
  const promptField = (value: string | undefined, label: string) => {
    const max = LIMITS.promptLength.max;
    if (value === undefined || value.length <= max) return value ?? '';
    notes.push(`The ${label} was ${value.length} characters long; only its first ${max} were kept (the limit for a prompt).`);
    return value.slice(0, max);
  };
  const settings: PanelSettings = {
    ...base,
    prompt: promptField(p.prompt, 'prompt'),
    negativePrompt: promptField(p.negativePrompt, 'negative prompt'),
    sampler: p.sampler && isSamplerName(p.sampler) ? p.sampler : base.sampler,
    schedule: p.schedule ?? 'Automatic',
    steps: SETTING_CHECKS.steps(p.steps) ? p.steps : base.steps,
    cfgScale: SETTING_CHECKS.cfgScale(p.cfgScale) ? p.cfgScale : base.cfgScale,
    width: roundSize(p.width, base.width, 'Width'),
    height: roundSize(p.height, base.height, 'Height'),
    seedMode: p.seed !== undefined ? 'fixed' : 'random',
    seed: p.seed ?? '',
    batchCount: 1,
    rng: p.rng ?? base.rng,
    // A1111 reads a missing "VAE Decoder" as Full.
    decoder: p.decoder ?? 'full',
  };
  if (settings.schedule === 'Karras' && !KARRAS_SAMPLERS.includes(settings.sampler)) {
    notes.push(`Schedule type Karras is not available for ${settings.sampler}; using Automatic.`);
    settings.schedule = 'Automatic';
  }
  if (metadata.source === 'none') notes.push('This PNG has no generation parameters.');
  else if (metadata.source !== 'easel') notes.push(`Read ${SOURCE_NAMES[metadata.source]} metadata.`);
  if (!p.sampler) notes.push(`No sampler Easel knows was recorded; using ${settings.sampler}.`);
  if (p.modelHash && current.modelHash && p.modelHash !== current.modelHash) {
    notes.push(`The image was made with model ${p.modelName ?? '?'} (hash ${p.modelHash}); the selected model ${current.modelName} has hash ${current.modelHash}, so the result will differ.`);
  } else if (p.modelName && !p.modelHash && basename(p.modelName) !== current.modelName) {
    notes.push(`The image was made with model ${p.modelName}; the selected model is ${current.modelName}.`);
  }
  if (p.emphasis && p.emphasis !== 'Original') notes.push(`The image used Emphasis: ${p.emphasis}; the panel applies (word:1.2) weights as A1111's default (Original), so bracketed words may come out differently.`);
  if (metadata.unmapped.length > 0) notes.push(`Not carried over: ${metadata.unmapped.join('; ')}.`);
  if (metadata.problems.length > 0) notes.push(`Problems reading the file: ${metadata.problems.join('; ')}.`);
  return { settings, notes: fitNotes(notes) };
}

/** Notes as the panel takes them: each within the note limit, and no more than the panel shows. */
function fitNotes(notes: string[]): string[] {
  const { note: maxLength, notes: maxCount } = PANEL_TEXT_LIMITS;
  const fitted = notes.map((note) => (note.length <= maxLength ? note : `${note.slice(0, maxLength - 1)}…`));
  if (fitted.length <= maxCount) return fitted;
  return [...fitted.slice(0, maxCount - 1), `…and ${fitted.length - maxCount + 1} more.`];
}
