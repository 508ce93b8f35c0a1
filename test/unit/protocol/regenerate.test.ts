import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PANEL_SETTINGS, parseHostToWebviewMessage } from '../../../src/protocol/panelMessages.ts';
import { LIMITS } from '../../../src/shared/generationSettings.ts';
import type { ImageMetadata } from '../../../src/png/readMetadata.ts';
import { settingsFromMetadata } from '../../../src/vscode/regenerate.ts';

const metadata = (overrides: Partial<ImageMetadata>): ImageMetadata => ({ source: 'a1111', parameters: {}, unmapped: [], problems: [], chunks: [], ...overrides });

test('an image\'s parameters fill the panel, seed fixed, batch 1', () => {
  const { settings, notes } = settingsFromMetadata(metadata({
    source: 'easel',
    parameters: { prompt: 'a fox', negativePrompt: 'blur', sampler: 'DDIM', schedule: 'Automatic', steps: 30, cfgScale: 5, width: 640, height: 384, seed: '18446744073709551615', rng: 'gpu', modelHash: 'aaaaaaaaaa', modelName: 'm' },
  }), { ...DEFAULT_PANEL_SETTINGS, batchCount: 4 }, { modelName: 'm', modelHash: 'aaaaaaaaaa' });
  assert.deepEqual(settings, {
    ...DEFAULT_PANEL_SETTINGS, prompt: 'a fox', negativePrompt: 'blur', sampler: 'DDIM', steps: 30, cfgScale: 5, width: 640, height: 384,
    seedMode: 'fixed', seed: '18446744073709551615', batchCount: 1, rng: 'gpu',
  });
  assert.deepEqual(notes, []);
});

test('what differs or could not be carried over is said', () => {
  const { settings, notes } = settingsFromMetadata(metadata({
    parameters: { prompt: 'x', width: 515, height: 768, modelHash: '1111111111', modelName: 'sd15' },
    unmapped: ['Sampler: DPM++ SDE (Easel has no such sampler)', 'Hires upscale: 2'],
  }), DEFAULT_PANEL_SETTINGS, { modelName: 'other', modelHash: '2222222222' });
  assert.equal(settings.width, 512);
  assert.equal(settings.seedMode, 'random');
  const text = notes.join(' ');
  assert.match(text, /Width 515 was rounded to 512/);
  assert.match(text, /Read AUTOMATIC1111 metadata/);
  assert.match(text, /No sampler Easel knows was recorded; using Euler a/);
  assert.match(text, /hash 1111111111.*has hash 2222222222, so the result will differ/);
  assert.match(text, /Not carried over: Sampler: DPM\+\+ SDE .*; Hires upscale: 2/);
});

test('a PNG without parameters says so', () => {
  const { notes } = settingsFromMetadata(metadata({ source: 'none' }), DEFAULT_PANEL_SETTINGS, { modelName: 'm' });
  assert.match(notes.join(' '), /no generation parameters/);
});

test('Regenerate restores the decoder the image was made with; a missing "VAE Decoder" means Full, as in A1111', () => {
  const base = { ...DEFAULT_PANEL_SETTINGS, decoder: 'tiny' as const };
  assert.equal(settingsFromMetadata(metadata({ source: 'easel', parameters: { prompt: 'x', decoder: 'tiny' } }), { ...base, decoder: 'full' }, { modelName: 'm' }).settings.decoder, 'tiny');
  assert.equal(settingsFromMetadata(metadata({ parameters: { prompt: 'x' } }), base, { modelName: 'm' }).settings.decoder, 'full');
});

test('fields longer than the panel takes are shortened with a note, so the fill message is never dropped', () => {
  const long = 'a'.repeat(LIMITS.promptLength.max + 2000);
  const { settings, notes } = settingsFromMetadata(metadata({
    parameters: { prompt: long, negativePrompt: long },
    unmapped: Array.from({ length: 300 }, (_, i) => `Key ${i}: ${'x'.repeat(50)}`),
    problems: Array.from({ length: 150 }, (_, i) => `problem ${i}`),
  }), DEFAULT_PANEL_SETTINGS, { modelName: 'm' });
  assert.equal(settings.prompt.length, LIMITS.promptLength.max);
  assert.equal(settings.negativePrompt.length, LIMITS.promptLength.max);
  assert.match(notes.join(' '), /The prompt was 12000 characters long; only its first 10000 were kept/);
  assert.match(notes.join(' '), /The negative prompt was 12000 characters long/);
  // The message the host sends passes the webview's own check.
  assert.equal(parseHostToWebviewMessage({ type: 'fill', settings, notes }).type, 'fill');
});
