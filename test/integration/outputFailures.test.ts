/** Writing images when the disk is full, and after a writer was killed mid-write (issue 11, items 7 and 8). */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { removeStaleTemporaryFiles, writeNewFile } from '../../src/png/safeWrite.ts';
import { fixtureModels, temporaryFolder } from '../helpers/fixtures.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');
let demo: string;

before(async () => {
  demo = (await fixtureModels()).demo;
});

/** Whether this machine lets us mount a private tmpfs (a user and mount namespace). */
function canMountTmpfs(): boolean {
  const probe = spawnSync('unshare', ['-rm', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs "$1"', 'sh', temporaryFolder()], { encoding: 'utf8' });
  return probe.status === 0;
}

test('a full disk: one line "easel: error: … full …", exit 1, no signal, nothing partial left', () => {
  const folder = temporaryFolder('easel-full-');
  const generate = ['generate', '--model', demo, '--prompt', 'a yellow sun', '--steps', '2', '--width', '64', '--height', '64', '--seed', '1', '--batch', '3'];
  let run;
  if (canMountTmpfs()) {
    // A real 64 KiB tmpfs, filled up before the CLI writes into it.
    const script = 'mount -t tmpfs -o size=64k tmpfs "$1" || exit 99; cat /dev/zero > "$1/filler" 2>/dev/null; shift; "$@"; code=$?; ls -A "$TARGET" >&2; exit $code';
    run = spawnSync('unshare', ['-rm', 'sh', '-c', script, 'sh', folder, process.execPath, CLI, ...generate, '--out', join(folder, 'sun.png')], {
      encoding: 'utf8', env: { ...process.env, TARGET: folder },
    });
    const listing = run.stderr.trim().split('\n').slice(-1)[0];
    assert.equal(listing, 'filler', `the tmpfs holds only the filler afterwards: ${run.stderr}`);
    run.stderr = run.stderr.trim().split('\n').slice(0, -1).join('\n');
  } else {
    run = spawnSync(process.execPath, ['--require', join(ROOT, 'test', 'helpers', 'fullDisk.cjs'), CLI, ...generate, '--out', join(folder, 'sun.png')], {
      encoding: 'utf8', env: { ...process.env, EASEL_TEST_FULL_DISK: folder },
    });
    assert.deepEqual(readdirSync(folder), [], 'nothing partial left');
  }
  assert.equal(run.signal, null, run.stderr);
  assert.equal(run.status, 1, run.stderr);
  const errors = run.stderr.split('\n').filter((line) => line.startsWith('easel: error:'));
  assert.equal(errors.length, 1, run.stderr);
  assert.match(errors[0], /^easel: error: The disk holding .+ is full \(ENOSPC\): sun-1\.png was not written and nothing partial was left\. Free some space and try again\.$/);
  assert.doesNotMatch(run.stderr, /Unhandled|at async|node:internal/);
});

test('temporary files of a writer killed with SIGKILL mid-write are removed on the next write; others are kept', async () => {
  const folder = temporaryFolder('easel-killed-');
  // A real writer, killed while its 256 MB temporary file is being written.
  const writer = spawn(process.execPath, ['--import', 'tsx', '-e', `
    const { writeNewFile } = require(${JSON.stringify(join(ROOT, 'src', 'png', 'safeWrite.ts'))});
    writeNewFile(${JSON.stringify(join(folder, 'big.png'))}, new Uint8Array(256 * 1024 * 1024));
  `], { cwd: ROOT, stdio: 'ignore' });
  let leftover: string | undefined;
  for (let i = 0; i < 600 && !leftover; i++) {
    await new Promise((done) => setTimeout(done, 50));
    leftover = readdirSync(folder).find((name) => name.endsWith('.tmp'));
  }
  assert.ok(leftover, 'the writer created its temporary file');
  writer.kill('SIGKILL');
  await new Promise((done) => writer.once('exit', done));
  assert.match(leftover, /^\.big\.\d+\.[0-9a-f]{12}\.tmp$/);

  const keep = ['.notes.tmp', '.big.tmp', 'big.12345.0123456789ab.tmp', '.other.0123456789abcdef.tmp'];
  for (const name of keep) writeFileSync(join(folder, name), 'not ours');
  const live = `.live.${process.pid}.0123456789ab.tmp`; // this process is still writing it
  writeFileSync(join(folder, live), 'in progress');
  const oldLegacy = '.old.0123456789ab.tmp'; // an earlier version's name, an hour old
  writeFileSync(join(folder, oldLegacy), 'stale');
  const hourAgo = new Date(Date.now() - 3600_000);
  utimesSync(join(folder, oldLegacy), hourAgo, hourAgo);
  const elsewhere = join(folder, 'sub');
  mkdirSync(elsewhere);
  writeFileSync(join(elsewhere, leftover), 'in another folder');

  const written = await writeNewFile(join(folder, 'next.png'), new Uint8Array([1, 2, 3]));
  assert.equal(written, join(folder, 'next.png'));
  assert.deepEqual(readdirSync(folder).sort(), [...keep, live, 'next.png', 'sub'].sort());
  assert.deepEqual(readdirSync(elsewhere), [leftover], 'only the output folder is cleaned');
  assert.deepEqual(await removeStaleTemporaryFiles(folder), [], 'once per folder and process');
});
