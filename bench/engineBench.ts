import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { inspectModelFolder } from '../src/engine/modelFolder.ts';
import { loadModel } from '../src/engine/modelSessions.ts';
import { generate } from '../src/engine/pipeline.ts';
import { validateParams } from '../src/engine/generationParams.ts';
import { SAMPLER_NAMES } from '../src/shared/names.ts';
import { createNoiseGenerator } from '../src/engine/rng.ts';
import { FIXTURE_VARIANTS, generateFixtureModel } from '../test/fixtures/generate.ts';

export type Figures = Record<string, number | string>;

/** Engine figures at 512×512 with guidance on the demo fixture: own time per step, session.run time, peak RSS. */
export async function engineBench(): Promise<Figures> {
  const root = mkdtempSync(join(tmpdir(), 'easel-bench-'));
  try {
    const folder = await generateFixtureModel(join(root, 'demo'), FIXTURE_VARIANTS.demo);
    const model = await loadModel(await inspectModelFolder(folder), 'cpu');
    const figures: Figures = {};
    const base = { prompt: 'a yellow sun over the ocean', width: 512, height: 512, cfgScale: 7, steps: 20, seed: 1n };
    for (const sampler of SAMPLER_NAMES) {
      const steps = sampler === 'LCM' ? 8 : 20;
      const params = validateParams({ ...base, sampler, steps }, model);
      // Warm-up runs let V8 optimise the sampling loop before anything is timed.
      for (let run = 0; run < 3; run++) await generate(model, params);
      const overheads: number[] = [];
      const inside: number[] = [];
      for (let run = 0; run < 5; run++) {
        const [image] = await generate(model, params);
        overheads.push(image.timing.overheadPerStepMs);
        inside.push(image.timing.unetMs / image.timing.steps);
      }
      const key = sampler.replace(/[^A-Za-z0-9]+/g, '');
      figures[`engineOverheadPerStepMs_${key}`] = round(median(overheads));
      figures[`sessionRunPerStepMs_${key}`] = round(median(inside));
    }
    const generator = createNoiseGenerator(1, 'cpu');
    const started = performance.now();
    for (let i = 0; i < 50; i++) generator.randn([1, 4, 64, 64]);
    figures.noiseDrawCpu1x4x64x64Ms = round((performance.now() - started) / 50);
    await model.release();
    figures.peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    return figures;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function round(value: number, digits = 3): number {
  return Number(value.toFixed(digits));
}
