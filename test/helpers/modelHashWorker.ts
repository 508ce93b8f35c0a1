/** Worker-thread side of the hash-cache race test: hashes its UNets into the shared cache file. */
import { parentPort, workerData } from 'node:worker_threads';
import { modelHash } from '../../src/engine/modelHash.ts';

const { unets, cache } = workerData as { unets: string[]; cache: string };
void Promise.allSettled(unets.map((unet) => modelHash(unet, cache))).then((results) =>
  parentPort!.postMessage(results.map((result) => (result.status === 'fulfilled' ? result.value : `error: ${(result.reason as Error).message}`))));
