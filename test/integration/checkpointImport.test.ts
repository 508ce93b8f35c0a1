import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { readImageMetadata } from '../../src/png/readMetadata.ts';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspectModelFolder } from '../../src/engine/modelFolder.ts';
import { loadModel, type LoadedModel } from '../../src/engine/modelSessions.ts';
import { generate, validateParams } from '../../src/engine/pipeline.ts';
import type { SamplerName } from '../../src/engine/samplers/index.ts';
import { importCheckpoint } from '../../src/models/checkpointImport.ts';
import { temporaryFolder } from '../helpers/fixtures.ts';
import { compareWithPng } from '../helpers/referenceImages.ts';

const REFERENCE = fileURLToPath(new URL('../reference/single_file/', import.meta.url));
const TOKENIZER = join(REFERENCE, 'diffusers-safetensors', 'tokenizer');

interface ReferenceCase {
  id: string; model: string; prompt: string; negative: string; sampler: SamplerName; schedule: string;
  steps: number; cfg: number; seed: number; width: number; height: number; expected: string;
}
const cases = JSON.parse(readFileSync(join(REFERENCE, 'cases.json'), 'utf8')) as { tolerance: { mean: number; max: number }; cases: ReferenceCase[] };

const loaded: LoadedModel[] = [];
let library: string;
before(() => {
  library = temporaryFolder('easel-import-');
});
after(async () => {
  await Promise.all(loaded.map((model) => model.release()));
});

for (const attention of ['fused', 'plain'] as const) {
  for (const c of cases.cases) {
    test(`${c.id} (${attention} attention): the imported ${c.model} reproduces diffusers' image`, async () => {
      const imported = await importCheckpoint(join(REFERENCE, c.model), {
        destinationRoot: library, name: `${c.id}-${attention}`, tokenizerDir: TOKENIZER, attention,
      });
      const model = await loadModel(await inspectModelFolder(imported.folder), 'cpu');
      loaded.push(model);
      const params = validateParams({
        prompt: c.prompt, negativePrompt: c.negative, sampler: c.sampler, schedule: c.schedule === 'karras' ? 'Karras' : 'Automatic',
        steps: c.steps, cfgScale: c.cfg, seed: c.seed, width: c.width, height: c.height, emphasis: 'None',
      }, model);
      const [image] = await generate(model, params);
      const { mean, max } = await compareWithPng(image.rgb, c.width, c.height, join(REFERENCE, c.expected));
      if (process.env.EASEL_PRINT) console.log(c.id, attention, mean, max);
      assert.ok(mean <= cases.tolerance.mean && max <= cases.tolerance.max, `${c.id}: mean |Δ| ${mean.toFixed(4)}, max ${max} levels`);
    });
  }
}

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
function easel(env: Record<string, string>, ...args: string[]) {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('CLI: models import adds the checkpoint to the library; generate --model FILE.safetensors reuses it and writes A1111\'s model hash', async () => {
  const dir = temporaryFolder('easel-cli-import-');
  const models = join(dir, 'models');
  const checkpoint = join(dir, 'tiny.safetensors');
  copyFileSync(join(REFERENCE, 'sd15-tiny-public-fp32.safetensors'), checkpoint);
  copyFileSync(join(REFERENCE, 'sd15-tiny-public-fp32.yaml'), join(dir, 'tiny.yaml'));
  const imported = easel({}, 'models', 'import', checkpoint, '--dir', models, '--tokenizer', TOKENIZER);
  assert.equal(imported.code, 0, imported.stderr);
  assert.equal(imported.stdout.trim(), join(models, 'tiny'));
  const sha256 = createHash('sha256').update(readFileSync(checkpoint)).digest('hex');
  assert.match(imported.stderr, new RegExp(`Imported SD 1\\.x .*model hash ${sha256.slice(0, 10)}`));
  const listed = JSON.parse(easel({}, 'models', 'list', '--dir', models, '--json').stdout) as Array<{ name: string; valid: boolean; family: string }>;
  assert.deepEqual(listed.map((m) => [m.name, m.valid, m.family]), [['tiny', true, 'SD 1.x']]);

  const c = cases.cases[0];
  const out = join(dir, 'cat.png');
  const run = easel({ EASEL_MODELS_DIR: models }, 'generate', '--model', checkpoint, '--prompt', c.prompt, '--negative-prompt', c.negative, '--sampler', c.sampler,
    '--steps', String(c.steps), '--cfg', String(c.cfg), '--seed', String(c.seed), '--width', String(c.width), '--height', String(c.height), '--out', out, '--yes');
  assert.equal(run.code, 0, run.stderr);
  assert.doesNotMatch(run.stderr, /Importing/, 'the earlier import is reused');
  const metadata = readImageMetadata(readFileSync(out));
  assert.equal(metadata.parameters.modelHash, sha256.slice(0, 10));
  const { data, info } = await sharp(out).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const { mean, max } = await compareWithPng(new Uint8Array(data), info.width, info.height, join(REFERENCE, c.expected));
  assert.ok(mean <= cases.tolerance.mean && max <= cases.tolerance.max, `mean ${mean}, max ${max}`);
});

test('CLI: a moved checkpoint is reported when its imported model loads; a .ckpt and a truncated file are refused', () => {
  const dir = temporaryFolder('easel-cli-refuse-');
  const models = join(dir, 'models');
  const checkpoint = join(dir, 'moving.safetensors');
  copyFileSync(join(REFERENCE, 'sd15-tiny-public-fp16.safetensors'), checkpoint);
  const withoutYaml = easel({}, 'models', 'import', checkpoint, '--dir', models, '--tokenizer', TOKENIZER);
  assert.equal(withoutYaml.code, 1);
  assert.match(withoutYaml.stderr, /moving\.safetensors does not fit the standard SD 1\.x configuration \(v1-inference\.yaml\): UNet width 16 is not divisible into 32 GroupNorm groups.*Put its model \.yaml beside it as moving\.yaml/);
  copyFileSync(join(REFERENCE, 'sd15-tiny-public-fp16.yaml'), join(dir, 'moving.yaml'));
  assert.equal(easel({}, 'models', 'import', checkpoint, '--dir', models, '--tokenizer', TOKENIZER).code, 0);
  renameSync(checkpoint, join(dir, 'moved.safetensors'));
  const moved = easel({}, 'generate', '--model', join(models, 'moving'), '--prompt', 'x', '--out', join(dir, 'x.png'));
  assert.equal(moved.code, 1);
  assert.match(moved.stderr, /moving was imported from .*moving\.safetensors, but .* is gone\. Put the checkpoint back or import it again/);
  assert.ok(!existsSync(join(dir, 'x.png')));

  writeFileSync(join(dir, 'old.ckpt'), Buffer.from([0x80, 0x02, 0x7d, 0x71, 0x00]));
  const pickle = easel({}, 'models', 'import', join(dir, 'old.ckpt'), '--dir', models);
  assert.equal(pickle.code, 1);
  assert.match(pickle.stderr, /old\.ckpt is a PyTorch pickle .*never unpickles/);

  const cut = join(dir, 'cut.safetensors');
  writeFileSync(cut, readFileSync(join(dir, 'moved.safetensors')).subarray(0, 500_000));
  const truncated = easel({}, 'models', 'import', cut, '--dir', models, '--tokenizer', TOKENIZER);
  assert.equal(truncated.code, 1);
  assert.match(truncated.stderr, /cut\.safetensors is truncated: tensor .* ends at byte \d+ but the file has 500000 bytes/);
  assert.deepEqual(readdirSync(models).sort(), ['moving'], 'nothing was built for the refused files');
});
