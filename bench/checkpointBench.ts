/**
 * Checkpoint import figures on a full-size SD 1.5 built from a synthetic checkpoint (random weights,
 * real keys and shapes, no download): import time, UNet pass at 512² for batch 1 and 2 with the fused
 * graph and with plain ONNX operators (what a diffusers/Optimum export has), the fraction of this
 * machine's fp32 MatMul peak measured in the same run, and peak RSS of an import and of a generation
 * (each in its own process) against the checkpoint's size. Needs ~8 GB of RAM: run under the heavy lock.
 *
 *   flock /work/.heavy.lock npm run bench -- --only checkpoint
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { SD15_CONFIG, type UNetConfig } from '../src/engine/checkpoint/ldmConfig.ts';
import { writeSyntheticCheckpoint } from '../src/engine/checkpoint/syntheticCheckpoint.ts';
import { inspectModelFolder } from '../src/engine/modelFolder.ts';
import { loadModel } from '../src/engine/modelSessions.ts';
import { generate } from '../src/engine/pipeline.ts';
import { validateParams } from '../src/engine/generationParams.ts';
import { createSessionWithProvider } from '../src/engine/providers.ts';
import { GraphBuilder } from '../src/engine/onnx/onnxWriter.ts';
import { importCheckpoint } from '../src/models/checkpointImport.ts';
import { median, round, type Figures } from './engineBench.ts';
import { BENCH_TOKENIZER } from './syntheticModel.ts';

const SELF = fileURLToPath(import.meta.url);

/** Multiply-adds ×2 of one UNet pass (convolutions, linear layers, attention products) at a latent size. */
export function unetFlops(config: UNetConfig, latentHeight: number, latentWidth: number, batch: number, contextLength = 77): number {
  let flops = 0;
  const conv = (cin: number, cout: number, k: number, pixels: number) => { flops += 2 * cin * cout * k * k * pixels; };
  const linear = (inF: number, outF: number, tokens: number) => { flops += 2 * inF * outF * tokens; };
  const ch0 = config.modelChannels;
  const time = ch0 * 4;
  linear(ch0, time, 1);
  linear(time, time, 1);
  const res = (cin: number, cout: number, pixels: number) => {
    conv(cin, cout, 3, pixels);
    conv(cout, cout, 3, pixels);
    linear(time, cout, 1);
    if (cin !== cout) conv(cin, cout, 1, pixels);
  };
  const transformer = (ch: number, pixels: number) => {
    conv(ch, ch, 1, pixels);
    conv(ch, ch, 1, pixels);
    linear(ch, ch, pixels * 3); // self-attention q, k, v
    linear(ch, ch, pixels); // out
    flops += 2 * 2 * pixels * pixels * ch; // QKᵀ and ·V
    linear(ch, ch, pixels); // cross q
    linear(config.contextDim, ch, contextLength * 2); // cross k, v
    linear(ch, ch, pixels);
    flops += 2 * 2 * pixels * contextLength * ch;
    linear(ch, ch * 8, pixels); // GEGLU
    linear(ch * 4, ch, pixels);
  };
  let pixels = latentHeight * latentWidth;
  conv(config.inChannels, ch0, 3, pixels);
  const skips: number[] = [ch0];
  let ch = ch0;
  let ds = 1;
  const levels = config.channelMult.length;
  for (let level = 0; level < levels; level++) {
    for (let r = 0; r < config.numResBlocks; r++) {
      res(ch, ch0 * config.channelMult[level], pixels);
      ch = ch0 * config.channelMult[level];
      if (config.attentionResolutions.includes(ds)) transformer(ch, pixels);
      skips.push(ch);
    }
    if (level !== levels - 1) {
      conv(ch, ch, 3, pixels / 4);
      pixels /= 4;
      ds *= 2;
      skips.push(ch);
    }
  }
  res(ch, ch, pixels);
  transformer(ch, pixels);
  res(ch, ch, pixels);
  for (let level = levels - 1; level >= 0; level--) {
    for (let r = 0; r <= config.numResBlocks; r++) {
      const skip = skips.pop()!;
      res(ch + skip, ch0 * config.channelMult[level], pixels);
      ch = ch0 * config.channelMult[level];
      if (config.attentionResolutions.includes(ds)) transformer(ch, pixels);
      if (level !== 0 && r === config.numResBlocks) {
        pixels *= 4;
        conv(ch, ch, 3, pixels);
        ds /= 2;
      }
    }
  }
  conv(ch, config.outChannels, 3, pixels);
  return flops * batch;
}

/**
 * This machine's fp32 MatMul rate through ONNX Runtime (GFLOP/s): the best of several runs on shapes
 * like the UNet's largest products (a constant, prepacked weight, as in the UNet).
 */
export async function matmulPeakGflops(): Promise<number> {
  let best = 0;
  for (const [m, k, n] of [[4096, 320, 1280], [1024, 1280, 5120], [2048, 2048, 2048]]) {
    const g = new GraphBuilder('matmul');
    const a = g.input('a', 'float32', [m, k]);
    const weights = new Float32Array(k * n).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    g.op('MatMul', [a, g.constant('float32', [k, n], weights)], {}, 'y');
    g.output('y', 'float32', [m, n]);
    const session = await ort.InferenceSession.create(g.encode().model, { graphOptimizationLevel: 'all' });
    const feeds = { a: new ort.Tensor('float32', new Float32Array(m * k).map((_, i) => ((i * 104729) % 997) / 997 - 0.5), [m, k]) };
    for (let i = 0; i < 3; i++) await session.run(feeds);
    for (let i = 0; i < 15; i++) {
      const started = performance.now();
      await session.run(feeds);
      best = Math.max(best, (2 * m * k * n) / ((performance.now() - started) / 1000) / 1e9);
    }
    await session.release();
  }
  return best;
}

/**
 * Median UNet pass (512², batch 1 and 2) of each graph, the graphs' runs interleaved so that other load
 * on the machine falls on all of them alike.
 */
async function unetPassesMs(folders: string[], runs: number): Promise<Record<string, number>> {
  const sessions: ort.InferenceSession[] = [];
  for (const folder of folders) {
    const model = await inspectModelFolder(folder);
    sessions.push((await createSessionWithProvider(model.components.unet!, 'cpu', {}, model.imported?.weightsDirs.unet)).session);
  }
  const out: Record<string, number> = {};
  for (const batch of [1, 2]) {
    const feeds = {
      sample: new ort.Tensor('float32', new Float32Array(batch * 4 * 64 * 64).fill(0.1), [batch, 4, 64, 64]),
      timestep: new ort.Tensor('float32', new Float32Array(batch).fill(500), [batch]),
      encoder_hidden_states: new ort.Tensor('float32', new Float32Array(batch * 77 * 768).fill(0.1), [batch, 77, 768]),
    };
    for (const session of sessions) await session.run(feeds);
    const times = sessions.map(() => [] as number[]);
    for (let i = 0; i < runs; i++) {
      for (const [index, session] of sessions.entries()) {
        const started = performance.now();
        await session.run(feeds);
        times[index].push(performance.now() - started);
      }
    }
    folders.forEach((_, index) => { out[`${index}:${batch}`] = median(times[index]); });
  }
  for (const session of sessions) await session.release();
  return out;
}

/** Runs one measurement in a child process so its peak RSS is its own. */
function child(mode: string, ...args: string[]): Record<string, number> {
  const result = spawnSync(process.execPath, ['--import', 'tsx', SELF, '--child', mode, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (result.status !== 0) throw new Error(`${mode} child failed: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as Record<string, number>;
}

async function runChild(mode: string, args: string[]): Promise<void> {
  const out: Record<string, number> = {};
  if (mode === 'import') {
    const [checkpoint, root, name, attention] = args;
    const started = performance.now();
    const result = await importCheckpoint(checkpoint, { destinationRoot: root, name, tokenizerDir: BENCH_TOKENIZER, attention: attention as 'fused' | 'plain' });
    out.importMs = performance.now() - started;
    out.buildMs = result.buildMs;
    out.graphBytes = result.graphBytes;
  } else if (mode === 'unet') {
    const [runs, ...folders] = args;
    Object.assign(out, await unetPassesMs(folders, Number(runs)));
  } else if (mode === 'generate') {
    const [folder] = args;
    const started = performance.now();
    const model = await loadModel(await inspectModelFolder(folder), 'cpu');
    out.loadMs = performance.now() - started;
    const [image] = await generate(model, validateParams({ prompt: 'a lighthouse at dusk', width: 512, height: 512, steps: 2, cfgScale: 7, seed: 1, sampler: 'Euler' }, model));
    out.generateMs = image.timing.totalMs;
    out.decodeMs = image.timing.decodeMs;
    await model.release();
  }
  out.peakRssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

export async function checkpointBench(): Promise<Figures> {
  const root = mkdtempSync(join(tmpdir(), 'easel-ckpt-bench-'));
  const figures: Figures = {};
  try {
    const checkpoint = join(root, 'sd15-synthetic-fp16.safetensors');
    const written = performance.now();
    const { bytes, parameters } = await writeSyntheticCheckpoint(checkpoint, { variant: 'sd15', dtype: 'F16' });
    figures.syntheticCheckpointWriteMs = Math.round(performance.now() - written);
    figures.checkpointMb = Math.round(bytes / 2 ** 20);
    figures.checkpointParameters = parameters;
    const models = join(root, 'models');
    const fused = child('import', checkpoint, models, 'fused', 'fused');
    figures.importMs = Math.round(fused.importMs);
    figures.importGraphBuildMs = Math.round(fused.buildMs);
    figures.importGraphsMb = round(fused.graphBytes / 2 ** 20, 1);
    figures.importPeakRssMb = Math.round(fused.peakRssMb);
    child('import', checkpoint, models, 'plain', 'plain');
    let peak = await matmulPeakGflops();
    const flops1 = unetFlops(SD15_CONFIG.unet, 64, 64, 1);
    figures.unetGflopPerPassBatch1 = round(flops1 / 1e9, 1);
    const graphs = ['fused', 'plain'];
    const measured = child('unet', '3', ...graphs.map((attention) => join(models, attention)));
    const passes = Object.fromEntries(Object.entries(measured).filter(([key]) => key.includes(':')).map(([key, ms]) => {
      const [index, batch] = key.split(':');
      return [`${graphs[Number(index)]}:${batch}`, ms];
    }));
    figures.unetBenchPeakRssMb = Math.round(measured.peakRssMb);
    // Peak measured before and after the UNet passes, the higher kept: other load on the machine only lowers it.
    peak = Math.max(peak, await matmulPeakGflops());
    figures.matmulPeakGflops = round(peak, 1);
    for (const [key, unetMs] of Object.entries(passes)) {
      const [attention, batch] = key.split(':');
      figures[`unetPass512Batch${batch}Ms_${attention}`] = Math.round(unetMs);
      figures[`unetGflopsBatch${batch}_${attention}`] = round((flops1 * Number(batch)) / (unetMs / 1000) / 1e9, 1);
      figures[`unetFractionOfMatmulPeakBatch${batch}_${attention}`] = round((flops1 * Number(batch)) / (unetMs / 1000) / 1e9 / peak, 3);
    }
    const run = child('generate', join(models, 'fused'));
    figures.generate512TwoStepsMs = Math.round(run.generateMs);
    figures.generateLoadMs = Math.round(run.loadMs);
    figures.generatePeakRssMb = Math.round(run.peakRssMb);
    figures.generatePeakRssPerCheckpointSize = round(run.peakRssMb / figures.checkpointMb, 2);
    figures.importPeakRssPerCheckpointSize = round(fused.peakRssMb / figures.checkpointMb, 3);
    return figures;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv.includes('--child')) {
  const index = process.argv.indexOf('--child');
  runChild(process.argv[index + 1], process.argv.slice(index + 2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  });
}
