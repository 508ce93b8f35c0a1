/**
 * A full-size Stable Diffusion model folder with random weights, for benchmarks (no download):
 * writes a synthetic .safetensors checkpoint with the real LDM keys and shapes, then imports it.
 *
 *   tsx bench/syntheticModel.ts OUT_DIR [--variant sd15|sd21|sd-turbo] [--dtype F16|F32] [--attention fused|plain]
 *
 * prints the model folder. Run it under `flock /work/.heavy.lock` (SD 1.5 fp16 is a 2 GB file).
 */
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeSyntheticCheckpoint, type SyntheticVariant } from '../src/engine/checkpoint/syntheticCheckpoint.ts';
import { importCheckpoint, type ImportResult } from '../src/models/checkpointImport.ts';

/** Any CLIP-BPE tokenizer serves a random-weight model; the reference data's small one is in the repository. */
export const BENCH_TOKENIZER = fileURLToPath(new URL('../test/reference/single_file/diffusers-safetensors/tokenizer', import.meta.url));

export interface SyntheticModel extends ImportResult {
  checkpoint: string;
  checkpointBytes: number;
  writeMs: number;
}

/**
 * Writes (or reuses) `OUT_DIR/<variant>-<dtype>.safetensors` and imports it into `OUT_DIR/models/`.
 * The import points at the checkpoint in place, so both must stay.
 */
export async function createSyntheticModel(
  outDir: string,
  options: { variant?: SyntheticVariant; dtype?: 'F16' | 'F32'; attention?: 'fused' | 'plain' } = {},
): Promise<SyntheticModel> {
  const variant = options.variant ?? 'sd15';
  const dtype = options.dtype ?? 'F16';
  await mkdir(outDir, { recursive: true });
  const checkpoint = join(resolve(outDir), `${variant}-${dtype.toLowerCase()}.safetensors`);
  const started = performance.now();
  if (!(await stat(checkpoint).catch(() => undefined))) {
    const partial = `${checkpoint}.partial`;
    await writeSyntheticCheckpoint(partial, { variant, dtype });
    await (await import('node:fs/promises')).rename(partial, checkpoint);
  }
  const writeMs = performance.now() - started;
  const attention = options.attention ?? 'fused';
  const imported = await importCheckpoint(checkpoint, {
    destinationRoot: join(resolve(outDir), 'models'), name: `${variant}-${dtype.toLowerCase()}-${attention}`, tokenizerDir: BENCH_TOKENIZER, attention,
  });
  return { ...imported, checkpoint, checkpointBytes: (await stat(checkpoint)).size, writeMs };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { variant: { type: 'string' }, dtype: { type: 'string' }, attention: { type: 'string' } },
  });
  if (positionals.length !== 1) {
    process.stderr.write('usage: tsx bench/syntheticModel.ts OUT_DIR [--variant sd15|sd21|sd-turbo] [--dtype F16|F32] [--attention fused|plain]\n');
    process.exit(2);
  }
  createSyntheticModel(positionals[0], {
    variant: values.variant as SyntheticVariant | undefined, dtype: values.dtype as 'F16' | 'F32' | undefined, attention: values.attention as 'fused' | 'plain' | undefined,
  }).then((model) => process.stdout.write(`${model.folder}\n`), (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
