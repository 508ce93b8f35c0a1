import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PANEL_SETTINGS, isPanelSettings, parseWebviewMessage } from '../../../src/protocol/panelMessages.ts';
import { parseHostMessage } from '../../../src/service/protocol.ts';
import { LIMITS, MAX_SEED, parseSeed, roundDimension, settingsProblems } from '../../../src/shared/generationSettings.ts';

test('Karras spacing is refused for DDIM, PLMS and LCM by the rules, the panel message and the worker message alike', () => {
  for (const sampler of ['DDIM', 'PLMS', 'LCM'] as const) {
    assert.deepEqual(settingsProblems({ sampler, schedule: 'Karras' }).map((problem) => problem.field), ['schedule']);
    assert.equal(isPanelSettings({ ...DEFAULT_PANEL_SETTINGS, sampler, schedule: 'Karras' }), false);
    assert.throws(() => parseWebviewMessage({ type: 'generate', settings: { ...DEFAULT_PANEL_SETTINGS, prompt: 'x', sampler, schedule: 'Karras' } }), /Rejected malformed/);
  }
  for (const sampler of ['Euler a', 'Euler', 'DPM++ 2M'] as const) assert.deepEqual(settingsProblems({ sampler, schedule: 'Karras' }), []);
  assert.equal(isPanelSettings({ ...DEFAULT_PANEL_SETTINGS, sampler: 'DPM++ 2M', schedule: 'Karras' }), true);
});

test('each problem names the field at fault, at the limits and one past them', () => {
  const fields = (settings: Parameters<typeof settingsProblems>[0]) => settingsProblems(settings).map((problem) => problem.field);
  assert.deepEqual(fields({ steps: LIMITS.steps.min, cfgScale: LIMITS.cfgScale.max, width: LIMITS.dimension.min, height: LIMITS.dimension.max, batchCount: LIMITS.batchCount.max }), []);
  assert.deepEqual(fields({ steps: LIMITS.steps.max + 1 }), ['steps']);
  assert.deepEqual(fields({ steps: 2.5 }), ['steps']);
  assert.deepEqual(fields({ cfgScale: Number.NaN }), ['cfgScale']);
  assert.deepEqual(fields({ width: LIMITS.dimension.min - 8, height: 100 }), ['width', 'height']);
  assert.match(settingsProblems({ height: 100 })[0].message, /Height must be a multiple of 8, got 100 \(try 104\)/);
  assert.deepEqual(fields({ batchCount: 0 }), ['batchCount']);
  assert.deepEqual(fields({ prompt: 'x'.repeat(LIMITS.promptLength.max) }), []);
  assert.deepEqual(fields({ prompt: 'x'.repeat(LIMITS.promptLength.max + 1), negativePrompt: 'y'.repeat(LIMITS.promptLength.max + 1) }), ['prompt', 'negativePrompt']);
  assert.deepEqual(fields({ seed: String(MAX_SEED), batchCount: 1 }), []);
  assert.deepEqual(fields({ seed: String(MAX_SEED), batchCount: 2 }), ['seed']);
  assert.deepEqual(fields({ seed: '-1' }), ['seed']);
});

test('one seed rule: decimal text up to 2^64 − 1, safe integers, bigints', () => {
  assert.equal(parseSeed('18446744073709551615'), MAX_SEED);
  assert.equal(parseSeed('18446744073709551616'), undefined);
  assert.equal(parseSeed(' 42 '), 42n);
  assert.equal(parseSeed(2 ** 53), undefined);
  assert.equal(parseSeed(-1), undefined);
  assert.equal(parseSeed('1e3'), undefined);
});

test('the worker protocol takes the same prompt limit as the panel', () => {
  const request = { modelDir: '/m', provider: 'cpu', prompt: 'x'.repeat(LIMITS.promptLength.max), seed: '1' };
  assert.equal(parseHostMessage({ type: 'generate', jobId: 'j1', request }).type, 'generate');
  assert.throws(() => parseHostMessage({ type: 'generate', jobId: 'j1', request: { ...request, prompt: `${request.prompt}x` } }), /Rejected malformed/);
});

test('sizes round to the nearest allowed multiple within the limits', () => {
  assert.equal(roundDimension(515), 512);
  assert.equal(roundDimension(3), LIMITS.dimension.min);
  assert.equal(roundDimension(5000), LIMITS.dimension.max);
});
