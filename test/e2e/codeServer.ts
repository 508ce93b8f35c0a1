/**
 * Runs a real VS Code (code-server 4.100.3) with the packaged extension installed, for the
 * end-to-end tests. code-server is installed into .e2e/ on first use (it needs Node 20 and, offline,
 * a cached ripgrep tarball, which is made from Debian's `rg` when present).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
const E2E = join(ROOT, '.e2e');
const CODE_SERVER_VERSION = '4.100.3';
export const CODE_SERVER = join(E2E, 'node_modules', '.bin', 'code-server');
export const CHROMIUM = process.env.EASEL_CHROMIUM ?? '/usr/bin/chromium';

function prepareRipgrepCache(): void {
  const cache = join(process.env.TMPDIR ?? tmpdir(), 'vscode-ripgrep-cache-1.15.11');
  const tarball = join(cache, 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz');
  if (existsSync(tarball) || !existsSync('/usr/bin/rg')) return;
  mkdirSync(cache, { recursive: true });
  const staging = mkdtempSync(join(tmpdir(), 'rg-'));
  execFileSync('cp', ['/usr/bin/rg', join(staging, 'rg')]);
  execFileSync('tar', ['-czf', tarball, '-C', staging, 'rg']);
}

export function ensureCodeServer(): void {
  if (existsSync(CODE_SERVER)) return;
  prepareRipgrepCache();
  mkdirSync(E2E, { recursive: true });
  writeFileSync(join(E2E, 'package.json'), '{ "private": true }\n');
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', `code-server@${CODE_SERVER_VERSION}`], {
    cwd: E2E, stdio: 'inherit', env: { ...process.env, npm_config_unsafe_perm: 'true', npm_config_yes: 'true' },
  });
}

/** Builds the linux-x64 VSIX as a release does (and runs the packaging check on it): that VSIX is what the tests install. */
export function packageExtension(): string {
  try {
    execFileSync(process.execPath, ['--import', 'tsx', 'scripts/package.ts', 'linux-x64'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`Packaging the linux-x64 VSIX failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
  return join(ROOT, 'easel-linux-x64.vsix');
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface RunningCodeServer {
  url: string;
  userDataDir: string;
  stop(): Promise<void>;
}

export async function startCodeServer(options: { workspace: string; settings: Record<string, unknown>; vsix: string }): Promise<RunningCodeServer> {
  const home = mkdtempSync(join(tmpdir(), 'easel-code-server-'));
  const userDataDir = join(home, 'user-data');
  const extensionsDir = join(home, 'extensions');
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  writeFileSync(join(userDataDir, 'User', 'settings.json'), JSON.stringify(options.settings, null, 2));
  const common = ['--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];
  execFileSync(CODE_SERVER, [...common, '--install-extension', options.vsix], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, HOME: home } });
  const port = await freePort();
  const child: ChildProcess = spawn(CODE_SERVER, [
    ...common, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust',
    '--disable-getting-started-override', options.workspace,
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config') } });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`code-server exited: ${output}`);
    const ok = await fetch(url).then((response) => response.status < 500, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`code-server did not start: ${output}`);
    await new Promise((wait) => setTimeout(wait, 250));
  }
  return {
    url,
    userDataDir,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((done) => (child.exitCode !== null ? done(undefined) : child.once('exit', done)));
      rmSync(home, { recursive: true, force: true });
    },
  };
}
