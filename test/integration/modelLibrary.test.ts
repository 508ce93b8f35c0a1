/** Broken model folders are told apart when listing and selecting, not at Generate (issue 11, item 14). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { listModels } from '../../src/models/library.ts';
import { fixtureModels, temporaryFolder } from '../helpers/fixtures.ts';

const EXTERNAL = resolve(import.meta.dirname, '..', 'reference', 'img2img_inpaint', 'model-optimum-main');

test('a truncated model.onnx, a missing or short external weights file: listed as broken, saying which file and why', async () => {
  const { demo } = await fixtureModels();
  const library = temporaryFolder('easel-library-');
  const copy = (from: string, name: string) => {
    cpSync(from, join(library, name), { recursive: true });
    return join(library, name);
  };
  const truncated = copy(demo, 'truncated-unet');
  const unet = join(truncated, 'unet', 'model.onnx');
  truncateSync(unet, Math.floor(statSync(unet).size * 0.6));
  const cut = copy(demo, 'cut-in-a-header');
  writeFileSync(join(cut, 'vae_decoder', 'model.onnx'), readFileSync(join(cut, 'vae_decoder', 'model.onnx')).subarray(0, 3));
  const missingWeights = copy(EXTERNAL, 'missing-weights');
  rmSync(join(missingWeights, 'unet', 'model.onnx_data'));
  const shortWeights = copy(EXTERNAL, 'short-weights');
  const data = join(shortWeights, 'unet', 'model.onnx_data');
  truncateSync(data, statSync(data).size - 1);
  copy(demo, 'healthy');
  copy(EXTERNAL, 'healthy-external');

  const byName = new Map((await listModels([library])).map((entry) => [entry.name, entry]));
  assert.equal(byName.get('healthy')?.valid, true);
  assert.deepEqual(byName.get('healthy')?.recommended, { settings: { sampler: 'Euler a', steps: 20, cfgScale: 1.5 }, source: "easel.json, from Easel's demo fixture" }, 'the listing carries the recommended settings');
  assert.equal(byName.get('healthy-external')?.recommended, undefined);
  assert.equal(byName.get('healthy-external')?.valid, true, byName.get('healthy-external')?.reason);
  const reasons: Record<string, RegExp> = {
    'truncated-unet': /unet\/model\.onnx is truncated: it ends at byte \d+, but its graph runs to byte \d+\. Download or export it again\./,
    'cut-in-a-header': /vae_decoder\/model\.onnx is truncated/,
    'missing-weights': /unet\/model\.onnx needs its external weights file .*unet\/model\.onnx_data, which is missing\./,
    'short-weights': /unet\/model\.onnx: its external weights file .*model\.onnx_data is truncated \(\d+ bytes of at least \d+\)\./,
  };
  for (const [name, reason] of Object.entries(reasons)) {
    const entry = byName.get(name);
    assert.equal(entry?.valid, false, `${name} is listed as broken`);
    assert.match(entry?.reason ?? '', reason);
  }
});
