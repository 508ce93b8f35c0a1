import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inferRecommendation, parseModelSettingsFile, readModelRecommendation, writeModelSettingsFile } from '../../../src/models/recommendedSettings.ts';
import { CURATED_MODELS } from '../../../src/models/curated.ts';
import { describeRecommended, isRecommendedSettings, MODEL_SETTINGS_MAX_BYTES, recommendedChanges } from '../../../src/shared/recommendedSettings.ts';
import { isEaselError } from '../../../src/shared/errors.ts';
import { temporaryFolder } from '../../helpers/fixtures.ts';

test('an LCMScheduler implies the LCM sampler in 4 steps; CFG 8 only through a guidance embedding', () => {
  assert.deepEqual(inferRecommendation({ _class_name: 'LCMScheduler' }, { name: 'lcm-dreamshaper', guidanceEmbedding: true })?.settings, { sampler: 'LCM', schedule: 'Automatic', steps: 4, cfgScale: 8 });
  assert.deepEqual(inferRecommendation({ _class_name: 'LCMScheduler' }, { name: 'x', guidanceEmbedding: false })?.settings, { sampler: 'LCM', schedule: 'Automatic', steps: 4, cfgScale: 1 });
});

test('trailing timesteps imply a few-step model only when the model is turbo-like; a trailing SD 2.1 model gets nothing', () => {
  assert.deepEqual(inferRecommendation({ _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'trailing' }, { name: 'sd-turbo-onnx', guidanceEmbedding: false })?.settings, { sampler: 'Euler', schedule: 'Automatic', steps: 2, cfgScale: 1 });
  assert.equal(inferRecommendation({ _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'trailing' }, { name: 'stable-diffusion-2-1', guidanceEmbedding: false }), undefined);
  assert.equal(inferRecommendation({ _class_name: 'PNDMScheduler', timestep_spacing: 'leading' }, { name: 'sd-turbo', guidanceEmbedding: false }), undefined);
  assert.equal(inferRecommendation(undefined, { name: 'sd-turbo', guidanceEmbedding: false }), undefined);
});

test('easel.json is validated: out-of-range values, unknown keys, broken cross-field rules and oversized files are refused naming the file', async () => {
  assert.deepEqual(parseModelSettingsFile('{"recommended":{"steps":4,"cfgScale":1.5}}', 'm/easel.json'), { settings: { steps: 4, cfgScale: 1.5 }, source: 'easel.json' });
  for (const bad of ['{"recommended":{"steps":0}}', '{"recommended":{"width":500}}', '{"recommended":{"sampler":"LCM","schedule":"Karras"}}', '{"recommended":{"sampler":"Heun"}}',
    '{"recommended":{},"extra":1}', '{"steps":4}', '[1]', 'not json']) {
    assert.throws(() => parseModelSettingsFile(bad, 'm/easel.json'), (error) => isEaselError(error, 'MODEL_INVALID') && /m\/easel\.json is not a valid easel\.json/.test(error.message), bad);
  }
  const folder = temporaryFolder();
  // A real easel.json is a few hundred bytes; 64 KiB is refused by its size before it is parsed.
  assert.ok(MODEL_SETTINGS_MAX_BYTES <= 64 * 1024);
  writeFileSync(join(folder, 'easel.json'), `{"recommended":{},"source":"${'x'.repeat(64 * 1024)}"}`);
  await assert.rejects(readModelRecommendation(folder), (error) => isEaselError(error, 'MODEL_INVALID') && /easel\.json is .* more than/.test(error.message));
});

test('a model folder: easel.json wins over the scheduler config, which is used without it', async () => {
  const folder = join(temporaryFolder(), 'my-lcm');
  mkdirSync(join(folder, 'scheduler'), { recursive: true });
  writeFileSync(join(folder, 'scheduler', 'scheduler_config.json'), '{"_class_name": "LCMScheduler", "timestep_spacing": "leading"}');
  assert.deepEqual(await readModelRecommendation(folder), { settings: { sampler: 'LCM', schedule: 'Automatic', steps: 4, cfgScale: 1 }, source: 'scheduler config: LCMScheduler' });
  await writeModelSettingsFile(folder, { sampler: 'LCM', steps: 6, cfgScale: 2 }, 'a test');
  assert.deepEqual(await readModelRecommendation(folder), { settings: { sampler: 'LCM', steps: 6, cfgScale: 2 }, source: 'easel.json, from a test' });
  await assert.rejects(writeModelSettingsFile(folder, { steps: 9999 }, 'a test'), (error) => isEaselError(error, 'INVALID_REQUEST'));
});

test('every curated model recommends valid settings', () => {
  for (const model of CURATED_MODELS) assert.ok(isRecommendedSettings(model.settings), model.repo);
  assert.deepEqual(CURATED_MODELS.find((model) => model.family === 'LCM')?.settings, { sampler: 'LCM', schedule: 'Automatic', steps: 4, cfgScale: 8, width: 512, height: 512 });
});

test('recommendedChanges: only values that differ, never the fields the user set; describeRecommended reads them', () => {
  const recommended = { sampler: 'LCM', steps: 4, cfgScale: 8, width: 512, height: 512 } as const;
  assert.deepEqual(recommendedChanges({ sampler: 'Euler a', steps: 20, cfgScale: 7, width: 512, height: 512 }, recommended), { sampler: 'LCM', steps: 4, cfgScale: 8 });
  assert.deepEqual(recommendedChanges({ steps: 30 }, recommended, ['steps', 'width']), { sampler: 'LCM', cfgScale: 8, height: 512 });
  assert.equal(describeRecommended(recommended), 'LCM, 4 steps, CFG 8, 512×512');
  assert.equal(describeRecommended({ steps: 1, schedule: 'Karras' }), 'Karras schedule, 1 step');
});
