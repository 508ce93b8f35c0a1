// Bundles the CLI, the worker, the extension host code and the webview.
import * as esbuild from 'esbuild';
import { chmod, copyFile, mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
// `--outdir DIR` builds elsewhere, from an empty folder (packaging builds into .package/dist, so the
// tests' dist/ is never rebuilt under them and nothing stale is shipped).
const outdirFlag = process.argv.indexOf('--outdir');
const outdir = outdirFlag > 0 ? process.argv[outdirFlag + 1] : 'dist';

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

// Every bundle the extension ships. A missing entry point fails the build: a VSIX without its worker
// or panel would install and then fail at the first use.
const builds = [
  { ...nodeCommon, entryPoints: ['src/cli/main.ts'], outfile: `${outdir}/cli.js`, banner: { js: '#!/usr/bin/env node' } },
  { ...nodeCommon, entryPoints: ['src/service/worker.ts'], outfile: `${outdir}/worker.js` },
  // Reads PNG metadata off the extension host's thread (Regenerate, Edit Image).
  { ...nodeCommon, entryPoints: ['src/png/metadataWorker.ts'], outfile: `${outdir}/metadataWorker.js` },
  { ...nodeCommon, entryPoints: ['src/vscode/extension.ts'], outfile: `${outdir}/extension.js` },
  {
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    sourcemap: !production,
    minify: production,
    entryPoints: ['webview/main.ts'],
    outfile: `${outdir}/webview.js`,
    logLevel: 'warning',
  },
];
const missing = builds.flatMap((options) => options.entryPoints).filter((entry) => !existsSync(entry));
if (missing.length > 0) {
  console.error(`esbuild.mjs: error: entry point${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not found; nothing was built.`);
  process.exit(1);
}

if (outdirFlag > 0) await rm(outdir, { recursive: true, force: true });

if (watch) {
  const contexts = await Promise.all(builds.map((options) => esbuild.context(options)));
  await Promise.all(contexts.map((context) => context.watch()));
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
  await chmod(`${outdir}/cli.js`, 0o755);
}

// The panel's icon font, served from dist/ (a local resource root of the webview).
await mkdir(`${outdir}/codicons`, { recursive: true });
for (const file of ['codicon.css', 'codicon.ttf']) await copyFile(`node_modules/@vscode/codicons/dist/${file}`, `${outdir}/codicons/${file}`);
