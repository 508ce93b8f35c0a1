import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { GenerationService, type GenerationJob, type ServiceOptions } from '../../src/service/generationService.ts';

export const WORKER_PATH = resolve(import.meta.dirname, '..', '..', 'dist', 'worker.js');

export function createService(options: Partial<ServiceOptions> = {}): GenerationService {
  if (!existsSync(WORKER_PATH)) throw new Error('dist/worker.js is not built; run npm run build.');
  return new GenerationService({ workerPath: WORKER_PATH, testHooks: true, ...options });
}

/** Records every event of a job, in order, as [name, payload]. */
export function record(job: GenerationJob): Array<[string, unknown]> {
  const events: Array<[string, unknown]> = [];
  for (const name of ['queued', 'started', 'loading', 'loaded', 'step', 'preview', 'image', 'withheld', 'done', 'cancelled', 'error'] as const) {
    job.on(name, (payload?: unknown) => events.push([name, payload]));
  }
  return events;
}

export async function settled(job: GenerationJob): Promise<'done' | 'cancelled' | 'failed'> {
  await job.result.catch(() => undefined);
  return job.state as 'done' | 'cancelled' | 'failed';
}
