import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePng } from '../../src/png/writeMetadata.ts';
import { EASEL_SOFTWARE, EASEL_VERSION } from '../../src/version.ts';
import { temporaryFolder } from '../helpers/fixtures.ts';

function available(tool: string): boolean {
  return spawnSync(tool, ['-h'], { encoding: 'utf8' }).error === undefined;
}

// CI installs both (.ci/run); a developer machine without them skips, CI never does.
const missing = ['pngcheck', 'exiftool'].filter((tool) => !available(tool));
const skip = missing.length > 0 && !process.env.CI ? `not installed: ${missing.join(', ')}` : false;

let file: string;
before(async () => {
  if (skip) return;
  const rgb = new Uint8Array(64 * 48 * 3).map((_, i) => (i * 31) & 0xff);
  const png = await encodePng(rgb, 64, 48, {
    prompt: 'a lighthouse, at dusk: oil painting — 灯台', negativePrompt: 'blurry', steps: 20, sampler: 'Euler a', schedule: 'Karras', cfgScale: 7,
    seed: '1234', width: 64, height: 48, rng: 'cpu', batchIndex: 0, modelName: 'demo', modelHash: 'c7d978b97b', appVersion: EASEL_VERSION,
  });
  file = join(temporaryFolder(), 'lighthouse.png');
  writeFileSync(file, png);
});

test('pngcheck -v finds no errors in the files Easel writes', { skip }, () => {
  const result = spawnSync('pngcheck', ['-v', file], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /No errors detected/);
  assert.match(result.stdout, /iTXt .* keyword: parameters/);
});

test('exiftool shows the prompt in Parameters and the IPTC digital source type', { skip }, () => {
  const result = spawnSync('exiftool', ['-j', '-struct', file], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  const [tags] = JSON.parse(result.stdout) as Array<Record<string, unknown>>;
  assert.match(String(tags.Parameters), /^a lighthouse, at dusk: oil painting — 灯台/);
  assert.match(String(tags.Parameters), /Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 64x48/);
  assert.equal(tags.DigitalSourceType, 'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia');
  assert.equal(tags.Software, EASEL_SOFTWARE);
  assert.equal(tags.CreatorTool, EASEL_SOFTWARE);
});
