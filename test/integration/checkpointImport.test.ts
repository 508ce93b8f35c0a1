import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { readImageMetadata } from '../../src/png/readMetadata.ts';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { componentGraph, inspectModelFolder } from '../../src/engine/modelFolder.ts';
import { loadModel, type LoadedModel } from '../../src/engine/modelSessions.ts';
import { generate } from '../../src/engine/pipeline.ts';
import { validateParams } from '../../src/engine/generationParams.ts';
import { importCheckpoint } from '../../src/models/checkpointImport.ts';
import { openCheckpoint } from '../../src/engine/checkpoint/buildGraphs.ts';
import { readYamlOverrides } from '../../src/engine/checkpoint/ldmConfig.ts';
import { SYNTHETIC_CONFIGS, writeSyntheticCheckpoint } from '../../src/engine/checkpoint/syntheticCheckpoint.ts';
import { temporaryFolder } from '../helpers/fixtures.ts';
import { compareWithPng, referenceCaseParams, type TextToImageCase } from '../helpers/referenceImage.ts';

const REFERENCE = fileURLToPath(new URL('../reference/single_file/', import.meta.url));
const TOKENIZER = join(REFERENCE, 'diffusers-safetensors', 'tokenizer');

interface ReferenceCase extends TextToImageCase {
  model: string;
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

// SD 1.x (single_file: diffusers' own images) and SD 2.x (single_file_sd2: a tiny OpenCLIP/v-prediction checkpoint
// and the images the original code makes from it: open_clip's text tower run to the penultimate layer as
// FrozenOpenCLIPEmbedder does, diffusers' single-file conversion and schedulers; its README says how). Both use
// single_file's vocabulary; the SD 2.x import pads with "!".
const SD2_REFERENCE = fileURLToPath(new URL('../reference/single_file_sd2/', import.meta.url));
const sd2Cases = JSON.parse(readFileSync(join(SD2_REFERENCE, 'cases.json'), 'utf8')) as typeof cases;
const references = [
  { dir: REFERENCE, family: 'SD 1.x', cases },
  { dir: SD2_REFERENCE, family: 'SD 2.x', cases: sd2Cases },
];
for (const { dir, family, cases: set } of references) {
  for (const attention of ['fused', 'plain'] as const) {
    for (const c of set.cases) {
      test(`${c.id} (${attention} attention): the imported ${family} ${c.model} reproduces the reference image`, async () => {
        const imported = await importCheckpoint(join(dir, c.model), {
          destinationRoot: library, name: `${c.id}-${attention}`, tokenizerDir: TOKENIZER, attention,
        });
        assert.equal(imported.family, family);
        const model = await loadModel(await inspectModelFolder(imported.folder), 'cpu');
        loaded.push(model);
        const [image] = await generate(model, validateParams(referenceCaseParams(c), model));
        const { mean, max } = await compareWithPng(image.rgb, c.width, c.height, join(dir, c.expected));
        if (process.env.EASEL_PRINT) console.log(c.id, attention, mean, max);
        assert.ok(mean <= set.tolerance.mean && max <= set.tolerance.max, `${c.id}: mean |Δ| ${mean.toFixed(4)}, max ${max} levels`);
      });
    }
  }
}

test('an fp16 import has float16 text-encoder and UNet graphs for GPU providers (the cpu and the VAE keep model.onnx); an import made before them is rebuilt, a current one reused', async () => {
  const options = { destinationRoot: temporaryFolder('easel-import-'), name: 'half', tokenizerDir: TOKENIZER };
  const fp16 = join(REFERENCE, 'sd15-tiny-public-fp16.safetensors');
  const first = await importCheckpoint(fp16, options);
  const graph = (folder: Awaited<ReturnType<typeof inspectModelFolder>>, component: 'unet' | 'text_encoder' | 'vae_decoder', provider: 'cpu' | 'webgpu' | 'cuda') =>
    componentGraph(folder, component, provider).slice(first.folder.length + 1);
  const folder = await inspectModelFolder(first.folder);
  assert.deepEqual(
    [graph(folder, 'unet', 'cpu'), graph(folder, 'unet', 'webgpu'), graph(folder, 'text_encoder', 'cuda'), graph(folder, 'vae_decoder', 'webgpu')],
    [join('unet', 'model.onnx'), join('unet', 'model.float16.onnx'), join('text_encoder', 'model.float16.onnx'), join('vae_decoder', 'model.onnx')],
  );
  assert.equal((await importCheckpoint(fp16, options)).reused, true);
  // An import from before float16 graphs existed: no float16Graphs in its record, no files.
  const recordPath = join(first.folder, 'easel-import.json');
  const { float16Graphs: _dropped, ...older } = JSON.parse(readFileSync(recordPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(recordPath, JSON.stringify(older));
  for (const component of ['unet', 'text_encoder']) rmSync(join(first.folder, component, 'model.float16.onnx'));
  assert.equal(graph(await inspectModelFolder(first.folder), 'unet', 'webgpu'), join('unet', 'model.onnx'));
  assert.equal((await importCheckpoint(fp16, options)).reused, false, 'rebuilt');
  assert.equal(graph(await inspectModelFolder(first.folder), 'unet', 'webgpu'), join('unet', 'model.float16.onnx'));
  const fp32 = await importCheckpoint(join(REFERENCE, 'sd15-tiny-public-fp32.safetensors'), { ...options, name: 'full' });
  assert.deepEqual((await inspectModelFolder(fp32.folder)).imported?.float16Graphs, {}, 'an fp32 checkpoint runs float32 everywhere');
});

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

  // img2img runs the imported VAE encoder, whose weights also lie in the checkpoint.
  const init = fileURLToPath(new URL('../reference/img2img_inpaint/inputs/init_128x128_5.png', import.meta.url));
  const fromImage = easel({}, 'generate', '--model', join(models, 'tiny'), '--prompt', 'a cat', '--init-image', init, '--strength', '0.5', '--steps', '4', '--out', join(dir, 'i2i.png'), '--yes');
  assert.equal(fromImage.code, 0, fromImage.stderr);
  assert.ok(existsSync(join(dir, 'i2i.png')));
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

// An SD 2.x checkpoint written by Easel's synthetic writer (OpenCLIP keys with the fused in_proj, linear
// proj_in/proj_out, head width instead of head count, v-prediction from the yaml) imports with the settings SD 2.x
// implies (the images are checked against single_file_sd2 above).
const TINY_SD2_YAML = `model:
  params:
    parameterization: "v"
    scale_factor: 0.18215
    unet_config:
      params:
        model_channels: 32
        channel_mult: [ 1, 2 ]
        num_res_blocks: 1
        attention_resolutions: [ 1, 2 ]
        num_head_channels: 8
        context_dim: 32
        use_linear_in_transformer: True
        norm_num_groups: 8
    first_stage_config:
      params:
        ddconfig:
          ch: 8
          ch_mult: [ 1, 1, 1, 1 ]
          num_res_blocks: 1
          norm_num_groups: 4
    cond_stage_config:
      tiny_text_encoder:
        width: 32
        heads: 2
        layers_in_file: 3
        vocab_size: 801
`;

test('a (tiny) SD 2.x checkpoint imports as SD 2.x with v-prediction and pad "!", and generates an image', async () => {
  const dir = temporaryFolder('easel-sd2-');
  const file = join(dir, 'tiny-sd2.safetensors');
  writeFileSync(join(dir, 'tiny-sd2.yaml'), TINY_SD2_YAML);
  const base = SYNTHETIC_CONFIGS.sd21;
  const config = await readYamlOverrides(join(dir, 'tiny-sd2.yaml'), { ...base, text: { ...base.text, layers: 2 } });
  await writeSyntheticCheckpoint(file, { config: { ...config, text: { ...config.text, layers: 3 } }, dtype: 'F16' });
  const source = await openCheckpoint(file);
  assert.equal(source.config.family, 'SD 2.x');
  assert.equal(source.config.text.layers, 2, 'run to the penultimate of 3 layers');
  assert.equal(source.config.unet.linearProjection, true);
  const imported = await importCheckpoint(file, { destinationRoot: join(dir, 'models'), tokenizerDir: TOKENIZER });
  assert.equal(imported.family, 'SD 2.x');
  const folder = await inspectModelFolder(imported.folder);
  assert.equal(folder.scheduler.prediction_type, 'v_prediction');
  assert.equal(folder.nativeSize, 768);
  assert.equal(JSON.parse(readFileSync(join(imported.folder, 'tokenizer', 'special_tokens_map.json'), 'utf8')).pad_token, '!');
  const model = await loadModel(folder, 'cpu');
  loaded.push(model);
  assert.equal(model.tokenizer.padId, 0, '"!" is token 0 in CLIP\'s byte-level vocabulary');
  const [image] = await generate(model, validateParams({ prompt: 'a red cube', steps: 2, width: 64, height: 64, seed: 3, emphasis: 'None' }, model));
  const values = new Set(image.rgb);
  assert.ok(values.size > 16, 'not a flat image');
});
