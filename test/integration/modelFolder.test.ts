import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, rmSync, writeFileSync, copyFileSync, readdirSync, readFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { inspectModelFolder } from '../../src/engine/modelFolder.ts';
import { loadModel } from '../../src/engine/modelSessions.ts';
import { generate } from '../../src/engine/pipeline.ts';
import { validateParams } from '../../src/engine/generationParams.ts';
import { isEaselError, type EaselErrorCode } from '../../src/shared/errors.ts';
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

test('impossible scheduler configs are refused when the folder is read, not turned into a black image', async () => {
  for (const [change, pattern] of [
    [{ beta_start: 1.5 }, /"beta_start" must be a number between 0 and 1/],
    [{ beta_start: 0, beta_end: 0 }, /"beta_start" must be a number between 0 and 1/],
    [{ beta_start: 0.02, beta_end: 0.001 }, /"beta_end" \(0\.001\) is below "beta_start"/],
    [{ num_train_timesteps: 1e9 }, /"num_train_timesteps" must be an integer from 2 to 10000/],
  ] as const) {
    const folder = brokenCopy((f) => {
      const path = join(f, 'scheduler', 'scheduler_config.json');
      writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), ...change }));
    });
    await assertLoadFails(folder, 'MODEL_INVALID', pattern);
  }
});

test('oversized config and tokenizer files are refused by size before they are read', async () => {
  const huge = (path: string, bytes: number) => {
    writeFileSync(path, '');
    truncateSync(path, bytes);
  };
  await assertLoadFails(brokenCopy((f) => huge(join(f, 'model_index.json'), 200 * 1024 * 1024)), 'MODEL_INVALID', /model_index\.json is 200 MB, more than the 1\.0 MB/);
  await assertLoadFails(brokenCopy((f) => huge(join(f, 'scheduler', 'scheduler_config.json'), 2 * 1024 * 1024)), 'MODEL_INVALID', /scheduler_config\.json is 2\.0 MB/);
  await assertLoadFails(brokenCopy((f) => huge(join(f, 'tokenizer', 'vocab.json'), 200 * 1024 * 1024)), 'TOKENIZER_INVALID', /vocab\.json is 200 MB, more than the 16 MB/);
});

test('Python\'s -Infinity / NaN literals in a diffusers config (DPMSolverMultistepScheduler\'s lambda_min_clipped) are read', async () => {
  const folder = brokenCopy((f) => {
    const path = join(f, 'scheduler', 'scheduler_config.json');
    const config = readFileSync(path, 'utf8').replace(/^\{/, '{\n  "_class_name": "DPMSolverMultistepScheduler",\n  "lambda_min_clipped": -Infinity,\n  "variance_type": null,\n  "note": "a -Infinity in a string stays",\n  "dynamic_thresholding_ratio": NaN,');
    writeFileSync(path, config);
  });
  const inspected = await inspectModelFolder(folder);
  assert.equal((inspected.scheduler as Record<string, unknown>).lambda_min_clipped, '-inf');
  const model = await loadModel(inspected, 'cpu');
  try {
    const [image] = await generate(model, validateParams({ prompt: 'a red circle', width: 64, height: 64, steps: 3, sampler: 'DPM++ 2M' }, model));
    assert.equal(image.rgb.length, 64 * 64 * 3);
  } finally {
    await model.release();
  }
});
