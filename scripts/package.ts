/**
 * Builds one VSIX per target from this machine: `npm run package` (this machine's platform),
 * `npm run package -- win32-x64 linux-arm64`, `npm run package -- --all`. Each target gets a staging
 * folder (.package/<target>) where npm installs the production dependencies for that platform
 * (`--os`/`--cpu`, so sharp's @img packages are the target's), and a generated ignore file keeps out
 * every install-time package and every other platform's ONNX Runtime. Each VSIX is then checked
 * (scripts/packaging/checkVsix.ts); any problem fails the run.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkVsixFiles, megabytes } from './packaging/checkVsix.ts';
import { RUNTIME_PACKAGES, targetSpec, TARGETS, type TargetSpec } from './packaging/targets.ts';

const ROOT = resolve(import.meta.dirname, '..');
const STAGING = join(ROOT, '.package');
/** The release build, made fresh for each packaging run. */
const BUILD = join(STAGING, 'dist');
/** What the extension ships besides node_modules/ and the build. */
const SHIPPED = ['media', 'README.md', 'CHANGELOG.md', 'LICENSE'];
/** Never shipped from the packages that are: install scripts, native sources, type declarations, maps. */
const PACKAGE_LEFTOVERS = [
  'node_modules/onnxruntime-node/script/**', 'node_modules/onnxruntime-node/lib/**', 'node_modules/sharp/src/**', 'node_modules/sharp/install/**',
  // The worker requires these packages as CommonJS: their ES module copies and libvips' C headers are dead weight.
  'node_modules/onnxruntime-common/dist/esm/**', 'node_modules/**/*.mjs', 'node_modules/@img/sharp-libvips-*/lib/glib-2.0/**',
  '**/*.d.ts', '**/*.d.cts', '**/*.d.mts', '**/*.map', '**/*.ts', 'dist/**/*.map', '.installed',
];

function installedPackages(nodeModules: string): string[] {
  if (!existsSync(nodeModules)) return [];
  return readdirSync(nodeModules).filter((name) => !name.startsWith('.')).flatMap((name) => (name.startsWith('@') ? readdirSync(join(nodeModules, name)).map((inner) => `${name}/${inner}`) : [name]));
}

/** Production dependencies for the target's platform, reinstalled only when the lock file changes. */
function installDependencies(spec: TargetSpec, staging: string): void {
  const lock = readFileSync(join(ROOT, 'package-lock.json'));
  const stamp = createHash('sha256').update(lock).update(readFileSync(join(ROOT, 'package.json'))).update(spec.target).digest('hex');
  const marker = join(staging, '.installed');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === stamp) return;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(staging, 'package.json'));
  cpSync(join(ROOT, 'package-lock.json'), join(staging, 'package-lock.json'));
  const platform = [`--os=${spec.os}`, `--cpu=${spec.cpu}`, ...(spec.os === 'linux' ? ['--libc=glibc'] : [])];
  execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', ...platform], {
    cwd: staging, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_update_notifier: 'false' },
  });
  // The npm package carries every platform's ONNX Runtime (≈ 290 MB); keep only this target's on disk.
  const bin = join(staging, 'node_modules', 'onnxruntime-node', 'bin');
  for (const napi of existsSync(bin) ? readdirSync(bin) : []) {
    for (const os of readdirSync(join(bin, napi))) {
      for (const cpu of readdirSync(join(bin, napi, os))) if (os !== spec.os || cpu !== spec.cpu) rmSync(join(bin, napi, os, cpu), { recursive: true, force: true });
    }
  }
  writeFileSync(marker, stamp);
}

function ignoreFile(spec: TargetSpec, staging: string): string {
  const allowed = new Set([...RUNTIME_PACKAGES, ...spec.sharpPackages]);
  const lines = [
    '# Written by scripts/package.ts for ' + spec.target,
    ...installedPackages(join(staging, 'node_modules')).filter((name) => !allowed.has(name)).map((name) => `node_modules/${name}/**`),
    'node_modules/onnxruntime-node/bin/**',
    `!node_modules/onnxruntime-node/bin/napi-v*/${spec.os}/${spec.cpu}/**`,
    ...PACKAGE_LEFTOVERS,
    'package-lock.json',
  ];
  return `${lines.join('\n')}\n`;
}

function packageTarget(spec: TargetSpec): string {
  const started = performance.now();
  const staging = join(STAGING, spec.target);
  installDependencies(spec, staging);
  for (const entry of [...SHIPPED, 'dist']) rmSync(join(staging, entry), { recursive: true, force: true });
  for (const entry of SHIPPED) cpSync(join(ROOT, entry), join(staging, entry), { recursive: true });
  cpSync(BUILD, join(staging, 'dist'), { recursive: true });
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  delete manifest.scripts;
  delete manifest.devDependencies;
  writeFileSync(join(staging, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(join(staging, '.vscodeignore'), ignoreFile(spec, staging));
  const out = join(ROOT, `easel-${spec.target}.vsix`);
  rmSync(out, { force: true });
  const vsce = join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
  const log = execFileSync(process.execPath, [vsce, 'package', '--target', spec.target, '--out', out], { cwd: staging, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  // vsce's warnings (e.g. "you should bundle your extension") are failures here.
  if (/WARNING/i.test(log)) throw new Error(`vsce warned while packaging ${spec.target}:\n${log}`);
  console.log(`packaged ${spec.target} in ${((performance.now() - started) / 1000).toFixed(1)} s: ${megabytes(statSync(out).size)}`);
  return out;
}

function main(): void {
  const args = process.argv.slice(2);
  const names = args.includes('--all') ? TARGETS.map((spec) => spec.target) : args.filter((arg) => !arg.startsWith('--'));
  if (names.length === 0) names.push(`${process.platform}-${process.arch}`);
  let specs: TargetSpec[];
  try {
    specs = names.map(targetSpec);
  } catch (error) {
    console.error(`package: error: ${(error as Error).message}`);
    process.exit(1);
  }
  const started = performance.now();
  execFileSync(process.execPath, ['esbuild.mjs', '--production', '--outdir', BUILD], { cwd: ROOT, stdio: 'inherit' });
  const files = specs.map(packageTarget);
  const ok = checkVsixFiles(files, ROOT);
  console.log(`${files.length} VSIX in ${((performance.now() - started) / 1000).toFixed(1)} s${ok ? '' : ' — the packaging check FAILED'}`);
  if (!ok) process.exit(1);
}

main();
