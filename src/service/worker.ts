/** Worker-thread entry (dist/worker.js): the engine runs here so the extension host never blocks. */
import { parentPort, workerData } from 'node:worker_threads';
import { configureOnnxRuntimeLogging } from '../engine/providers.ts';
import { GenerationRuntime } from './generationRuntime.ts';
import type { WorkerMessage } from './protocol.ts';

if (!parentPort) throw new Error('dist/worker.js must be started as a worker thread.');
const port = parentPort;
const data = (workerData ?? {}) as { testHooks?: boolean; hashCacheFile?: string; graphCacheDir?: string; verbose?: boolean };
configureOnnxRuntimeLogging(data.verbose === true);
const runtime = new GenerationRuntime(
  (message: WorkerMessage, transfer?: ArrayBuffer[]) => port.postMessage(message, transfer ?? []),
  { testHooks: data.testHooks === true, hashCacheFile: typeof data.hashCacheFile === 'string' ? data.hashCacheFile : undefined,
    graphCacheDir: typeof data.graphCacheDir === 'string' ? data.graphCacheDir : undefined },
);
port.on('message', (message: unknown) => runtime.handle(message));
port.postMessage({ type: 'ready' } satisfies WorkerMessage);
