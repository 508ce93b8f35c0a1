import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { cpus } from 'node:os';
import { basename, dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { MemoryMode } from '../shared/names.ts';
import type { ExecutionProvider } from '../shared/names.ts';

export interface SessionTuning {
  /** `low`: no pre-packed weight copies (`session.disable_prepacking`), weights allocated outside the arena. */
  memory?: MemoryMode;
  /** Flush denormal floats to zero (`session.set_denormal_as_zero`); off by default: no gain measured (bench/speedBench.ts). */
  denormalsAsZero?: boolean;
  /** Where optimized graphs are cached; no cache when absent. */
  cacheDir?: string;
  /**
   * A session that runs once per image (the VAE decoder): no memory pattern. The pattern is recorded on
   * the first run and allocated on the second as one block beside the arena chunks the first run left,
   * so the second image's decode added 0.9 GB of peak RSS (SD 1.5 at 512²); a run a few seconds long
   * gains nothing from it.
   */
  oncePerImage?: boolean;
}

/** The session options a tuning sets besides its config entries (see `tuningConfig`). */
export function tuningOptions(tuning: SessionTuning): ort.InferenceSession.SessionOptions {
  return tuning.oncePerImage ? { enableMemPattern: false } : {};
}

/** ONNX Runtime's session config entries for a tuning, as the `extra` option spells them (`session.x`). */
export function tuningConfig(tuning: SessionTuning): Record<string, string> {
  const config: Record<string, string> = {};
  if (tuning.denormalsAsZero) config.set_denormal_as_zero = '1';
  if (tuning.memory === 'low') {
    config.disable_prepacking = '1';
    config.use_device_allocator_for_initializers = '1';
  }
  return config;
}

const INITIALIZERS_FILE = 'weights.bin';

/**
 * The cache entry for one model file on one provider: it changes when the model's folder changes
 * (names, sizes, modification times), when the provider or ONNX Runtime's version changes, and with
 * the CPU model — a graph optimized at level "all" carries hardware-specific layouts (NCHWc).
 */
export async function optimizedGraphKey(modelPath: string, provider: ExecutionProvider, weightsDir?: string): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`${modelPath}\0${provider}\0${ort.env.versions.common}\0${process.arch}\0${cpus()[0]?.model ?? ''}\0`);
  // The graph's folder, and the folder its external weights come from when that is another (an imported checkpoint's).
  for (const folder of weightsDir ? [dirname(modelPath), weightsDir] : [dirname(modelPath)]) {
    hash.update(`${folder}\0`);
    for (const name of (await readdir(folder)).sort()) {
      const info = await stat(join(folder, name)).catch(() => undefined);
      if (info?.isFile()) hash.update(`${name}\0${info.size}\0${info.mtimeMs}\0`);
    }
  }
  return hash.digest('hex').slice(0, 24);
}

export interface CachedGraph {
  /** What to load: the cached optimized graph when it exists, else the model itself. */
  path: string;
  options: ort.InferenceSession.SessionOptions;
  /** After a successful creation from the original: moves the freshly written graph into place. */
  commit(): Promise<void>;
  /** Removes what this attempt wrote, or a cache entry that failed to load. */
  discard(): Promise<void>;
}

/**
 * A hit loads the optimized graph with optimization off (it is already done); a miss optimizes the
 * original and lets ONNX Runtime write the result, initializers in a side file, into a private folder
 * that becomes the entry in one rename, so a half-written entry is never used.
 */
export async function optimizedGraph(modelPath: string, provider: ExecutionProvider, cacheDir: string, weightsDir?: string): Promise<CachedGraph> {
  const key = await optimizedGraphKey(modelPath, provider, weightsDir);
  const entry = join(cacheDir, `${basename(dirname(modelPath))}-${provider}-${key}`);
  const cached = join(entry, 'model.onnx');
  if (await stat(cached).then((info) => info.isFile(), () => false)) {
    return { path: cached, options: { graphOptimizationLevel: 'disabled' }, commit: async () => undefined, discard: () => rm(entry, { recursive: true, force: true }) };
  }
  const staging = `${entry}.partial-${process.pid}-${Date.now()}`;
  await mkdir(staging, { recursive: true });
  return {
    path: modelPath,
    options: {
      graphOptimizationLevel: 'all',
      optimizedModelFilePath: join(staging, 'model.onnx'),
      extra: { session: { optimized_model_external_initializers_file_name: INITIALIZERS_FILE, optimized_model_external_initializers_min_size_in_bytes: '1024' } },
    },
    async commit() {
      await rename(staging, entry).catch(async () => {
        // Another process committed the same entry first: theirs is as good as ours.
        await rm(staging, { recursive: true, force: true });
      });
    },
    discard: () => rm(staging, { recursive: true, force: true }),
  };
}
