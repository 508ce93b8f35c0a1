/**
 * Worker-thread entry (dist/metadataWorker.js): reads one PNG's metadata, so a hostile file is parsed on this
 * thread and never on the extension host's (readImageMetadataInWorker starts it, waits a bounded time, stops it).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isEaselError } from '../shared/errors.ts';
import { readImageMetadataFile } from './readMetadata.ts';
import type { MetadataReply } from './metadataInWorker.ts';

if (!parentPort) throw new Error('dist/metadataWorker.js must be started as a worker thread.');
const port = parentPort;
const path = (workerData as { path?: unknown } | undefined)?.path;
const reply = (message: MetadataReply) => port.postMessage(message);
if (typeof path !== 'string') {
  reply({ type: 'error', code: 'PROTOCOL_ERROR', message: 'The metadata reader was started without a file path.' });
} else {
  readImageMetadataFile(path).then(
    (metadata) => reply({ type: 'metadata', metadata }),
    (error: unknown) => reply(isEaselError(error)
      ? { type: 'error', code: error.code, message: error.message }
      : { type: 'error', code: 'PNG_INVALID', message: `Cannot read ${path}: ${(error as Error)?.message ?? String(error)}.` }),
  );
}
