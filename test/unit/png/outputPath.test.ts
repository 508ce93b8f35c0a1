import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_FILE_NAME_TEMPLATE, renderFileName, resolveOutputFolder, slugify, writeImageIntoWorkspace } from '../../../src/png/outputPath.ts';
import { writeNewFile } from '../../../src/png/safeWrite.ts';
import { temporaryFolder } from '../../helpers/fixtures.ts';

const date = new Date(2026, 10, 25, 9, 5, 7);

test('prompt slugs are short, lower-case and safe', () => {
  assert.equal(slugify('A Café at Night!'), 'a-cafe-at-night');
  assert.equal(slugify('夜のカフェ'), 'image');
  assert.equal(slugify('../../etc/passwd'), 'etc-passwd');
  const long = slugify('an extremely detailed matte painting of a sprawling futuristic city at golden hour');
  assert.ok(long.length <= 48 && !long.endsWith('-'), long);
  assert.equal(long, 'an-extremely-detailed-matte-painting-of-a');
});

test('the default template gives date, time, seed and prompt', () => {
  assert.equal(renderFileName(DEFAULT_FILE_NAME_TEMPLATE, { date, seed: '1234', prompt: 'A red fox' }), '2026-11-25-090507-1234-a-red-fox.png');
});

test('Windows-reserved names and characters are handled; placeholders are checked', () => {
  assert.equal(renderFileName('{prompt}', { date, seed: '1', prompt: 'CON' }), '_con.png');
  assert.equal(renderFileName('nul', { date, seed: '1', prompt: '' }), '_nul.png');
  assert.equal(renderFileName('a<b>c:d"e/f\\g|h?i*j', { date, seed: '1', prompt: '' }), 'a-b-c-d-e-f-g-h-i-j.png');
  assert.equal(renderFileName('trailing. . ', { date, seed: '1', prompt: '' }), 'trailing.png');
  assert.equal(renderFileName('{seed}.png', { date, seed: '9', prompt: '' }), '9.png');
  assert.throws(() => renderFileName('{colour}', { date, seed: '1', prompt: '' }), /Unknown placeholder \{colour\}/);
});

test('files are never overwritten: a numeric suffix is added; no temporary file is left', async () => {
  const folder = temporaryFolder();
  const first = await writeNewFile(join(folder, 'a.png'), Uint8Array.of(1));
  const second = await writeNewFile(join(folder, 'a.png'), Uint8Array.of(2));
  assert.deepEqual([first, second].map((path) => path.slice(folder.length + 1)), ['a.png', 'a-2.png']);
  assert.deepEqual(readFileSync(first), Buffer.of(1));
  assert.deepEqual(readdirSync(folder).sort(), ['a-2.png', 'a.png']);
});

test('concurrent writes to the same name all land, each in its own file', async () => {
  const folder = temporaryFolder();
  const paths = await Promise.all(Array.from({ length: 8 }, (_, i) => writeNewFile(join(folder, 'same.png'), Uint8Array.of(i))));
  assert.equal(new Set(paths).size, 8);
  assert.equal(readdirSync(folder).length, 8);
});

test('the output folder is created inside the workspace', async () => {
  const workspace = temporaryFolder();
  const path = await writeImageIntoWorkspace(workspace, 'images/generated', DEFAULT_FILE_NAME_TEMPLATE, { date, seed: '5', prompt: 'x' }, Uint8Array.of(7));
  assert.ok(path.startsWith(join(workspace, 'images', 'generated')));
});

test('targets outside the workspace are refused: .., absolute paths, symbolic links that lead out', async () => {
  const workspace = temporaryFolder();
  const outside = temporaryFolder();
  await assert.rejects(resolveOutputFolder(workspace, '../elsewhere'), /leads outside the workspace/);
  await assert.rejects(resolveOutputFolder(workspace, 'a/../../b'), /leads outside the workspace/);
  await assert.rejects(resolveOutputFolder(workspace, outside), /must be relative/);
  await assert.rejects(resolveOutputFolder(workspace, 'C:\\Users\\x'), /must be relative/);
  symlinkSync(outside, join(workspace, 'escape'));
  await assert.rejects(resolveOutputFolder(workspace, 'escape'), /symbolic link that leads outside/);
  await assert.rejects(resolveOutputFolder(workspace, 'escape/deeper/still'), /symbolic link that leads outside/);
  assert.deepEqual(readdirSync(outside), []);
  mkdirSync(join(workspace, 'real'));
  symlinkSync(join(workspace, 'real'), join(workspace, 'inner-link'));
  assert.equal(await resolveOutputFolder(workspace, 'inner-link'), join(await import('node:fs/promises').then((fs) => fs.realpath(workspace)), 'real'));
});

test('an output folder setting that names a file is refused', async () => {
  const workspace = temporaryFolder();
  writeFileSync(join(workspace, 'file.txt'), 'x');
  await assert.rejects(resolveOutputFolder(workspace, 'file.txt'), /Cannot create the output folder|does not resolve to a folder/);
});
