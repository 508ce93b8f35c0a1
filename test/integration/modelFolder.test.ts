import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, rmSync, writeFileSync, copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { inspectModelFolder } from '../../src/engine/modelFolder.ts';
import { loadModel } from '../../src/engine/modelSessions.ts';
import { isEaselError, type EaselErrorCode } from '../../src/engine/errors.ts';
import { fixtureModels, temporaryFolder } from '../helpers/fixtures.ts';

let demo: string;
before(async () => {
  demo = (await fixtureModels()).demo;
});

/** A fresh copy of the demo model, broken by `damage`. */
function brokenCopy(damage: (folder: string) => void): string {
  const folder = join(temporaryFolder(), 'model');
  cpSync(demo, folder, { recursive: true });
  damage(folder);
  return folder;
}

async function assertLoadFails(folder: string, code: EaselErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(
    (async () => loadModel(await inspectModelFolder(folder), 'cpu'))(),
    (error) => isEaselError(error, code) && pattern.test(error.message),
  );
}

test('the demo folder is read with its configs', async () => {
  const folder = await inspectModelFolder(demo);
  assert.equal(folder.scalingFactor, 0.18215);
  assert.equal(folder.nativeSize, 512);
  assert.equal(folder.scheduler.timestep_spacing, 'leading');
  assert.ok(folder.components.unet?.endsWith(join('unet', 'model.onnx')));
  assert.equal(folder.components.safety_checker, undefined);
});

test('a folder that does not exist, or is not a model folder', async () => {
  await assertLoadFails(join(temporaryFolder(), 'nope'), 'MODEL_NOT_FOUND', /does not exist/);
  await assertLoadFails(temporaryFolder(), 'MODEL_INVALID', /model_index\.json is missing/);
});

test('a missing component is named', async () => {
  await assertLoadFails(brokenCopy((f) => rmSync(join(f, 'unet'), { recursive: true })), 'MODEL_INVALID', /the unet component is missing/);
});

test('an empty .onnx file is named', async () => {
  await assertLoadFails(brokenCopy((f) => writeFileSync(join(f, 'vae_decoder', 'model.onnx'), '')), 'MODEL_INVALID', /vae_decoder\/model\.onnx is empty/);
});

test('a corrupt .onnx file is named', async () => {
  const folder = brokenCopy((f) => writeFileSync(join(f, 'text_encoder', 'model.onnx'), Buffer.from('this is not protobuf at all \x00\xff\x13')));
  await assertLoadFails(folder, 'MODEL_INVALID', /text_encoder\/model\.onnx is not a valid ONNX model/);
});

test('missing external weights are named', async () => {
  await assertLoadFails(brokenCopy((f) => rmSync(join(f, 'unet', 'weights.pb'))), 'MODEL_INVALID', /unet\/model\.onnx could not be loaded: its external weights file/);
});

test('wrong tensor names: expected and found are both named', async () => {
  const folder = brokenCopy((f) => {
    for (const file of readdirSync(join(f, 'text_encoder'))) copyFileSync(join(f, 'text_encoder', file), join(f, 'vae_decoder', file));
  });
  await assertLoadFails(folder, 'MODEL_INVALID', /vae_decoder\/model\.onnx: expected input "latent_sample" .* found inputs input_ids \(int32/);
});

test('unreadable tokenizer files are named', async () => {
  await assertLoadFails(brokenCopy((f) => writeFileSync(join(f, 'tokenizer', 'vocab.json'), '{ not json')), 'TOKENIZER_INVALID', /tokenizer\/vocab\.json is not a JSON object/);
  await assertLoadFails(brokenCopy((f) => rmSync(join(f, 'tokenizer', 'merges.txt'))), 'TOKENIZER_INVALID', /merges\.txt is missing/);
  await assertLoadFails(brokenCopy((f) => writeFileSync(join(f, 'tokenizer', 'merges.txt'), '#version: 0.2\na b c\n')), 'TOKENIZER_INVALID', /not two symbols/);
});

test('a scheduler config with a wrong value is named', async () => {
  const folder = brokenCopy((f) => writeFileSync(join(f, 'scheduler', 'scheduler_config.json'), JSON.stringify({ prediction_type: 'sample' })));
  await assertLoadFails(folder, 'MODEL_INVALID', /scheduler_config\.json: "prediction_type" is "sample"/);
});
