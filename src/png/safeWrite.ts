import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { EaselError } from '../engine/errors.ts';

/**
 * Writes `data` to `target` atomically and without ever replacing an existing file: the bytes go to
 * a temporary file in the same folder, which is then hard-linked into place (failing if the name is
 * taken, in which case `-2`, `-3`, … is tried) and removed. Returns the path written.
 */
export async function writeNewFile(target: string, data: Uint8Array, maxAttempts = 1000): Promise<string> {
  const folder = dirname(target);
  const extension = extname(target);
  const stem = basename(target, extension);
  const temporary = join(folder, `.${stem}.${randomBytes(6).toString('hex')}.tmp`);
  let handle;
  try {
    handle = await open(temporary, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await unlink(temporary).catch(() => undefined);
    throw new EaselError('OUTPUT_FAILED', `Cannot write into ${folder}: ${(error as Error).message}. Choose a folder you can write to.`, { cause: error });
  }
  await handle.close();
  try {
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const candidate = attempt === 1 ? target : join(folder, `${stem}-${attempt}${extension}`);
      try {
        await publish(temporary, candidate);
        return candidate;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new EaselError('OUTPUT_FAILED', `Cannot create ${candidate}: ${(error as Error).message}.`, { cause: error });
        }
      }
    }
    throw new EaselError('OUTPUT_FAILED', `Could not find a free file name next to ${target}.`);
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
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
