// Bundles the CLI, the worker, the extension host code and the webview.
import * as esbuild from 'esbuild';
import { chmod, copyFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const nodeCommon = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  external: ['onnxruntime-node', 'sharp', 'vscode'],
  logLevel: 'warning',
};

const builds = [
  { ...nodeCommon, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
];
if (existsSync('src/service/worker.ts')) builds.push({ ...nodeCommon, entryPoints: ['src/service/worker.ts'], outfile: 'dist/worker.js' });
if (existsSync('src/vscode/extension.ts')) builds.push({ ...nodeCommon, entryPoints: ['src/vscode/extension.ts'], outfile: 'dist/extension.js' });
if (existsSync('webview/main.ts')) {
  builds.push({
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    sourcemap: !production,
    minify: production,
    entryPoints: ['webview/main.ts'],
    outfile: 'dist/webview.js',
    logLevel: 'warning',
  });
}

if (watch) {
  const contexts = await Promise.all(builds.map((options) => esbuild.context(options)));
  await Promise.all(contexts.map((context) => context.watch()));
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
  await chmod('dist/cli.js', 0o755);
}

// The panel's icon font, served from dist/ (a local resource root of the webview).
await mkdir('dist/codicons', { recursive: true });
for (const file of ['codicon.css', 'codicon.ttf']) await copyFile(`node_modules/@vscode/codicons/dist/${file}`, `dist/codicons/${file}`);
