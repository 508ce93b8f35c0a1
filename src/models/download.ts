import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { dirname, join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { FileHandle } from 'node:fs/promises';
import { EaselError, isEaselError } from '../shared/errors.ts';
import { inspectModelFolder, inspectTinyDecoderFolder } from '../engine/modelFolder.ts';
import { isPathInside } from '../shared/safePaths.ts';
import { httpGetPolitely } from './http.ts';
import { checkRepoName, hubStatusError, isNeededFile, listRepoFiles, repoLicense, resolveUrl, type HubFile, type HubOptions } from './hub.ts';
import { CURATED_MODELS } from './curated.ts';
import { writeModelSettingsFile } from './recommendedSettings.ts';

export const DOWNLOADS_FOLDER = '.downloads';
const PARTIAL = '.partial';
const FREE_SPACE_MARGIN = 64 * 1024 * 1024;
const MAX_ATTEMPTS = 4;

export interface DownloadProgress {
  file: string;
  bytesDone: number;
  bytesTotal: number;
  bytesPerSecond: number;
  etaSeconds: number;
}

export interface DownloadOptions extends HubOptions {
  repo: string;
  revision?: string;
  /** Where models live; the finished folder appears here as owner--name. */
  destinationRoot: string;
  onProgress?: (progress: DownloadProgress) => void;
  /** Shown the licence before any weight is fetched; returning false stops the download. */
  confirmLicense?: (license: string | undefined, files: HubFile[], totalBytes: number) => Promise<boolean>;
  /** A Stable Diffusion model folder (default), or a tiny decoder (TAESD) folder. */
  kind?: DownloadKind;
  /** Free bytes at a path (tests replace it). */
  freeSpace?: (path: string) => Promise<number>;
}

export type DownloadKind = 'model' | 'tinyDecoder';

/** What a finished folder must hold, and the file whose presence says it is already here. */
const KIND_REQUIREMENTS: Record<DownloadKind, { files: string[]; marker: string; what: string; verify: (folder: string) => Promise<unknown> }> = {
  model: { files: ['model_index.json', 'unet/model.onnx', 'text_encoder/model.onnx', 'vae_decoder/model.onnx'], marker: 'model_index.json', what: 'a diffusers ONNX model', verify: inspectModelFolder },
  tinyDecoder: { files: ['vae_decoder/model.onnx'], marker: 'vae_decoder/model.onnx', what: 'a tiny decoder (TAESD) ONNX export', verify: inspectTinyDecoderFolder },
};

export function modelFolderName(repo: string, revision: string): string {
  return `${repo.replace('/', '--')}${revision === 'main' ? '' : `--${revision.replace(/[^A-Za-z0-9._-]/g, '_')}`}`;
}

async function sizeOf(path: string): Promise<number | undefined> {
  return (await stat(path).catch(() => undefined))?.size;
}

async function defaultFreeSpace(path: string): Promise<number> {
  const info = await statfs(path);
  return info.bavail * info.bsize;
}

/**
 * Where a listed file goes in the staging folder. The listing comes from a server, so the final path
 * is checked to stay inside, whatever isNeededFile let through.
 */
export function stagedPath(staging: string, listedPath: string, api: path.PlatformPath = path): string {
  const target = api.resolve(staging, listedPath);
  if (!isPathInside(staging, target, api) || target === api.resolve(staging)) {
    throw new EaselError('MODEL_INVALID', `The Hub listed a file "${listedPath}" that would be written outside the model folder; the download was refused.`);
  }
  return target;
}

function gitBlobHash(size: number): Hash {
  return createHash('sha1').update(`blob ${size}\0`);
}

/**
 * Downloads what the pipeline needs from a Hub repository into `.downloads/<name>`, resuming
 * `.partial` files with HTTP Range, verifying each file (LFS SHA-256, git blob SHA-1), and moves the
 * finished folder into place in one rename, so no half-downloaded folder is ever a model.
 */
export async function downloadModel(options: DownloadOptions): Promise<string> {
  const revision = options.revision ?? 'main';
  checkRepoName(options.repo, revision);
  const kind = KIND_REQUIREMENTS[options.kind ?? 'model'];
  const files = await listRepoFiles(options.repo, revision, options, isNeededFile);
  for (const required of kind.files) {
    if (!files.some((file) => file.path === required)) {
      throw new EaselError('MODEL_INVALID', `${options.repo} is not ${kind.what}: it has no ${required}. Choose a repository with an ONNX export (e.g. one converted with Optimum).`);
    }
  }
  const finalFolder = join(options.destinationRoot, modelFolderName(options.repo, revision));
  if (await stat(join(finalFolder, kind.marker)).catch(() => undefined)) return finalFolder;

  const staging = join(options.destinationRoot, DOWNLOADS_FOLDER, modelFolderName(options.repo, revision));
  await mkdir(staging, { recursive: true });
  const totalBytes = files.reduce((sum, file) => sum + file.size, 0);
  let haveBytes = 0;
  for (const file of files) {
    const target = stagedPath(staging, file.path);
    haveBytes += (await sizeOf(target)) === file.size ? file.size : Math.min(file.size, (await sizeOf(target + PARTIAL)) ?? 0);
  }
  const free = await (options.freeSpace ?? defaultFreeSpace)(staging);
  if (free < totalBytes - haveBytes + FREE_SPACE_MARGIN) {
    const gib = (bytes: number) => (bytes / 1024 ** 3).toFixed(2);
    throw new EaselError('OUTPUT_FAILED', `Not enough disk space for ${options.repo}: ${gib(totalBytes - haveBytes)} GiB more is needed in ${options.destinationRoot}, ${gib(free)} GiB is free.`);
  }
  if (options.confirmLicense) {
    const license = await repoLicense(options.repo, revision, options).catch(() => undefined);
    if (!(await options.confirmLicense(license, files, totalBytes))) throw new EaselError('CANCELLED', 'The download was cancelled before it started.');
  }

  const started = performance.now();
  let fetchedThisRun = 0;
  const report = (file: string) => {
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0 ? fetchedThisRun / seconds : 0;
    const progress = { file, bytesDone: haveBytes, bytesTotal: totalBytes, bytesPerSecond: rate, etaSeconds: rate > 0 ? (totalBytes - haveBytes) / rate : 0 };
    // Reported outside the stream's write path, so a listener that cancels cannot break the stream.
    if (options.onProgress) queueMicrotask(() => options.onProgress!(progress));
  };
  for (const file of files) {
    const target = stagedPath(staging, file.path);
    if ((await sizeOf(target)) === file.size) continue;
    await mkdir(dirname(target), { recursive: true });
    for (let attempt = 1; ; attempt++) {
      try {
        await fetchFile(options, revision, file, target, (bytes) => {
          haveBytes += bytes;
          fetchedThisRun += bytes;
          report(file.path);
        });
        break;
      } catch (error) {
        if (isEaselError(error) || options.signal?.aborted || attempt >= MAX_ATTEMPTS) {
          if (options.signal?.aborted) throw new EaselError('CANCELLED', 'The download was cancelled; run it again to resume where it stopped.');
          throw isEaselError(error) ? error : new EaselError('MODEL_NOT_FOUND', `Downloading ${file.path} failed: ${(error as Error).message}. Run the download again to resume.`, { cause: error });
        }
        // A dropped connection: what reached the .partial file stays counted and is resumed.
        await new Promise((wait) => setTimeout(wait, 200 * attempt));
      }
    }
  }
  await kind.verify(staging);
  const curated = options.kind === 'tinyDecoder' ? undefined : CURATED_MODELS.find((model) => model.repo === options.repo && model.revision === revision);
  if (curated) await writeModelSettingsFile(staging, curated.settings, `the model card of ${curated.repo}`);
  await writeFile(join(staging, '.easel-download.json'), JSON.stringify({ repo: options.repo, revision, files: files.length, bytes: totalBytes, finishedAt: new Date().toISOString() }, null, 2));
  await rename(staging, finalFolder);
  return finalFolder;
}

async function fetchFile(options: DownloadOptions, revision: string, file: HubFile, target: string, onBytes: (bytes: number) => void): Promise<void> {
  const partial = target + PARTIAL;
  let offset = (await sizeOf(partial)) ?? 0;
  if (offset > file.size) {
    await rm(partial, { force: true });
    onBytes(-offset);
    offset = 0;
  }
  let hash = newHash(file);
  if (hash && offset > 0) {
    for await (const chunk of createReadStream(partial, { end: offset - 1 })) hash.update(chunk as Buffer);
  }
  if (offset < file.size) {
    // Opened before the request, so the body's listeners are attached as soon as the answer comes.
    const handle = await open(partial, offset > 0 ? 'a' : 'w');
    try {
      const headers: Record<string, string> = options.token ? { authorization: `Bearer ${options.token}` } : {};
      if (offset > 0) headers.range = `bytes=${offset}-`;
      const response = await httpGetPolitely(resolveUrl(options.repo, revision, file.path, options.endpoint), { headers, signal: options.signal });
      const status = response.statusCode ?? 0;
      if (status === 416) {
        response.resume();
        await handle.truncate(0);
        onBytes(-offset);
        throw new Error('the server refused to resume; starting the file again');
      }
      if (status !== 200 && status !== 206) {
        response.resume();
        throw hubStatusError(status, options.repo, revision);
      }
      if (status === 200 && offset > 0) {
        // The server ignored Range: the whole file comes again.
        await handle.truncate(0);
        onBytes(-offset);
        offset = 0;
        hash = newHash(file);
      }
      const announced = Number(response.headers['content-length'] ?? Number.NaN);
      if (announced > file.size - offset) {
        response.destroy();
        throw tooLarge(file, offset + announced);
      }
      await writeBody(response, handle, offset, file.size - offset, (chunk) => hash?.update(chunk), onBytes, () => tooLarge(file, file.size + 1), options.signal);
    } catch (error) {
      if (isEaselError(error, 'MODEL_INVALID')) {
        // What such a server sent is not trusted, not even its first bytes.
        onBytes(-((await sizeOf(partial)) ?? 0));
        await handle.truncate(0);
      }
      throw error;
    } finally {
      await handle.close();
      // An empty .partial (an error status, a refused connection) holds nothing to resume.
      if ((await sizeOf(partial)) === 0) await rm(partial, { force: true });
    }
  }
  const written = (await sizeOf(partial)) ?? 0;
  if (written !== file.size) throw new Error(`the connection ended after ${written} of ${file.size} bytes`);
  const digest = hash?.digest('hex');
  const expected = file.sha256 ?? file.gitOid;
  if (digest && expected && digest !== expected) {
    await rm(partial, { force: true });
    onBytes(-file.size);
    throw new EaselError('MODEL_INVALID', `${file.path} failed its checksum (expected ${expected.slice(0, 12)}…, got ${digest.slice(0, 12)}…); the corrupt file was removed. Run the download again.`);
  }
  await rename(partial, target);
}

function tooLarge(file: HubFile, bytes: number): EaselError {
  return new EaselError('MODEL_INVALID', `The server sent more than the ${file.size} bytes the Hub lists for ${file.path} (at least ${bytes}); the download was stopped and the file removed. Try again later or choose another repository.`);
}

function newHash(file: HubFile): Hash | undefined {
  return file.sha256 ? createHash('sha256') : file.gitOid ? gitBlobHash(file.size) : undefined;
}

/**
 * Writes a response body in order as its chunks arrive (pausing the socket while the disk catches
 * up). Chunks are taken as they come off the socket, so when the connection drops every byte it
 * delivered is on disk and the next attempt resumes exactly there. A body longer than `limit` is cut
 * off before its excess reaches the disk.
 */
function writeBody(
  response: IncomingMessage, handle: FileHandle, offset: number, limit: number, onData: (chunk: Buffer) => void, onWritten: (bytes: number) => void,
  overflow: () => Error, signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let position = offset;
    let received = 0;
    let queued: Buffer[] = [];
    let queuedBytes = 0;
    let writing: Promise<void> | undefined;
    let ended: Error | null | undefined;
    let settled = false;
    const finish = () => {
      if (settled || writing || queued.length > 0 || ended === undefined) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (ended) reject(ended);
      else resolve();
    };
    // Whatever has queued up is written in one writev while the socket keeps reading.
    const flush = () => {
      if (writing || queued.length === 0) return void finish();
      const batch = queued;
      const bytes = queuedBytes;
      queued = [];
      queuedBytes = 0;
      writing = handle.writev(batch, position).then(() => {
        position += bytes;
        onWritten(bytes);
        writing = undefined;
        if (response.isPaused() && !response.destroyed) response.resume();
        flush();
      }, (error: Error) => {
        writing = undefined;
        queued = [];
        ended = error;
        response.destroy();
        finish();
      });
    };
    const end = (error: Error | null) => {
      if (ended === undefined) ended = error;
      flush();
    };
    const onAbort = () => {
      response.destroy();
      end(new EaselError('CANCELLED', 'The download was cancelled; run it again to resume where it stopped.'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    response.on('data', (chunk: Buffer) => {
      if (ended !== undefined) return;
      received += chunk.length;
      if (received > limit) {
        response.destroy();
        end(overflow());
        return;
      }
      // Hashing here overlaps with the write already in flight on the thread pool.
      onData(chunk);
      queued.push(chunk);
      queuedBytes += chunk.length;
      if (queuedBytes > 8 * 1024 * 1024) response.pause();
      flush();
    });
    response.on('end', () => end(null));
    response.on('error', (error) => end(error));
    response.on('close', () => end(response.complete ? null : new Error('the connection was dropped')));
  });
}
