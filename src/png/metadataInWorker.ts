import { Worker } from 'node:worker_threads';
import { EaselError, ERROR_CODES, type EaselErrorCode } from '../shared/errors.ts';
import { isRecord, listOf, literal, oneOf, parseMessage, shaped, text, type Check } from '../shared/schema.ts';
import { METADATA_SOURCES } from './imageParameters.ts';
import type { ImageMetadata } from './readMetadata.ts';
import { DEFAULT_TEXT_LIMITS } from './textChunks.ts';

/** How long a metadata read may take before it is stopped: every file within the chunk limits reads in well under 100 ms. */
export const METADATA_READ_TIMEOUT_MS = 5000;

const anyText = text(DEFAULT_TEXT_LIMITS.maxInflatedBytes);
const record: Check<Record<string, unknown>> = isRecord;
const textEntry = shaped({ keyword: text(80), text: anyText, chunkType: oneOf(['tEXt', 'zTXt', 'iTXt']) });
const REPLY_SHAPES = {
  metadata: {
    type: literal('metadata'),
    metadata: shaped({ source: oneOf(METADATA_SOURCES), parameters: record, unmapped: listOf(anyText, 100_000), problems: listOf(anyText, 100_000), chunks: listOf(textEntry, 100_000) }),
  },
  error: { type: literal('error'), code: oneOf(ERROR_CODES), message: anyText },
};
/** What dist/metadataWorker.js answers, once. */
export type MetadataReply = { type: 'metadata'; metadata: ImageMetadata } | { type: 'error'; code: EaselErrorCode; message: string };

/**
 * readImageMetadataFile, run in a worker thread of its own (`workerPath`: dist/metadataWorker.js) so that the
 * extension host's thread never parses a file's metadata; a read that takes longer than `timeoutMs` is stopped
 * and ends in a clear error instead of blocking.
 */
export function readImageMetadataInWorker(path: string, workerPath: string, timeoutMs = METADATA_READ_TIMEOUT_MS): Promise<ImageMetadata> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerPath, { workerData: { path }, argv: [], execArgv: [], resourceLimits: { maxOldGenerationSizeMb: 512 } });
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      outcome();
    };
    const timer = setTimeout(() => finish(() => reject(new EaselError('PNG_INVALID', `${path}: reading its metadata took too long (over ${timeoutMs / 1000} s); it was stopped and nothing was read.`))), timeoutMs);
    worker.once('message', (raw: unknown) => finish(() => {
      let reply;
      try {
        reply = parseMessage(raw, REPLY_SHAPES, 'metadata reader');
      } catch (error) {
        reject(new EaselError('PROTOCOL_ERROR', `${path}: ${(error as Error).message}`));
        return;
      }
      if (reply.type === 'metadata') resolve(reply.metadata as ImageMetadata);
      else reject(new EaselError(reply.code, reply.message));
    }));
    worker.once('error', (error) => finish(() => reject(new EaselError('WORKER_CRASHED', `${path}: the metadata reader failed (${error.message}); nothing was read.`))));
    worker.once('exit', (code) => finish(() => reject(new EaselError('WORKER_CRASHED', `${path}: the metadata reader stopped (exit code ${code}) before answering; nothing was read.`))));
  });
}
