import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');

test('the build fails, naming the file, when an entry point is missing, and writes nothing', (t) => {
  // Inside the repository so that esbuild.mjs finds esbuild through node_modules.
  mkdirSync(join(ROOT, '.package'), { recursive: true });
  const folder = mkdtempSync(join(ROOT, '.package', 'build-test-'));
  t.after(() => rmSync(folder, { recursive: true, force: true }));
  symlinkSync(join(ROOT, 'node_modules'), join(folder, 'node_modules'));
  copyFileSync(join(ROOT, 'esbuild.mjs'), join(folder, 'esbuild.mjs'));
  for (const entry of ['src/cli/main.ts', 'src/vscode/extension.ts', 'webview/main.ts']) {
    mkdirSync(join(folder, entry, '..'), { recursive: true });
    writeFileSync(join(folder, entry), 'export {};\n');
  }
  const run = spawnSync(process.execPath, ['esbuild.mjs', '--production'], { cwd: folder, encoding: 'utf8' });
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stderr, /entry points src\/service\/worker\.ts, src\/png\/metadataWorker\.ts not found; nothing was built/);
  assert.equal(existsSync(join(folder, 'dist')), false);

  for (const entry of ['src/service/worker.ts', 'src/png/metadataWorker.ts']) {
    mkdirSync(join(folder, entry, '..'), { recursive: true });
    writeFileSync(join(folder, entry), 'export {};\n');
  }
  const built = spawnSync(process.execPath, ['esbuild.mjs', '--production', '--outdir', 'out/release'], { cwd: folder, encoding: 'utf8' });
  assert.equal(built.status, 0, built.stderr);
  for (const file of ['cli.js', 'worker.js', 'metadataWorker.js', 'extension.js', 'webview.js', 'codicons/codicon.css']) assert.ok(existsSync(join(folder, 'out', 'release', file)), file);
});

test('npm run package refuses a target ONNX Runtime has no binary for, before building anything', () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/package.ts', 'darwin-x64'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /^package: error: Easel cannot be packaged for darwin-x64: onnxruntime-node 1\.30 ships no macOS x64 \(Intel\) binary\. Supported targets: win32-x64, win32-arm64, darwin-arm64, linux-x64, linux-arm64\.$/m);
  assert.equal(existsSync(join(ROOT, 'easel-darwin-x64.vsix')), false);
});
