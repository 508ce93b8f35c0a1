import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createNoiseGenerator } from '../src/engine/rng.ts';
import { latentPreview } from '../src/engine/preview.ts';
import { GenerationRuntime } from '../src/service/generationRuntime.ts';
import { GenerationService, type GenerationJob } from '../src/service/generationService.ts';
import type { GenerationRequest, WorkerMessage } from '../src/service/protocol.ts';
import { FIXTURE_VARIANTS, generateFixtureModel } from '../test/fixtures/generate.ts';
import { median, round, type Figures } from './engineBench.ts';

const WORKER = resolve(import.meta.dirname, '..', 'dist', 'worker.js');

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function lagDuring(run: () => Promise<unknown>): Promise<number> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  await run();
  histogram.disable();
  return histogram.percentile(99) / 1e6;
}

/** Runs the engine on this thread, as an extension would without a worker, for contrast. */
function runOnMainThread(request: GenerationRequest): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const runtime = new GenerationRuntime((message: WorkerMessage) => {
      if (message.type === 'done') void runtime.release().then(() => resolveRun());
      if (message.type === 'error') reject(new Error(message.message));
    });
    runtime.handle({ type: 'generate', jobId: 'main', request });
  });
}

function firstStep(job: GenerationJob): Promise<number> {
  const started = performance.now();
  return new Promise((resolveStep) => job.once('step', () => resolveStep(performance.now() - started)));
}

/**
 * Service figures on the "heavy" fixture (one guided 512×512 UNet run ≈ 100 ms here): host event-loop
 * lag during 20 steps (worker vs. main thread), cancel latency, cold and warm start, per-step
 * overhead outside session.run, preview cost, peak RSS.
 */
export async function serviceBench(): Promise<Figures> {
  const root = mkdtempSync(join(tmpdir(), 'easel-bench-service-'));
  const service = new GenerationService({ workerPath: WORKER });
  try {
    const modelDir = await generateFixtureModel(join(root, 'heavy'), FIXTURE_VARIANTS.heavy);
    const request: GenerationRequest = { modelDir, provider: 'cpu', prompt: 'a red circle on a sky', steps: 20, width: 512, height: 512, cfgScale: 7, seed: '1', sampler: 'Euler', previewEvery: 1 };

    const cold = service.generate({ ...request, steps: 2 });
    const coldStartMs = await firstStep(cold);
    await cold.result;
    const warm = service.generate({ ...request, steps: 2 });
    const warmStartMs = await firstStep(warm);
    await warm.result;

    let unetPerStep = 0;
    let hostPerStep = 0;
    let peakRssMb = 0;
    const workerLag = await lagDuring(async () => {
      const job = service.generate(request);
      const stepTimes: number[] = [];
      job.on('step', () => stepTimes.push(performance.now()));
      const result = await job.result;
      unetPerStep = result.images[0].timing.unetMs / result.images[0].timing.steps;
      hostPerStep = (stepTimes.at(-1)! - stepTimes[0]) / (stepTimes.length - 1);
      peakRssMb = result.peakRssMb;
    });
    const mainThreadLag = await lagDuring(() => runOnMainThread(request));

    const cancelLatencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const job = service.generate({ ...request, seed: String(i) });
      await new Promise<void>((resolveCancel) => {
        job.once('step', () => {
          const started = performance.now();
          job.once('cancelled', () => {
            cancelLatencies.push(performance.now() - started);
            resolveCancel();
          });
          job.cancel();
        });
      });
    }

    const latents = createNoiseGenerator(1, 'cpu').randn([1, 4, 64, 64]);
    const previewTimes: number[] = [];
    for (let i = 0; i < 60; i++) {
      const started = performance.now();
      latentPreview(latents, 64, 64);
      if (i >= 10) previewTimes.push(performance.now() - started);
    }
    return {
      eventLoopLagP99Ms: round(workerLag),
      eventLoopLagP99MsMainThread: round(mainThreadLag),
      cancelLatencyMs: round(percentile(cancelLatencies, 50)),
      coldStartMs: round(coldStartMs),
      warmStartMs: round(warmStartMs),
      sessionRunPerStepMs: round(unetPerStep),
      stepOverheadMs: round(hostPerStep - unetPerStep),
      previewCostMs: round(median(previewTimes)),
      servicePeakRssMb: round(peakRssMb, 1),
    };
  } finally {
    await service.dispose();
    rmSync(root, { recursive: true, force: true });
  }
}
