/**
 * The packaging check: opens a VSIX and asserts it holds exactly its target's native binaries, only
 * the packages the worker loads at run time, the bundle its manifest points at, the manifest fields
 * Easel relies on, and fits its size budget. `node --import tsx scripts/packaging/checkVsix.ts FILE…`
 */
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RUNTIME_PACKAGES, targetSpec, TARGETS } from './targets.ts';
import { readZip } from './zip.ts';

export interface VsixFile {
  /** Path inside the extension folder (the archive's `extension/` prefix removed). */
  path: string;
  size: number;
}

export interface VsixContents {
  files: VsixFile[];
  /** The shipped package.json. */
  manifest: Record<string, unknown>;
  /** extension.vsixmanifest's text. */
  vsixManifest: string;
  /** The archive's size on disk. */
  archiveBytes: number;
  /** The shipped README's text (the Marketplace page). */
  readme?: string;
}

export interface VsixReport {
  target: string;
  problems: string[];
  files: number;
  jsFiles: number;
  unpackedBytes: number;
  archiveBytes: number;
  budgetBytes: number;
}

/** Shipped for nothing: sources, maps, tests, build inputs, native sources. */
const NOT_SHIPPED = /(^|\/)(src|test|tests|bench|webview|scripts|\.ci|\.e2e|\.github|\.vscode)\/|\.(map|ts|cts|mts|cc|cpp|c|h|hpp|gyp|gypi|vsix)$|(^|\/)(tsconfig\.json|esbuild\.mjs|\.npmrc|\.gitignore|package-lock\.json)$/;
const NATIVE = /\.(node|dll|dylib|exe)$|\.so(\.\d+)*$/;
/** VS Code's own limits before vsce asks to bundle the extension. */
const MAX_FILES = 5000;
const MAX_JS_FILES = 100;

/** The package folder (node_modules/name or node_modules/@scope/name, innermost) a path belongs to. */
function packageOf(path: string): string | undefined {
  const match = path.match(/^(?:.*\/)?node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  return match?.[1];
}

export function checkVsixContents(target: string, contents: VsixContents, expectedEngines: Record<string, unknown>): VsixReport {
  const spec = targetSpec(target);
  const problems: string[] = [];
  const paths = new Set(contents.files.map((file) => file.path));

  if (!new RegExp(`TargetPlatform="${target}"`).test(contents.vsixManifest)) problems.push(`extension.vsixmanifest does not name the target platform ${target}`);

  // What runs: the manifest's entry point and the other bundles, built.
  const manifest = contents.manifest;
  const main = typeof manifest.main === 'string' ? manifest.main.replace(/^\.\//, '') : '';
  if (main !== 'dist/extension.js') problems.push(`package.json "main" is ${JSON.stringify(manifest.main)}, expected dist/extension.js`);
  // vsce stores the README and CHANGELOG as readme.md and changelog.md.
  const lowerCasePaths = new Set([...paths].map((path) => path.toLowerCase()));
  for (const file of [main, 'dist/worker.js', 'dist/metadataWorker.js', 'dist/cli.js', 'dist/webview.js', 'dist/codicons/codicon.css', 'README.md', 'CHANGELOG.md']) {
    if (file && !paths.has(file) && !(/\.md$/.test(file) && lowerCasePaths.has(file.toLowerCase()))) problems.push(`${file} is missing`);
  }
  // The Marketplace shows the README from the VSIX: an image or link vsce left relative is broken there.
  for (const [, target] of (contents.readme ?? '').matchAll(/\]\(([^)\s]+)[^)]*\)/g)) {
    if (!/^(https:|#|mailto:)/.test(target)) problems.push(`the README links to ${target}, which does not resolve on the Marketplace (use https:)`);
  }
  if (typeof manifest.icon !== 'string' || !paths.has(manifest.icon)) problems.push(`the icon ${JSON.stringify(manifest.icon)} is missing`);
  if (JSON.stringify(manifest.engines) !== JSON.stringify(expectedEngines)) problems.push(`package.json "engines" is ${JSON.stringify(manifest.engines)}, expected ${JSON.stringify(expectedEngines)}`);
  if (JSON.stringify(manifest.extensionKind) !== JSON.stringify(['workspace'])) problems.push(`package.json "extensionKind" is ${JSON.stringify(manifest.extensionKind)}, expected ["workspace"] (Easel runs where the model and the workspace are)`);
  const capabilities = manifest.capabilities as { untrustedWorkspaces?: { supported?: unknown }; virtualWorkspaces?: { supported?: unknown } } | undefined;
  if (capabilities?.untrustedWorkspaces?.supported !== 'limited') problems.push('package.json capabilities.untrustedWorkspaces.supported is not "limited"');
  if (capabilities?.virtualWorkspaces?.supported !== false) problems.push('package.json capabilities.virtualWorkspaces.supported is not false');
  for (const key of ['scripts', 'devDependencies']) if (key in manifest) problems.push(`the shipped package.json still has "${key}"`);

  // Native code: only this target's ONNX Runtime and sharp/libvips.
  const ortFolder = new RegExp(`^node_modules/onnxruntime-node/bin/napi-v\\d+/${spec.os}/${spec.cpu}/([^/]+)$`);
  const ortFiles = contents.files.map((file) => file.path.match(ortFolder)?.[1]).filter((name): name is string => name !== undefined);
  for (const required of spec.onnxRuntimeFiles) {
    if (!ortFiles.some((name) => required.test(name))) problems.push(`ONNX Runtime for ${target} is missing: no ${required.source.replace(/\\/g, '').replace(/^\^|\$$/g, '')} in onnxruntime-node/bin/napi-v*/${spec.os}/${spec.cpu}/`);
  }
  const foreignOrt = new Set<string>();
  for (const path of paths) {
    const match = path.match(/^node_modules\/onnxruntime-node\/bin\/(napi-v\d+)\/([^/]+)\/([^/]+)\//);
    if (match && (match[2] !== spec.os || match[3] !== spec.cpu)) foreignOrt.add(`${match[2]}/${match[3]}`);
  }
  for (const other of foreignOrt) problems.push(`ONNX Runtime binaries of another platform are included: ${other}`);
  for (const required of spec.sharpFiles) {
    if (!contents.files.some((file) => required.test(file.path.replace(/^node_modules\//, '')))) problems.push(`sharp/libvips for ${target} is missing: no ${required.source.replace(/\\/g, '').replace(/^\^|\$$/g, '')}`);
  }
  const allowedPackages = new Set([...RUNTIME_PACKAGES, ...spec.sharpPackages]);
  const packages = new Set([...paths].map(packageOf).filter((name): name is string => name !== undefined));
  for (const name of packages) {
    if (allowedPackages.has(name)) continue;
    if (/^@img\/sharp-/.test(name)) problems.push(`sharp binaries of another platform are included: ${name}`);
    else problems.push(`a package the extension does not load at run time is included: ${name} (install-time or dev-only)`);
  }
  for (const name of RUNTIME_PACKAGES) if (!packages.has(name)) problems.push(`the runtime package ${name} is missing`);
  const nativeHomes = [ortFolder, ...spec.sharpPackages.map((name) => new RegExp(`^node_modules/${name}/`))];
  for (const path of paths) {
    if (NATIVE.test(path) && !nativeHomes.some((home) => home.test(path))) problems.push(`native code outside ${target}'s folders: ${path}`);
    if (NOT_SHIPPED.test(path)) problems.push(`a development file is included: ${path}`);
  }

  // Size and file counts.
  const jsFiles = contents.files.filter((file) => /\.js$/i.test(file.path)).length;
  if (contents.files.length > MAX_FILES || jsFiles > MAX_JS_FILES) problems.push(`${contents.files.length} files, ${jsFiles} of them JavaScript: past vsce's limits (${MAX_FILES}, ${MAX_JS_FILES}) it asks to bundle the extension`);
  if (contents.archiveBytes > spec.budgetBytes) problems.push(`the VSIX is ${megabytes(contents.archiveBytes)}, over the ${megabytes(spec.budgetBytes)} budget for ${target}`);
  return {
    target, problems, files: contents.files.length, jsFiles, unpackedBytes: contents.files.reduce((sum, file) => sum + file.size, 0),
    archiveBytes: contents.archiveBytes, budgetBytes: spec.budgetBytes,
  };
}

export function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Reads a VSIX file into what checkVsixContents looks at. */
export function readVsix(file: string): VsixContents & { target: string | undefined } {
  const archive = readFileSync(file);
  const entries = readZip(archive);
  const byName = new Map(entries.map((entry) => [entry.name, entry]));
  const vsixManifest = byName.get('extension.vsixmanifest')?.read().toString('utf8') ?? '';
  const packageJson = byName.get('extension/package.json');
  return {
    files: entries.filter((entry) => entry.name.startsWith('extension/')).map((entry) => ({ path: entry.name.slice('extension/'.length), size: entry.size })),
    manifest: packageJson ? JSON.parse(packageJson.read().toString('utf8')) as Record<string, unknown> : {},
    vsixManifest,
    archiveBytes: archive.length,
    readme: (byName.get('extension/readme.md') ?? byName.get('extension/README.md'))?.read().toString('utf8'),
    target: vsixManifest.match(/TargetPlatform="([^"]+)"/)?.[1],
  };
}

/** Checks VSIX files and prints one line each; true when all pass. */
export function checkVsixFiles(files: string[], root = process.cwd()): boolean {
  const engines = (JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { engines: Record<string, unknown> }).engines;
  let ok = true;
  for (const file of files) {
    const contents = readVsix(file);
    const target = contents.target ?? basename(file).match(/^easel-(.+)\.vsix$/)?.[1] ?? '(unknown)';
    if (!TARGETS.some((spec) => spec.target === target)) {
      console.log(`${basename(file)}: FAIL\n  - no supported target platform in its manifest (${target})`);
      ok = false;
      continue;
    }
    const report = checkVsixContents(target, contents, engines);
    const figures = `${megabytes(report.archiveBytes)} (budget ${megabytes(report.budgetBytes)}; ${megabytes(report.unpackedBytes)} unpacked, ${report.files} files, ${report.jsFiles} .js)`;
    console.log(`${basename(file)}  ${target}  ${figures}  providers: cpu${targetSpec(target).providers === 'none' ? ' only' : `, ${targetSpec(target).providers}`}  ${report.problems.length ? 'FAIL' : 'OK'}`);
    for (const problem of report.problems) console.log(`  - ${problem}`);
    ok &&= report.problems.length === 0;
  }
  return ok;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: node --import tsx scripts/packaging/checkVsix.ts easel-<target>.vsix …');
    process.exit(2);
  }
  process.exit(checkVsixFiles(files) ? 0 : 1);
}
