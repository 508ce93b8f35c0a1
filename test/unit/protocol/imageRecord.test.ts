import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { DEFAULT_PANEL_SETTINGS } from '../../../src/protocol/panelMessages.ts';
import { readImageMetadataFile } from '../../../src/png/readMetadata.ts';
import { formatInfotext } from '../../../src/png/infotext.ts';
import { encodePng } from '../../../src/png/writeMetadata.ts';
import { recordInfotext, type ImageRecord } from '../../../src/vscode/imageRecord.ts';
import { temporaryFolder } from '../../helpers/fixtures.ts';

const settings = { ...DEFAULT_PANEL_SETTINGS, prompt: 'a lighthouse, at dusk' };
const written = { ...settings, seed: '42', width: 16, height: 16, batchIndex: 0, modelName: 'the-model-that-ran', modelHash: '0123456789', appVersion: '9.8.7' };

async function pngFile(name: string, withInfotext: boolean): Promise<string> {
  const path = join(temporaryFolder(), name);
  const rgb = new Uint8Array(16 * 16 * 3);
  writeFileSync(path, withInfotext
    ? await encodePng(rgb, 16, 16, written, { extraInfotext: { 'Safety checker': 'flagged' } })
    : await sharp(rgb, { raw: { width: 16, height: 16, channels: 3 } }).png().toBuffer());
  return path;
}

const unread = async (): Promise<never> => assert.fail('a record with its infotext is not read from disk');

test('Copy parameters: a record copies the infotext the worker returned, as it is', async () => {
  const record: ImageRecord = { path: '/nowhere.png', relativePath: 'nowhere.png', settings, seed: '42', infotext: 'exactly this\nSteps: 20, Version: Easel 9.8.7' };
  assert.equal(await recordInfotext(record, unread), record.infotext);
});

test('Copy parameters: a record saved before images kept their infotext copies the PNG\'s own parameters chunk, never the rebuilt text it holds', async () => {
  const path = await pngFile('old.png', true);
  // The shape earlier versions saved: `parameters` rebuilt by the host from the settings (no Version, no safety flag, the model from settings).
  const old = { path, relativePath: 'old.png', settings, seed: '42', parameters: formatInfotext({ ...settings, seed: '42', modelName: 'the-model-in-settings-now' }) } as ImageRecord;
  const copied = await recordInfotext(old, readImageMetadataFile);
  assert.equal(copied, 'a lighthouse, at dusk\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 16x16, Model hash: 0123456789, Model: the-model-that-ran, RNG: CPU, Safety checker: flagged, Version: Easel 9.8.7');
  assert.equal(await recordInfotext({ ...old, path: await pngFile('plain.png', false) }, readImageMetadataFile), undefined, 'a PNG without the chunk has nothing to copy');
  await assert.rejects(recordInfotext({ ...old, path: join(temporaryFolder(), 'deleted.png') }, readImageMetadataFile));
});
