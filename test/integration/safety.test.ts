import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { infotextChunkText, readImageMetadata } from '../../src/png/readMetadata.ts';
import type { GenerationService } from '../../src/service/generationService.ts';
import type { GenerationRequest } from '../../src/service/protocol.ts';
import { fixtureModels, temporaryFolder } from '../helpers/fixtures.ts';
import { createService, record } from '../helpers/service.ts';

let models: Record<string, string>;
let service: GenerationService;
before(async () => {
  models = await fixtureModels();
  service = createService();
});
after(() => service.dispose());

const FLAGGED = 'a red square on a desert';
const request = (overrides: Partial<GenerationRequest>): GenerationRequest => ({
  modelDir: models.safety, provider: 'cpu', prompt: FLAGGED, steps: 6, width: 64, height: 64, cfgScale: 1, seed: '3', ...overrides,
});

function safetyOf(png: Uint8Array): { checker: string; flagged: boolean; action: string } {
  const chunk = readImageMetadata(png).chunks.find((entry) => entry.keyword === 'easel')!;
  return JSON.parse(chunk.text).safety;
}

async function pixels(png: Uint8Array): Promise<Buffer> {
  return sharp(png).raw().toBuffer();
}

test('blur: a flagged image is blurred, the flag is recorded, the original is held back for the user', async () => {
  const result = await service.generate(request({ safetyChecker: 'blur' })).result;
  const [image] = result.images;
  assert.deepEqual(image.safety, { checker: 'blur', flagged: true, action: 'blurred' });
  assert.deepEqual(safetyOf(image.png), { checker: 'blur', flagged: true, action: 'blurred' });
  assert.ok(image.originalPng, 'the original comes back to the host, unwritten');
  const [shown, original] = [await pixels(image.png), await pixels(image.originalPng!)];
  let difference = 0;
  for (let i = 0; i < shown.length; i++) difference += Math.abs(shown[i] - original[i]);
  assert.ok(difference / shown.length > 5, `blurred (mean difference ${difference / shown.length})`);
  const off = (await service.generate(request({ safetyChecker: 'off' })).result).images[0];
  assert.deepEqual(await pixels(image.originalPng!), await pixels(off.png), 'the held-back original is the unblurred image');
  assert.match(readImageMetadata(image.png).chunks.find((entry) => entry.keyword === 'parameters')!.text, /Safety checker: flagged/);
  // "Copy parameters" copies the text both files carry, the safety flag included.
  assert.match(image.parameters, /, Safety checker: flagged, Version: Easel /);
  for (const png of [image.png, image.originalPng!]) assert.equal(infotextChunkText(readImageMetadata(png)), image.parameters);
});

test('block: a flagged image is withheld and nothing is produced', async () => {
  const job = service.generate(request({ safetyChecker: 'block' }));
  const events = record(job);
  const result = await job.result;
  assert.equal(result.images.length, 0);
  const withheld = events.find(([name]) => name === 'withheld');
  assert.match((withheld?.[1] as { reason: string }).reason, /nothing was written/);
});

test('off: the checker does not run and the original is written', async () => {
  const [image] = (await service.generate(request({ safetyChecker: 'off' })).result).images;
  assert.deepEqual(image.safety, { checker: 'off', flagged: false, action: 'none' });
  assert.equal(image.originalPng, undefined);
});

test('an image the checker does not flag is written unchanged; a model without a checker says so', async () => {
  const [clean] = (await service.generate(request({ prompt: 'a yellow sun over the ocean', safetyChecker: 'block' })).result).images;
  assert.deepEqual(clean.safety, { checker: 'block', flagged: false, action: 'none' });
  const [unchecked] = (await service.generate(request({ modelDir: models.demo, safetyChecker: 'blur' })).result).images;
  assert.deepEqual(unchecked.safety, { checker: 'unavailable', flagged: false, action: 'none' });
});

const CLI = resolve(import.meta.dirname, '..', '..', 'dist', 'cli.js');
function easel(...args: string[]): Promise<{ status: number; stderr: string }> {
  return new Promise((done) => execFile(process.execPath, [CLI, ...args], (error, _stdout, stderr) => done({ status: error ? Number(error.code ?? 1) : 0, stderr })));
}

test('the CLI honours --safety-checker and --prompt-filter', async () => {
  const folder = temporaryFolder();
  const base = ['generate', '--model', models.safety, '--steps', '4', '--width', '64', '--height', '64', '--cfg', '1'];
  const blocked = await easel(...base, '--prompt', FLAGGED, '--safety-checker', 'block', '--out', join(folder, 'a.png'));
  assert.equal(blocked.status, 0);
  assert.match(blocked.stderr, /nothing was written/);
  assert.deepEqual(readdirSync(folder), []);
  const blurred = await easel(...base, '--prompt', FLAGGED, '--out', join(folder, 'b.png'));
  assert.match(blurred.stderr, /blurred: the safety checker flagged it/);
  assert.equal(safetyOf(readFileSync(join(folder, 'b.png'))).action, 'blurred');
  const warned = await easel(...base, '--prompt', 'a rape scene', '--prompt-filter', 'block', '--out', join(folder, 'c.png'));
  assert.equal(warned.status, 1);
  assert.match(warned.stderr, /matches the blocked term "rape"/);
  const never = await easel(...base, '--prompt', 'nude child', '--prompt-filter', 'off', '--out', join(folder, 'd.png'));
  assert.equal(never.status, 1);
  assert.match(never.stderr, /never generates this/);
  const warnOnly = await easel(...base, '--prompt', 'a rape scene', '--out', join(folder, 'e.png'));
  assert.equal(warnOnly.status, 1, 'warn asks first; without a terminal or --yes nothing is made');
  assert.deepEqual(readdirSync(folder), ['b.png']);
});
