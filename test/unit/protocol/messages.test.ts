import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PANEL_SETTINGS, GALLERY_LIMIT, parseHostToWebviewMessage, parseWebviewMessage } from '../../../src/protocol/panelMessages.ts';
import { parseHostMessage, parseWorkerMessage } from '../../../src/service/protocol.ts';
import { formatLoraHashes } from '../../../src/png/loraHashes.ts';
import { imageInfotext } from '../../../src/png/writeMetadata.ts';
import { LIMITS } from '../../../src/shared/generationSettings.ts';

const settings = { ...DEFAULT_PANEL_SETTINGS, prompt: 'a fox' };

test('well-formed panel messages pass and keep their values', () => {
  assert.deepEqual(parseWebviewMessage({ type: 'generate', settings }), { type: 'generate', settings });
  assert.deepEqual(parseWebviewMessage({ type: 'imageAction', action: 'open', imageId: 'img-3' }), { type: 'imageAction', action: 'open', imageId: 'img-3' });
  assert.equal(parseHostToWebviewMessage({ type: 'busy', busy: true }).type, 'busy');
});

const BAD_WEBVIEW_MESSAGES: Array<[string, unknown]> = [
  ['not an object', 'generate'],
  ['unknown type', { type: 'runShell', command: 'rm -rf /' }],
  ['extra key', { type: 'cancel', also: 1 }],
  ['width not a multiple of 8', { type: 'generate', settings: { ...settings, width: 500 } }],
  ['steps out of range', { type: 'generate', settings: { ...settings, steps: 100000 } }],
  ['unknown sampler', { type: 'generate', settings: { ...settings, sampler: 'Heun' } }],
  ['seed past 2^64', { type: 'generate', settings: { ...settings, seedMode: 'fixed', seed: '18446744073709551616' } }],
  ['prompt too long', { type: 'generate', settings: { ...settings, prompt: 'x'.repeat(10_001) } }],
  ['a path instead of an image id', { type: 'imageAction', action: 'open', imageId: '../../etc/passwd' }],
  ['unknown image action', { type: 'imageAction', action: 'delete', imageId: 'img-1' }],
  ['edit mask that is not a PNG data URL', { type: 'generate', settings, edit: { strength: 0.5, maskBlur: 4, mask: 'file:///etc/passwd' } }],
  ['edit mask with a script in the base64', { type: 'generate', settings, edit: { strength: 0.5, maskBlur: 4, mask: 'data:image/png;base64,AA"><script>' } }],
  ['strength past 1', { type: 'generate', settings, edit: { strength: 1.5, maskBlur: 4 } }],
  ['mask blur past the limit', { type: 'generate', settings, edit: { strength: 0.5, maskBlur: 65 } }],
  ['an init image path from the webview', { type: 'generate', settings, edit: { strength: 0.5, maskBlur: 0, image: '/etc/passwd' } }],
  ['prototype pollution attempt', JSON.parse('{"type":"cancel","__proto__":{"polluted":true}}')],
];

for (const [label, message] of BAD_WEBVIEW_MESSAGES) {
  test(`a malformed webview message is rejected: ${label}`, () => {
    assert.throws(() => parseWebviewMessage(message), /^Error: Rejected/);
  });
}

test('edit messages: the webview sends strength, blur and a PNG mask; the host sends an image data URL', () => {
  const edit = { strength: 0.6, maskBlur: 4, mask: 'data:image/png;base64,iVBORw0KGgo=' };
  assert.deepEqual(parseWebviewMessage({ type: 'generate', settings, edit }), { type: 'generate', settings, edit });
  assert.equal(parseWebviewMessage({ type: 'clearEdit' }).type, 'clearEdit');
  const image = { dataUrl: 'data:image/webp;base64,UklGRg==', name: 'media/logo.webp', fitSize: true };
  assert.deepEqual(parseHostToWebviewMessage({ type: 'editImage', image }), { type: 'editImage', image });
  assert.throws(() => parseHostToWebviewMessage({ type: 'editImage', image: { ...image, dataUrl: 'data:image/svg+xml;base64,PHN2Zz4=' } }), /Rejected/);
});

test('host → webview messages are checked too (a gallery item must carry a PNG data URL)', () => {
  const item = { id: 'img-1', fileName: 'a.png', relativePath: 'a.png', seed: '1', width: 64, height: 64, prompt: 'p', dataUrl: 'javascript:alert(1)', flagged: false };
  assert.throws(() => parseHostToWebviewMessage({ type: 'image', item }), /Rejected malformed host "image"/);
  assert.equal(parseHostToWebviewMessage({ type: 'image', item: { ...item, dataUrl: 'data:image/png;base64,AAAA' } }).type, 'image');
});

test('host ↔ worker messages: generate requests and worker events are validated', () => {
  const request = { modelDir: '/m', provider: 'cpu', prompt: 'p', seed: '5' };
  assert.equal(parseHostMessage({ type: 'generate', jobId: 'job1', request }).type, 'generate');
  assert.throws(() => parseHostMessage({ type: 'generate', jobId: 'job1', request: { ...request, seed: undefined } }), /Rejected malformed host "generate"/, 'the host chooses the seed before the job starts');
  assert.throws(() => parseHostMessage({ type: 'generate', jobId: 'job 1; rm', request }), /Rejected malformed host "generate"/);
  assert.throws(() => parseHostMessage({ type: 'generate', jobId: 'job1', request: { ...request, provider: 'tpu' } }), /Rejected malformed/);
  assert.throws(() => parseWorkerMessage({ type: 'step', jobId: 'job1', imageIndex: 0, step: 1, total: 0, timestep: 1, elapsedMs: 1, itPerSec: 1, etaMs: 0 }), /Rejected malformed worker "step"/);
  assert.throws(() => parseWorkerMessage({ ...IMAGE, png: new Uint8Array(4) }), /Rejected malformed worker "image"/, 'a typed array is not the ArrayBuffer the protocol transfers');
});

const IMAGE = {
  type: 'image', jobId: 'job1', index: 0, seed: '1', width: 8, height: 8, png: new ArrayBuffer(4), safety: { checker: 'off', flagged: false, action: 'none' },
  timing: { totalMs: 1, unetMs: 1, decodeMs: 1, overheadPerStepMs: 1, steps: 1 }, parameters: 'a fox\nSteps: 20, Version: Easel 0.1.0',
};

test('an image message carries the infotext its PNG holds: required, kept as sent, bounded above the longest a request can make', () => {
  assert.equal((parseWorkerMessage(IMAGE) as typeof IMAGE).parameters, IMAGE.parameters);
  assert.throws(() => parseWorkerMessage({ ...IMAGE, parameters: undefined }), /Rejected malformed worker "image"/);
  // The longest: prompts at the limit, the prompt all LoRA tags whose hashes are quoted and escaped, a long model name.
  const prompt = '<lora:":1>'.repeat(LIMITS.promptLength.max / 10);
  const loraHashes = formatLoraHashes(Array.from({ length: LIMITS.promptLength.max / 10 }, () => ({ name: '"', hash: '0123456789ab' })));
  const record = { steps: 150, sampler: 'DPM++ 2M', schedule: 'Karras', cfgScale: 30, seed: '18446744073709551615', width: 8192, height: 8192, rng: 'cpu', batchIndex: 0, modelHash: '0123456789', appVersion: '0.1.0' } as const;
  const longest = imageInfotext({ ...record, prompt, negativePrompt: '"'.repeat(LIMITS.promptLength.max), loraHashes, modelName: 'm'.repeat(255) }, { extraInfotext: { 'Safety checker': 'flagged' } });
  assert.equal((parseWorkerMessage({ ...IMAGE, parameters: longest }) as typeof IMAGE).parameters, longest);
  assert.throws(() => parseWorkerMessage({ ...IMAGE, parameters: 'x'.repeat(10 * LIMITS.promptLength.max) }), /Rejected malformed worker "image"/);
});

test('panel messages for recommended settings, the field at fault and missing gallery files are validated', () => {
  const recommended = { modelKey: '/models/demo', settings: { sampler: 'LCM', steps: 4, cfgScale: 8 }, source: 'easel.json' };
  const model = { type: 'model', modelName: 'demo', provider: 'cpu', statusLine: 'Model: demo', recommended };
  assert.deepEqual(parseHostToWebviewMessage(model), model);
  assert.deepEqual(parseHostToWebviewMessage({ ...model, recommended: undefined }).type, 'model');
  assert.throws(() => parseHostToWebviewMessage({ ...model, recommended: { ...recommended, settings: { steps: 0 } } }), /Rejected malformed host "model"/);
  assert.throws(() => parseHostToWebviewMessage({ ...model, recommended: { ...recommended, settings: { sampler: 'LCM', schedule: 'Karras' } } }), /Rejected malformed/, 'cross-field rules hold for a recommendation too');
  assert.throws(() => parseHostToWebviewMessage({ ...model, recommended: { ...recommended, settings: { steps: 4, seed: '1' } } }), /Rejected malformed/, 'a recommendation holds only the recommendable fields');
  assert.equal(parseHostToWebviewMessage({ type: 'finished', outcome: 'error', message: 'No model selected.', field: 'model' }).type, 'finished');
  assert.throws(() => parseHostToWebviewMessage({ type: 'finished', outcome: 'error', message: 'x', field: 'rng' }), /Rejected malformed/, 'only form controls can be marked');
  assert.deepEqual(parseHostToWebviewMessage({ type: 'imagesMissing', imageIds: ['img-12', 'img-3'] }), { type: 'imagesMissing', imageIds: ['img-12', 'img-3'] });
  assert.throws(() => parseHostToWebviewMessage({ type: 'imagesMissing', imageIds: ['../etc'] }), /Rejected malformed/);
});

test('the README promises the gallery limit the panel keeps (GALLERY_LIMIT, one constant)', () => {
  const readme = readFileSync(join(import.meta.dirname, '..', '..', '..', 'README.md'), 'utf8').replace(/\s+/g, ' ');
  assert.ok(readme.includes(`with the last ${GALLERY_LIMIT} images of the gallery`), 'README.md names GALLERY_LIMIT');
});
