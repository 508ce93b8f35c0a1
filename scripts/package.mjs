// Builds a platform-specific VSIX: `node scripts/package.mjs [target]` (default: this machine's,
// e.g. linux-x64). Only the target's onnxruntime and sharp binaries go in.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const target = process.argv[2] ?? `${process.platform}-${process.arch}`;
const [platform, arch] = target.split('-');
const ortPlatforms = ['darwin', 'linux', 'win32'];
const ortArchs = ['x64', 'arm64'];
const ignore = readFileSync('.vscodeignore', 'utf8').split('\n').filter((line) => line.trim() && !line.startsWith('#'));
for (const os of ortPlatforms) for (const cpu of ortArchs) if (os !== platform || cpu !== arch) ignore.push(`node_modules/onnxruntime-node/bin/napi-v6/${os}/${cpu}/**`);
ignore.push('node_modules/@img/sharp-*/**', `!node_modules/@img/sharp-${platform}-${arch}/**`, `!node_modules/@img/sharp-libvips-${platform}-${arch}/**`);
const ignoreFile = join(mkdtempSync(join(tmpdir(), 'easel-package-')), '.vscodeignore');
writeFileSync(ignoreFile, `${ignore.join('\n')}\n`);
execFileSync('node', ['esbuild.mjs', '--production'], { stdio: 'inherit' });
execFileSync('npx', ['vsce', 'package', '--target', target, '--ignoreFile', ignoreFile, '--out', `easel-${target}.vsix`], { stdio: 'inherit' });
