import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { readImportRecord } from './checkpoint/importRecord.ts';

/** The UNet's weights: the external data file when there is one, else the .onnx itself. */
export async function unetWeightsPath(unetModelPath: string): Promise<string> {
  for (const name of ['model.onnx_data', 'weights.pb']) {
    const candidate = join(dirname(unetModelPath), name);
    if ((await stat(candidate).catch(() => undefined))?.isFile()) return candidate;
  }
  return unetModelPath;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

type HashCache = Record<string, { size: number; mtimeMs: number; sha256: string }>;

/**
 * A1111-style short model hash: the first 10 hex digits of the SHA-256 of the UNet weights. Cached
 * by path, size and modification time, so the weights are read once.
 */
export async function modelHash(unetModelPath: string, cacheFile?: string): Promise<string> {
  // An imported checkpoint's hash is A1111's: of the whole .safetensors file, computed at import.
  const imported = await readImportRecord(dirname(dirname(unetModelPath)));
  if (imported) return imported.sha256.slice(0, 10);
  const weights = await unetWeightsPath(unetModelPath);
  const info = await stat(weights);
  let cache: HashCache = {};
  if (cacheFile) {
    try {
      const parsed: unknown = JSON.parse(await readFile(cacheFile, 'utf8'));
      if (typeof parsed === 'object' && parsed !== null) cache = parsed as HashCache;
    } catch {
      cache = {};
    }
    const hit = cache[weights];
    if (hit && hit.size === info.size && hit.mtimeMs === info.mtimeMs && /^[0-9a-f]{64}$/.test(hit.sha256)) return hit.sha256.slice(0, 10);
  }
  const sha256 = await sha256File(weights);
  if (cacheFile) {
    cache[weights] = { size: info.size, mtimeMs: info.mtimeMs, sha256 };
    await mkdir(dirname(cacheFile), { recursive: true });
    // Unique per write: the host and the worker threads share one process id and may write at once.
    const temporary = `${cacheFile}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(temporary, JSON.stringify(cache), { flag: 'wx' });
      await rename(temporary, cacheFile);
    } finally {
      await unlink(temporary).catch(() => undefined);
    }
  }
  return sha256.slice(0, 10);
}
