import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findLoraByHash, findLoraFile, listLoraFiles, loraShortHash, openLoraFile, recallLoras } from '../../src/engine/lora/loraFile.ts';
import { temporaryFolder } from '../helpers/fixtures.ts';

const REFERENCE_LORA = fileURLToPath(new URL('../reference/lora/loras/tiny_kohya_public.safetensors', import.meta.url));
// A1111's addnet_hash_safetensors of that file (SHA-256 of the bytes after the header), computed with Python's hashlib.
const REFERENCE_HASH = '0ff80f3029d5d51e5195f708f9aafa49a6b53026980afdc71f14ab04f8be301a';

test('the LoRA hash is A1111\'s (sd-scripts\' addnet hash), and its short form is 12 digits', async () => {
  const file = await openLoraFile(REFERENCE_LORA);
  assert.equal(file.hash, REFERENCE_HASH);
  assert.equal(loraShortHash(file.hash), '0ff80f3029d5');
  assert.equal(file.modules.length, 136);
});

test('LoRAs are found by file name (two folder levels deep) and by hash', async () => {
  const root = temporaryFolder('easel-loras-');
  mkdirSync(join(root, 'styles', 'old'), { recursive: true });
  copyFileSync(REFERENCE_LORA, join(root, 'styles', 'Painterly.safetensors'));
  writeFileSync(join(root, 'notes.txt'), 'not a LoRA');
  writeFileSync(join(root, 'broken.safetensors'), 'not a safetensors file');
  assert.deepEqual((await listLoraFiles([root])).map((path) => path.slice(root.length + 1)), ['broken.safetensors', 'styles/Painterly.safetensors']);
  assert.equal(await findLoraFile('Painterly', [root]), join(root, 'styles', 'Painterly.safetensors'));
  assert.equal(await findLoraFile('painterly', [root]), join(root, 'styles', 'Painterly.safetensors'), 'case-insensitive as a fallback');
  await assert.rejects(findLoraFile('other', [root]), /No LoRA named "other"/);
  assert.equal(await findLoraByHash('0ff80f3029d5', [root]), join(root, 'styles', 'Painterly.safetensors'));
  assert.equal(await findLoraByHash('123456789abc', [root]), undefined);
});

test('Regenerate: a LoRA found by hash under another name is renamed in the prompt; missing ones are named', async () => {
  const root = temporaryFolder('easel-loras-');
  copyFileSync(REFERENCE_LORA, join(root, 'painterly_v2.safetensors'));
  const recalled = await recallLoras(
    'a cat <lora:painterly:0.8>, <lora:detail:0.5> <lora:painterly:0.2>',
    [{ name: 'painterly', hash: '0ff80f3029d5' }, { name: 'detail', hash: 'aaaaaaaaaaaa' }],
    [root],
  );
  assert.equal(recalled.prompt, 'a cat <lora:painterly_v2:0.8>, <lora:detail:0.5> <lora:painterly_v2:0.2>');
  assert.deepEqual(recalled.notes, [
    'LoRA painterly was found by its hash as painterly_v2.safetensors; the prompt now names it painterly_v2.',
    'LoRA detail (hash aaaaaaaaaaaa) is not in the LoRA folders (easel.loraDirectories); add it before generating.',
  ]);
  const byName = await recallLoras('x <lora:painterly_v2:1> <lora:gone:1>', [], [root]);
  assert.equal(byName.prompt, 'x <lora:painterly_v2:1> <lora:gone:1>');
  assert.match(byName.notes[0], /painterly_v2 has no recorded hash/);
  assert.match(byName.notes[1], /LoRA gone is not in the LoRA folders/);
});
