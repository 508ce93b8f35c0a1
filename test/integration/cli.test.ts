import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { readImageMetadata } from '../../src/png/readMetadata.ts';
import { imageDifference, readRgb, regionColour } from '../helpers/referenceImage.ts';
import { LIMITS } from '../../src/shared/generationSettings.ts';
import { fixtureModels, temporaryFolder } from '../helpers/fixtures.ts';

const REFERENCE = resolve(import.meta.dirname, '..', 'reference');
const CLI = resolve(import.meta.dirname, '..', '..', 'dist', 'cli.js');
let demo: string;

before(async () => {
  assert.ok(existsSync(CLI), 'dist/cli.js is built (npm run build)');
  demo = (await fixtureModels()).demo;
});

function easel(...args: string[]) {
  return easelIn(process.cwd(), ...args);
}

function easelIn(cwd: string, ...args: string[]) {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, cwd });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('generate writes a PNG with its parameters, and inspect reads them back', () => {
  const folder = temporaryFolder();
  const out = join(folder, 'sun.png');
  const run = easel('generate', '--model', demo, '--prompt', 'a yellow sun over the ocean', '--steps', '6', '--seed', '12345678901234567890',
    '--width', '64', '--height', '96', '--sampler', 'dpm++ 2m', '--schedule', 'karras', '--rng', 'gpu', '--cfg', '2.5', '--out', out);
  assert.equal(run.code, 0, run.stderr);
  const metadata = readImageMetadata(readFileSync(out));
  assert.equal(metadata.source, 'easel');
  assert.deepEqual(
    { ...metadata.parameters, durationMs: undefined, appVersion: undefined, modelHash: undefined },
    { prompt: 'a yellow sun over the ocean', negativePrompt: '', steps: 6, sampler: 'DPM++ 2M', schedule: 'Karras', cfgScale: 2.5, seed: '12345678901234567890',
      width: 64, height: 96, rng: 'gpu', decoder: 'full', batchIndex: 0, modelName: 'demo', provider: 'cpu', durationMs: undefined, appVersion: undefined, modelHash: undefined },
  );
  assert.match(metadata.parameters.modelHash ?? '', /^[0-9a-f]{10}$/);
  const inspect = easel('inspect', out);
  assert.equal(inspect.code, 0);
  assert.match(inspect.stdout, /Seed: 12345678901234567890/);
  const json = JSON.parse(easel('inspect', out, '--json').stdout);
  assert.ok(json.chunks.some((chunk: { keyword: string }) => chunk.keyword === 'parameters'));
});

test('a batch writes one file per seed and never replaces an existing file', () => {
  const folder = temporaryFolder();
  const out = join(folder, 'batch.png');
  assert.equal(easel('generate', '--model', demo, '--prompt', 'red square', '--steps', '2', '--seed', '5', '--batch', '2', '--width', '64', '--height', '64', '--out', out).code, 0);
  assert.deepEqual(readdirSync(folder).sort(), ['batch-5.png', 'batch-6.png']);
  const again = easel('generate', '--model', demo, '--prompt', 'red square', '--steps', '2', '--seed', '5', '--width', '64', '--height', '64', '--out', join(folder, 'batch-5.png'));
  assert.equal(again.code, 0);
  assert.deepEqual(readdirSync(folder).sort(), ['batch-5-2.png', 'batch-5.png', 'batch-6.png']);
});

const BAD_INPUTS: Array<[string, string[], RegExp]> = [
  ['unknown sampler', ['--sampler', 'Heun'], /Unknown sampler "Heun"/],
  ['size not a multiple of 8', ['--width', '100'], /Width must be a multiple of 8/],
  ['steps below 1', ['--steps', '0'], /Steps must be a whole number/],
  ['bad seed', ['--seed', 'abc'], /--seed must be a whole number/],
  ['prompt over the length limit', ['--prompt', 'x'.repeat(LIMITS.promptLength.max + 1)], /The prompt is 10001 characters long; the limit is 10000\./],
  ['DDIM with Karras', ['--sampler', 'DDIM', '--schedule', 'karras'], /Karras is not available for DDIM/],
  ['unknown provider', ['--provider', 'tpu'], /Unknown --provider "tpu"/],
  ['missing model folder', ['--model', '/nonexistent/model'], /does not exist/],
  ['unknown option', ['--colour', 'red'], /Unknown option '--colour'/],
  ['--decoder tiny with no tiny decoder beside the model', ['--decoder', 'tiny'], /no tiny decoder \(TAESD\) folder beside/],
  ['--decoder naming a full model', ['--decoder', join(REFERENCE, 'img2img_inpaint', 'model-optimum-main')], /AutoencoderKL, not a tiny decoder/],
];

for (const [label, args, message] of BAD_INPUTS) {
  test(`bad input (${label}): one-line error, non-zero exit, no file written`, () => {
    const folder = temporaryFolder();
    const out = join(folder, 'out.png');
    const base = ['generate', '--model', demo, '--prompt', 'x', '--steps', '2', '--out', out];
    const overridden = args[0] === '--model' ? base.map((value, i) => (base[i - 1] === '--model' ? args[1] : value)) : [...base, ...args];
    const run = easel(...overridden);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, message);
    assert.equal(run.stderr.trim().split('\n').filter((line) => line.startsWith('easel: error')).length, 1);
    assert.deepEqual(readdirSync(folder), []);
  });
}

test('an unwritable output folder is an error and leaves nothing behind (even root cannot write into /proc)', () => {
  const run = easel('generate', '--model', demo, '--prompt', 'x', '--steps', '1', '--width', '64', '--height', '64', '--out', '/proc/easel-test.png');
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /Cannot write into/);
});

test('--decoder DIR: the tiny decoder makes the image and the PNG says so ("VAE Decoder: TAESD")', () => {
  const folder = temporaryFolder();
  const model = join(REFERENCE, 'img2img_inpaint', 'model-optimum-main');
  const common = ['generate', '--model', model, '--prompt', 'a lighthouse', '--steps', '2', '--seed', '3', '--width', '64', '--height', '64', '--cfg', '1'];
  const tiny = easel(...common, '--decoder', join(REFERENCE, 'taesd', 'taesd'), '--out', join(folder, 'tiny.png'));
  assert.equal(tiny.code, 0, tiny.stderr);
  const full = easel(...common, '--out', join(folder, 'full.png'));
  assert.equal(full.code, 0, full.stderr);
  const tinyPng = readFileSync(join(folder, 'tiny.png'));
  const metadata = readImageMetadata(tinyPng);
  assert.equal(metadata.parameters.decoder, 'tiny');
  assert.match(tinyPng.toString('latin1'), /VAE Decoder: TAESD/);
  assert.equal(readImageMetadata(readFileSync(join(folder, 'full.png'))).parameters.decoder, 'full');
  assert.doesNotMatch(readFileSync(join(folder, 'full.png')).toString('latin1'), /VAE Decoder/);
});

test('--help documents every option', () => {
  const help = easel('generate', '--help');
  assert.equal(help.code, 0);
  for (const option of ['--model', '--prompt', '--negative-prompt', '--steps', '--cfg', '--seed', '--sampler', '--schedule', '--width', '--height', '--rng', '--batch', '--provider', '--memory', '--decoder', '--out']) {
    assert.ok(help.stdout.includes(option), option);
  }
});

/** A smooth gradient the demo VAE round-trips closely, and a mask whose left half (white) is repainted. */
async function editInputs(folder: string, width = 64, height = 64): Promise<{ init: string; mask: string }> {
  const rgb = Buffer.alloc(width * height * 3);
  const gray = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      rgb.set([60 + x, 90 + y, 140], (y * width + x) * 3);
      gray[y * width + x] = x < width / 2 ? 255 : 0;
    }
  }
  await sharp(rgb, { raw: { width, height, channels: 3 } }).png().toFile(join(folder, 'init.png'));
  await sharp(gray, { raw: { width, height, channels: 1 } }).png().toFile(join(folder, 'mask.png'));
  return { init: join(folder, 'init.png'), mask: join(folder, 'mask.png') };
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

test('--init-image with --mask inpaints: the kept half is the original, and the PNG records strength, blur and both sources', async () => {
  const folder = temporaryFolder();
  const { init, mask } = await editInputs(folder);
  const run = easelIn(folder, 'generate', '--model', demo, '--prompt', 'a yellow sun over the ocean', '--steps', '8', '--cfg', '1', '--seed', '3',
    '--init-image', 'init.png', '--mask', 'mask.png', '--strength', '0.8', '--out', 'edited.png');
  assert.equal(run.code, 0, run.stderr);
  const out = join(folder, 'edited.png');
  const metadata = readImageMetadata(readFileSync(out));
  assert.equal(metadata.parameters.width, 64, 'the size comes from the init image');
  assert.equal(metadata.parameters.denoisingStrength, 0.8);
  assert.equal(metadata.parameters.maskBlur, 0);
  assert.deepEqual(metadata.parameters.initImage, { path: 'init.png', sha256: sha256(init) });
  assert.deepEqual(metadata.parameters.mask, { path: 'mask.png', sha256: sha256(mask), png: readFileSync(mask).toString('base64') });
  const infotext = JSON.parse(easel('inspect', out, '--json').stdout).chunks.find((chunk: { keyword: string }) => chunk.keyword === 'parameters').text as string;
  assert.match(infotext, /Model: demo, Denoising strength: 0\.8, RNG: CPU, Mask blur: 0, Version/, "A1111's order");
  const [result, original] = [await readRgb(out), await readRgb(init)];
  const right = (rgb: Uint8Array) => rgb.filter((_, k) => Math.floor(k / 3) % 64 >= 44);
  const left = (rgb: Uint8Array) => rgb.filter((_, k) => Math.floor(k / 3) % 64 < 20);
  assert.ok(imageDifference(right(result.rgb), right(original.rgb)).max <= 8, 'the unmasked region survives the VAE round trip');
  assert.ok(imageDifference(left(result.rgb), left(original.rgb)).mean > 20, 'the masked region is repainted');
});

test('an init image whose size is not a multiple of 8 is resized to the nearest smaller one, and the CLI says so', async () => {
  const folder = temporaryFolder();
  await sharp({ create: { width: 70, height: 50, channels: 3, background: '#406080' } }).jpeg().toFile(join(folder, 'photo.jpg'));
  const run = easelIn(folder, 'generate', '--model', demo, '--prompt', 'red square', '--steps', '4', '--init-image', 'photo.jpg', '--strength', '0.5', '--out', 'small.png');
  assert.equal(run.code, 0, run.stderr);
  const metadata = readImageMetadata(readFileSync(join(folder, 'small.png')));
  assert.deepEqual([metadata.parameters.width, metadata.parameters.height], [64, 48]);
  assert.match(run.stderr, /The init image photo\.jpg is 70×50; it was resized to 64×48 \(sizes are multiples of 8\)\./);
  const asked = easelIn(folder, 'generate', '--model', demo, '--prompt', 'red square', '--steps', '4', '--init-image', 'photo.jpg', '--strength', '0.5', '--width', '32', '--height', '32', '--out', 'asked.png');
  assert.equal(asked.code, 0, asked.stderr);
  assert.match(asked.stderr, /The init image photo\.jpg is 70×50; it was resized to 32×32\.\n/);
  const same = easelIn(folder, 'generate', '--model', demo, '--prompt', 'red square', '--steps', '4', '--init-image', 'small.png', '--strength', '0.5', '--out', 'again.png');
  assert.equal(same.code, 0, same.stderr);
  assert.doesNotMatch(same.stderr, /resized/, 'an init image of the job\'s size is used as it is, without a note');
});

test('edit options are checked: a mask needs an init image, strength is 0 … 1, a damaged image is named', async () => {
  const folder = temporaryFolder();
  const { init, mask } = await editInputs(folder);
  const base = ['generate', '--model', demo, '--prompt', 'red square', '--steps', '4', '--out', join(folder, 'x.png')];
  const noInit = easel(...base, '--mask', mask);
  assert.notEqual(noInit.code, 0);
  assert.match(noInit.stderr, /--mask needs --init-image/);
  assert.match(easel(...base, '--init-image', init, '--strength', '1.5').stderr, /--strength must be a number from 0 to 1, got 1\.5/);
  assert.match(easel(...base, '--init-image', join(folder, 'missing.png')).stderr, /--init-image .*missing\.png: no such file/);
  const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#208040' } }).jpeg().toBuffer();
  writeFileSync(join(folder, 'cut.jpg'), jpeg.subarray(0, jpeg.length - 10));
  const damaged = easel(...base, '--init-image', join(folder, 'cut.jpg'));
  assert.notEqual(damaged.code, 0);
  assert.match(damaged.stderr, /The init image cut\.jpg could not be decoded .*truncated or damaged/);
  assert.equal(existsSync(join(folder, 'x.png')), false);
});

test('generate --lora-dir: a missing LoRA and a LoRA for another model are refused, naming them', () => {
  const folder = temporaryFolder();
  const loras = resolve(import.meta.dirname, '..', 'reference', 'lora', 'loras');
  const missing = easel('generate', '--model', demo, '--prompt', 'red circle <lora:nowhere:0.5>', '--lora-dir', loras, '--steps', '2', '--width', '64', '--height', '64', '--out', join(folder, 'a.png'));
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /No LoRA named "nowhere" \(nowhere\.safetensors\) in .*loras/);
  const noFolder = easel('generate', '--model', demo, '--prompt', 'red circle <lora:tiny_kohya_public:0.5>', '--steps', '2', '--width', '64', '--height', '64', '--out', join(folder, 'b.png'));
  assert.match(noFolder.stderr, /no LoRA folder is set; set easel\.loraDirectories \(CLI: --lora-dir DIR\)/);
  // The demo model's graphs have none of the SD UNet's weights.
  const foreign = easel('generate', '--model', demo, '--prompt', 'red circle <lora:tiny_kohya_public:0.5>', '--lora-dir', loras, '--steps', '2', '--width', '64', '--height', '64', '--out', join(folder, 'c.png'));
  assert.notEqual(foreign.code, 0);
  assert.match(foreign.stderr, /The LoRA "tiny_kohya_public" changes no weight of this model/);
  assert.deepEqual(readdirSync(folder), [], 'nothing written');
});

test('a prompt and a negative prompt at the length limit on the command line (20 KB of arguments) generate, never a SIGSEGV', () => {
  // onnxruntime-node 1.30's telemetry matched /proc/self/cmdline with a recursive regex and overflowed the worker's
  // stack past ~14 KB of command line (exit 139); the host now switches that telemetry off before the worker starts.
  const folder = temporaryFolder();
  const prompt = 'a red circle on a blue sky, '.repeat(400).slice(0, LIMITS.promptLength.max);
  const negative = 'blurry, grey, '.repeat(800).slice(0, LIMITS.promptLength.max);
  const run = spawnSync(process.execPath, [CLI, 'generate', '--model', demo, '--steps', '1', '--width', '64', '--height', '64', '--seed', '4',
    '--prompt', prompt, '--negative-prompt', negative, '--out', join(folder, 'long.png')], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ORT_DISABLE_TELEMETRY: undefined } });
  assert.equal(run.signal, null, `ended by ${run.signal}`);
  assert.equal(run.status, 0, run.stderr.slice(-300));
  const { parameters } = readImageMetadata(readFileSync(join(folder, 'long.png')));
  assert.equal(parameters.prompt, prompt);
  assert.equal(parameters.negativePrompt, negative);
});

test('--prompt-file and --prompt - (standard input) carry the prompt; a 64 KB argument never ends the CLI by a signal', () => {
  const folder = temporaryFolder();
  const promptFile = join(folder, 'prompt.txt');
  writeFileSync(promptFile, 'a yellow sun over the ocean\n');
  const common = ['generate', '--model', demo, '--steps', '1', '--width', '64', '--height', '64', '--seed', '4'];
  const fromFile = easel(...common, '--prompt-file', promptFile, '--out', join(folder, 'file.png'));
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.equal(readImageMetadata(readFileSync(join(folder, 'file.png'))).parameters.prompt, 'a yellow sun over the ocean');
  const fromStdin = spawnSync(process.execPath, [CLI, ...common, '--prompt', '-', '--out', join(folder, 'stdin.png')], { input: 'a red square\n', encoding: 'utf8', timeout: 120_000 });
  assert.equal(fromStdin.status, 0, fromStdin.stderr);
  assert.equal(readImageMetadata(readFileSync(join(folder, 'stdin.png'))).parameters.prompt, 'a red square');
  const both = easel(...common, '--prompt', 'x', '--prompt-file', promptFile, '--out', join(folder, 'both.png'));
  assert.equal(both.code, 1);
  assert.match(both.stderr, /^easel: error: Give either --prompt or --prompt-file, not both\.$/m);
  const notUtf8 = join(folder, 'latin1.txt');
  writeFileSync(notUtf8, Buffer.of(0x63, 0x61, 0x66, 0xe9));
  assert.match(easel(...common, '--prompt-file', notUtf8, '--out', join(folder, 'bad.png')).stderr, /is not UTF-8 text/);
  for (const args of [['--model', `/${'m'.repeat(65_536)}`], [`--${'x'.repeat(65_536)}`], ['--seed', '9'.repeat(65_536)]]) {
    const long = spawnSync(process.execPath, [CLI, ...common, '--prompt', 'x', '--out', join(folder, 'long.png'), ...args], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(long.signal, null, `ended by ${long.signal}`);
    assert.notEqual(long.status, 0);
    assert.equal(long.stderr.trim().split('\n').filter((line) => line.startsWith('easel: error:')).length, 1, long.stderr.slice(-300));
  }
});

test('the demo model\'s recommended settings (easel.json) fill in what was not passed: "a red circle on a blue sky" is a red circle on blue', async () => {
  const folder = temporaryFolder();
  const out = join(folder, 'circle.png');
  const run = easel('generate', '--model', demo, '--prompt', 'a red circle on a blue sky', '--seed', '7', '--width', '64', '--height', '64', '--out', out);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /^Using demo's recommended settings \(easel\.json, from Easel's demo fixture\): Euler a, 20 steps, CFG 1\.5\.$/m);
  const metadata = readImageMetadata(readFileSync(out));
  assert.equal(metadata.parameters.cfgScale, 1.5);
  assert.equal(metadata.parameters.steps, 20);
  const image = await readRgb(out);
  const [r, g, b] = regionColour(image, 32, 32);
  assert.ok(r > 200 && g < 80 && b < 80, `the centre is red, got ${[r, g, b]}`);
  for (const [x, y] of [[3, 3], [60, 3], [3, 60], [60, 60]]) {
    const [cr, cg, cb] = regionColour(image, x, y);
    assert.ok(cb > 200 && cb > cr + 100 && cb > cg + 80, `the corner (${x}, ${y}) is blue, got ${[cr, cg, cb]}`);
  }
  // Options passed on the command line win; only the rest come from the recommendation.
  const passed = easel('generate', '--model', demo, '--prompt', 'a green square', '--seed', '7', '--cfg', '3', '--steps', '4', '--width', '64', '--height', '64', '--out', join(folder, 'square.png'));
  assert.equal(passed.code, 0, passed.stderr);
  assert.match(passed.stderr, /recommended settings .*: Euler a\.$/m);
  assert.deepEqual([readImageMetadata(readFileSync(join(folder, 'square.png'))).parameters.cfgScale, readImageMetadata(readFileSync(join(folder, 'square.png'))).parameters.steps], [3, 4]);
  const [sr, sg, sb] = regionColour(await readRgb(join(folder, 'square.png')), 32, 32);
  assert.ok(sg > 180 && sg > sr + 100 && sg > sb + 100, `"a green square" is green, got ${[sr, sg, sb]}`);
});
