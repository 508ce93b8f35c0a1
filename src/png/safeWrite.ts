import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { EaselError } from '../shared/errors.ts';

/**
 * Writes `data` to `target` atomically and without ever replacing an existing file: the bytes go to
 * a temporary file in the same folder, which is then hard-linked into place (failing if the name is
 * taken, in which case `-2`, `-3`, … is tried) and removed. Returns the path written.
 */
export async function writeNewFile(target: string, data: Uint8Array, maxAttempts = 1000): Promise<string> {
  const folder = dirname(target);
  const extension = extname(target);
  const stem = basename(target, extension);
  await removeStaleTemporaryFiles(folder);
  const temporary = join(folder, temporaryName(stem));
  let handle;
  try {
    handle = await open(temporary, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await unlink(temporary).catch(() => undefined);
    throw writeFailure(folder, target, error);
  }
  try {
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const candidate = attempt === 1 ? target : join(folder, `${stem}-${attempt}${extension}`);
      try {
        await publish(temporary, candidate);
        return candidate;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw writeFailure(folder, candidate, error);
      }
    }
    throw new EaselError('OUTPUT_FAILED', `Could not find a free file name next to ${target}.`);
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

/** One sentence for a failed write; a full disk is said as such. */
function writeFailure(folder: string, target: string, error: unknown): EaselError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new EaselError('OUTPUT_FAILED', `The disk holding ${folder} is full (${code}): ${basename(target)} was not written and nothing partial was left. Free some space and try again.`, { cause: error });
  }
  return new EaselError('OUTPUT_FAILED', `Cannot write into ${folder}: ${(error as Error).message}. Choose a folder you can write to.`, { cause: error });
}

/**
 * Easel's temporary files: `.STEM.PID.HEX.tmp` (hidden, in the target's folder). The process id
 * tells a later run whether the writer is gone (killed mid-write) or still writing.
 */
function temporaryName(stem: string): string {
  return `.${stem}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

const TEMPORARY_NAME = /^\..+\.(\d{1,10})\.[0-9a-f]{12}\.tmp$/;
/** Names of earlier versions (`.STEM.HEX.tmp`, no process id): stale once this old. */
const LEGACY_TEMPORARY_NAME = /^\..+\.[0-9a-f]{12}\.tmp$/;
const STALE_AFTER_MS = 10 * 60 * 1000;
const cleanedFolders = new Set<string>();

function processIsGone(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Removes temporary files that an Easel process killed mid-write left in `folder` (only Easel's own
 * naming pattern, only in this folder, and only when their writer is gone or they are old), once
 * per folder and process. Returns the names removed.
 */
export async function removeStaleTemporaryFiles(folder: string, options: { force?: boolean } = {}): Promise<string[]> {
  if (cleanedFolders.has(folder) && !options.force) return [];
  cleanedFolders.add(folder);
  const removed: string[] = [];
  const names = await readdir(folder).catch(() => [] as string[]);
  for (const name of names) {
    const current = TEMPORARY_NAME.exec(name);
    if (!current && !LEGACY_TEMPORARY_NAME.test(name)) continue;
    const path = join(folder, name);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) continue;
    const old = Date.now() - info.mtimeMs > STALE_AFTER_MS;
    if (old || (current && processIsGone(Number(current[1])))) {
      await unlink(path).then(() => removed.push(name), () => undefined);
    }
  }
  return removed;
}

const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'ENOSYS', 'EXDEV', 'EOPNOTSUPP']);

/**
 * Hard-linking fails when the name exists, so nothing is replaced. Where the file system has no hard
 * links, the name is reserved with an exclusive create and the finished file renamed over it.
 */
async function publish(temporary: string, target: string): Promise<void> {
  try {
    await link(temporary, target);
  } catch (error) {
    if (!NO_HARD_LINKS.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
    const placeholder = await open(target, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
    await placeholder.close();
    await rename(temporary, target);
  }
}
