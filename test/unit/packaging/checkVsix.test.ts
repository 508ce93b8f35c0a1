import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkVsixContents, type VsixContents } from '../../../scripts/packaging/checkVsix.ts';
import { targetSpec, TARGETS, type TargetSpec } from '../../../scripts/packaging/targets.ts';

const ENGINES = { vscode: '^1.90.0', node: '>=20' };

/** What a correct VSIX for a target holds (file names as the real packages spell them). */
function goodVsix(spec: TargetSpec): VsixContents {
  const ortNames = { win32: ['onnxruntime_binding.node', 'onnxruntime.dll', 'DirectML.dll', 'dxil.dll'], darwin: ['onnxruntime_binding.node', 'libonnxruntime.1.30.0.dylib'], linux: ['onnxruntime_binding.node', 'libonnxruntime.so.1'] }[spec.os];
  const sharp = {
    'win32-x64': ['@img/sharp-win32-x64/lib/sharp-win32-x64-0.35.5.node', '@img/sharp-win32-x64/lib/libvips-cpp-8.18.7.dll', '@img/sharp-win32-x64/lib/libvips-42.dll'],
    'win32-arm64': ['@img/sharp-win32-arm64/lib/sharp-win32-arm64-0.35.5.node', '@img/sharp-win32-arm64/lib/libvips-cpp-8.18.7.dll'],
    'darwin-arm64': ['@img/sharp-darwin-arm64/lib/sharp-darwin-arm64.node', '@img/sharp-libvips-darwin-arm64/lib/libvips-cpp.8.18.7.dylib'],
    'linux-x64': ['@img/sharp-linux-x64/lib/sharp-linux-x64-0.35.5.node', '@img/sharp-libvips-linux-x64/lib/libvips-cpp.so.8.18.7'],
    'linux-arm64': ['@img/sharp-linux-arm64/lib/sharp-linux-arm64-0.35.5.node', '@img/sharp-libvips-linux-arm64/lib/libvips-cpp.so.8.18.7'],
  }[spec.target]!;
  const paths = [
    'package.json', 'readme.md', 'changelog.md', 'LICENSE.txt', 'media/icon.png', 'dist/extension.js', 'dist/worker.js', 'dist/metadataWorker.js', 'dist/cli.js', 'dist/webview.js', 'dist/codicons/codicon.css',
    ...ortNames.map((name) => `node_modules/onnxruntime-node/bin/napi-v6/${spec.os}/${spec.cpu}/${name}`),
    'node_modules/onnxruntime-node/dist/index.js', 'node_modules/onnxruntime-common/dist/cjs/index.js', 'node_modules/sharp/dist/index.cjs',
    'node_modules/@img/colour/index.cjs', 'node_modules/detect-libc/lib/detect-libc.js', 'node_modules/semver/index.js',
    ...sharp.map((path) => `node_modules/${path}`),
  ];
  return {
    files: paths.map((path) => ({ path, size: 1000 })),
    manifest: {
      main: './dist/extension.js', icon: 'media/icon.png', engines: ENGINES, extensionKind: ['workspace'],
      capabilities: { untrustedWorkspaces: { supported: 'limited' }, virtualWorkspaces: { supported: false } },
    },
    vsixManifest: `<Identity Language="en-US" Id="easel" Version="0.1.0" Publisher="easel" TargetPlatform="${spec.target}"/>`,
    archiveBytes: 20 * 1024 * 1024,
    readme: '# Easel\n![panel](https://github.com/easel-sd/easel/raw/HEAD/docs/images/panel.png)\nSee [Install](#install-the-extension).\n',
  };
}

const problems = (target: string, change: (contents: VsixContents) => void) => {
  const contents = structuredClone(goodVsix(targetSpec(target)));
  change(contents);
  return checkVsixContents(target, contents, ENGINES).problems;
};
const without = (pattern: RegExp) => (contents: VsixContents) => void (contents.files = contents.files.filter((file) => !pattern.test(file.path)));
const adding = (...paths: string[]) => (contents: VsixContents) => void contents.files.push(...paths.map((path) => ({ path, size: 10 })));

test('a correct VSIX passes for each of the five targets', () => {
  assert.deepEqual(TARGETS.map((spec) => spec.target), ['win32-x64', 'win32-arm64', 'darwin-arm64', 'linux-x64', 'linux-arm64']);
  for (const spec of TARGETS) assert.deepEqual(checkVsixContents(spec.target, goodVsix(spec), ENGINES).problems, [], spec.target);
});

test('a missing native binary fails the check', () => {
  assert.match(problems('linux-x64', without(/libonnxruntime\.so\.1$/)).join('\n'), /ONNX Runtime for linux-x64 is missing: no libonnxruntime.so.1/);
  assert.match(problems('win32-x64', without(/DirectML\.dll$/)).join('\n'), /ONNX Runtime for win32-x64 is missing: no DirectML.dll/);
  assert.match(problems('darwin-arm64', without(/onnxruntime_binding\.node$/)).join('\n'), /ONNX Runtime for darwin-arm64 is missing/);
  assert.match(problems('linux-arm64', without(/sharp-linux-arm64-[\d.]+\.node$/)).join('\n'), /sharp\/libvips for linux-arm64 is missing/);
  assert.match(problems('darwin-arm64', without(/libvips-cpp/)).join('\n'), /sharp\/libvips for darwin-arm64 is missing/);
});

test("another platform's binaries fail the check, whatever the napi folder is called", () => {
  assert.match(problems('linux-x64', adding('node_modules/onnxruntime-node/bin/napi-v6/win32/x64/onnxruntime.dll')).join('\n'), /another platform are included: win32\/x64/);
  assert.match(problems('linux-x64', adding('node_modules/onnxruntime-node/bin/napi-v7/linux/arm64/libonnxruntime.so.1')).join('\n'), /another platform are included: linux\/arm64/);
  assert.match(problems('win32-x64', adding('node_modules/@img/sharp-linux-x64/lib/sharp-linux-x64-0.35.5.node')).join('\n'), /sharp binaries of another platform are included: @img\/sharp-linux-x64/);
  assert.match(problems('linux-x64', adding('node_modules/sharp/build/Release/sharp.node')).join('\n'), /native code outside linux-x64's folders/);
});

test('install-time, dev-only and source files fail the check', () => {
  const found = problems('linux-x64', adding(
    'node_modules/adm-zip/adm-zip.js', 'node_modules/global-agent/dist/index.js', 'node_modules/type-fest/index.d.ts',
    'node_modules/esbuild/lib/main.js', 'dist/extension.js.map', 'src/engine/pipeline.ts', 'test/unit/rng.test.ts', 'tsconfig.json', 'node_modules/sharp/src/binding.gyp',
  )).join('\n');
  for (const expected of [/adm-zip \(install-time or dev-only\)/, /global-agent/, /type-fest/, /esbuild/, /dist\/extension\.js\.map/, /src\/engine\/pipeline\.ts/, /test\/unit\/rng\.test\.ts/, /tsconfig\.json/, /binding\.gyp/]) {
    assert.match(found, expected);
  }
  assert.match(problems('linux-x64', without(/semver/)).join('\n'), /runtime package semver is missing/);
});

test('the manifest, the bundle it points at, the target and the budget are checked', () => {
  assert.match(problems('linux-x64', without(/^dist\/worker\.js$/)).join('\n'), /dist\/worker\.js is missing/);
  assert.match(problems('linux-x64', without(/^readme\.md$/)).join('\n'), /README\.md is missing/);
  assert.match(problems('linux-x64', (contents) => void (contents.manifest.main = './out/extension.js')).join('\n'), /"main" is "\.\/out\/extension\.js"/);
  assert.match(problems('linux-x64', (contents) => void (contents.manifest.extensionKind = ['ui', 'workspace'])).join('\n'), /"extensionKind"/);
  assert.match(problems('linux-x64', (contents) => void (contents.manifest.engines = { vscode: '^1.60.0' })).join('\n'), /"engines"/);
  assert.match(problems('linux-x64', (contents) => void (contents.manifest.scripts = { test: 'x' })).join('\n'), /still has "scripts"/);
  assert.match(problems('linux-x64', (contents) => void ((contents.manifest.capabilities as { virtualWorkspaces: { supported: boolean } }).virtualWorkspaces.supported = true)).join('\n'), /virtualWorkspaces/);
  assert.match(problems('linux-x64', (contents) => void (contents.vsixManifest = contents.vsixManifest.replace('linux-x64', 'linux-arm64'))).join('\n'), /does not name the target platform linux-x64/);
  assert.match(problems('linux-x64', (contents) => void (contents.readme += '![shot](docs/images/panel.png)\n')).join('\n'), /README links to docs\/images\/panel\.png, which does not resolve on the Marketplace/);
  assert.match(problems('linux-x64', (contents) => void (contents.readme += '[x](http://example.com/a.png)\n')).join('\n'), /README links to http:\/\/example\.com/);
  assert.match(problems('linux-x64', (contents) => void (contents.archiveBytes = 33 * 1024 * 1024)).join('\n'), /the VSIX is 33\.0 MB, over the 32\.0 MB budget for linux-x64/);
  assert.match(problems('linux-x64', adding(...Array.from({ length: 100 }, (_, index) => `dist/chunk${index}.js`))).join('\n'), /asks to bundle the extension/);
});

test('unsupported targets are refused with the reason', () => {
  assert.throws(() => targetSpec('darwin-x64'), /cannot be packaged for darwin-x64: onnxruntime-node 1\.30 ships no macOS x64 \(Intel\) binary\. Supported targets: win32-x64, win32-arm64, darwin-arm64, linux-x64, linux-arm64\./);
  assert.throws(() => targetSpec('alpine-x64'), /musl/);
  assert.throws(() => targetSpec('linux-armhf'), /32-bit ARM/);
  assert.throws(() => targetSpec('solaris-sparc'), /not a VS Code target Easel knows/);
});
