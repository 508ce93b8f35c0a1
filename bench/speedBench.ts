/**
 * Issue 14's figures on full-size graphs with random weights that the project builds itself (a synthetic
 * SD 1.5 and an SD-Turbo-size checkpoint, imported by Easel's checkpoint importer; a TAESD-size tiny
 * decoder built here): UNet pass at batch 1 and 2 against this machine's MatMul peak measured in the
 * same run, pre-packing on/off, the VAE with denormals flushed or not, SD-Turbo-size 1-step image with the
 * tiny decoder, full VAE vs tiny decoder, peak RSS of a 20-step CFG generation (balanced and low memory),
 * and cold start without a cache vs warm start from the optimized-graph cache. Each measurement runs in
 * its own process so peak RSS and cold starts are not polluted. Needs ~12 GB of RAM and ~10 min:
 *
 *   flock /work/.heavy.lock npm run bench -- --only speed
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { SD15_CONFIG } from '../src/engine/checkpoint/ldmConfig.ts';
import type { MemoryMode } from '../src/shared/names.ts';
import { inspectModelFolder } from '../src/engine/modelFolder.ts';
import { loadModel } from '../src/engine/modelSessions.ts';
import { GraphBuilder } from '../src/engine/onnx/onnxWriter.ts';
import { decodeWithTinyDecoder, generate } from '../src/engine/pipeline.ts';
import { validateParams } from '../src/engine/generationParams.ts';
import { createSessionWithProvider } from '../src/engine/providers.ts';
import { createNoiseGenerator } from '../src/engine/rng.ts';
import { loadTinyDecoder } from '../src/engine/tinyDecoder.ts';
import { matmulPeakGflops, unetFlops } from './checkpointBench.ts';
import { median, round, type Figures } from './engineBench.ts';
import { createSyntheticModel } from './syntheticModel.ts';

const SELF = fileURLToPath(import.meta.url);

/** TAESD's decoder (madebyollin/taesd, diffusers' DecoderTiny: 64 channels, blocks 3-3-3-1) with random weights. */
export function writeTinyDecoder(folder: string, channels = 64): string {
  const graph = new GraphBuilder('taesd_decoder');
  let seed = 7;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return (seed / 2147483648) * 2 - 1;
  };
  const conv = (x: string, cin: number, cout: number, bias = true) => {
    const scale = Math.sqrt(3 / (cin * 9));
    const weight = graph.constant('float32', [cout, cin, 3, 3], Float32Array.from({ length: cout * cin * 9 }, () => next() * scale));
    const inputs = bias ? [x, weight, graph.constant('float32', [cout], Float32Array.from({ length: cout }, () => next() * 0.01))] : [x, weight];
    return graph.op('Conv', inputs, { pads: [1, 1, 1, 1] });
  };
  const relu = (x: string) => graph.op('Relu', [x]);
  const block = (x: string) => relu(graph.op('Add', [conv(relu(conv(relu(conv(x, channels, channels)), channels, channels)), channels, channels), x]));
  const latent = graph.input('latent_sample', 'float32', ['batch', 4, 'height', 'width']);
  let x = graph.op('Mul', [graph.op('Tanh', [graph.op('Div', [latent, graph.scalar(3)])]), graph.scalar(3)]);
  x = relu(conv(x, 4, channels));
  const blocks = [3, 3, 3, 1];
  blocks.forEach((count, i) => {
    for (let b = 0; b < count; b++) x = block(x);
    const final = i === blocks.length - 1;
    if (!final) x = graph.op('Resize', [x, '', graph.constant('float32', [4], Float32Array.of(1, 1, 2, 2))], { mode: 'nearest' });
    x = conv(x, channels, final ? 3 : channels, final);
  });
  const sample = graph.op('Sub', [graph.op('Mul', [x, graph.scalar(2)]), graph.scalar(1)], {}, 'sample');
  graph.output(sample, 'float32', ['batch', 3, 'height_out', 'width_out']);
  mkdirSync(join(folder, 'vae_decoder'), { recursive: true });
  writeFileSync(join(folder, 'vae_decoder', 'model.onnx'), graph.encode().model);
  writeFileSync(join(folder, 'vae_decoder', 'config.json'), JSON.stringify({ _class_name: 'AutoencoderTiny', scaling_factor: 1.0 }));
  return folder;
}

function latents(height: number, width: number): Float32Array {
  return createNoiseGenerator(3n, 'cpu').randn([1, 4, height, width]);
}

const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

/** Each probe runs in a fresh process and prints one JSON line. */
const PROBES: Record<string, (args: string[]) => Promise<Record<string, number>>> = {
  async unet([folder, batch, runs, memory]) {
    const n = Number(batch);
    const model = await inspectModelFolder(folder);
    const { session } = await createSessionWithProvider(model.components.unet!, 'cpu', { memory: memory as MemoryMode }, model.imported?.weightsDirs.unet);
    const feeds = {
      sample: new ort.Tensor('float32', createNoiseGenerator(1n, 'cpu').randn([n, 4, 64, 64]), [n, 4, 64, 64]),
      timestep: new ort.Tensor('float32', Float32Array.of(999), []),
      encoder_hidden_states: new ort.Tensor('float32', createNoiseGenerator(2n, 'cpu').randn([n, 77, 768]), [n, 77, 768]),
    };
    const timestepInput = session.inputMetadata.find((m) => m.name === 'timestep');
    if (timestepInput?.isTensor && timestepInput.shape.length === 1) feeds.timestep = new ort.Tensor('float32', new Float32Array(n).fill(999), [n]);
    await session.run(feeds);
    const times: number[] = [];
    for (let i = 0; i < Number(runs); i++) {
      const started = performance.now();
      await session.run(feeds);
      times.push(performance.now() - started);
    }
    return { ms: median(times), peakRssMb: peakRssMb() };
  },
  async vae([folder, denormals]) {
    const model = await inspectModelFolder(folder);
    const { session } = await createSessionWithProvider(model.components.vae_decoder!, 'cpu', { denormalsAsZero: denormals === '1' }, model.imported?.weightsDirs.vae_decoder);
    const feeds = { latent_sample: new ort.Tensor('float32', latents(64, 64).map((v) => v / 0.18215), [1, 4, 64, 64]) };
    await session.run(feeds);
    const times: number[] = [];
    for (let i = 0; i < 2; i++) {
      const started = performance.now();
      await session.run(feeds);
      times.push(performance.now() - started);
    }
    return { ms: median(times) };
  },
  async tiny([taesd]) {
    const tiny = await loadTinyDecoder(taesd, 'cpu');
    const input = latents(64, 64);
    await decodeWithTinyDecoder(tiny, input, 64, 64);
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await decodeWithTinyDecoder(tiny, input, 64, 64);
      times.push(performance.now() - started);
    }
    return { ms: median(times) };
  },
  async turbo([folder, taesd]) {
    const model = await loadModel(await inspectModelFolder(folder), 'cpu', undefined, { tinyDecoderDir: taesd });
    const params = validateParams({ prompt: 'a cinematic photo of a fox in the snow', sampler: 'Euler', steps: 1, cfgScale: 1, seed: 1n, width: 512, height: 512, decoder: 'tiny' }, model);
    await generate(model, params);
    const [image] = await generate(model, params);
    const [full] = await generate(model, { ...params, decoder: 'full' });
    return { ms: image.timing.totalMs, unetMs: image.timing.unetMs, tinyDecodeMs: image.timing.decodeMs, fullImageMs: full.timing.totalMs, fullDecodeMs: full.timing.decodeMs };
  },
  async rss([folder, memory]) {
    const started = performance.now();
    const model = await loadModel(await inspectModelFolder(folder), 'cpu', undefined, { tuning: { memory: memory as MemoryMode } });
    const loadMs = performance.now() - started;
    const params = validateParams({ prompt: 'a cinematic photo of a fox in the snow', negativePrompt: 'blurry', sampler: 'Euler a', steps: 20, cfgScale: 7, seed: 1n, width: 512, height: 512 }, model);
    const [image] = await generate(model, params);
    return { loadMs, imageMs: image.timing.totalMs, unetPerStepMs: image.timing.unetMs / 20, peakRssMb: peakRssMb() };
  },
  async start([folder, cacheDir]) {
    const started = performance.now();
    const model = await loadModel(await inspectModelFolder(folder), 'cpu', undefined, { tuning: cacheDir === '-' ? {} : { cacheDir } });
    const ms = performance.now() - started;
    await model.release();
    return { ms };
  },
};

function probe(name: string, ...args: string[]): Record<string, number> {
  const result = spawnSync(process.execPath, ['--import', 'tsx', SELF, '--probe', name, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  if (result.status !== 0 || !line.startsWith('{')) throw new Error(`probe ${name} failed (${result.status}): ${result.stderr.slice(-2000)}`);
  return JSON.parse(line) as Record<string, number>;
}

export async function speedBench(): Promise<Figures> {
  const root = mkdtempSync(join(tmpdir(), 'easel-speed-'));
  const models = process.env.EASEL_BENCH_MODELS ?? join(tmpdir(), 'easel-bench-models');
  try {
    const figures: Figures = {};
    const sd15 = await createSyntheticModel(models, { variant: 'sd15', dtype: 'F32' });
    const turbo = await createSyntheticModel(models, { variant: 'sd-turbo', dtype: 'F32' });
    const taesd = writeTinyDecoder(join(root, 'taesd'));
    const weightsMb = sd15.checkpointBytes / 2 ** 20;
    figures.sd15WeightsMb = Math.round(weightsMb);

    const peak = await matmulPeakGflops();
    figures.matmulPeakGflops = round(peak, 1);
    for (const batch of [1, 2]) {
      const { ms } = probe('unet', sd15.folder, String(batch), '3', 'balanced');
      const gflop = unetFlops(SD15_CONFIG.unet, 64, 64, batch) / 1e9;
      figures[`unetPassB${batch}S`] = round(ms / 1000, 2);
      figures[`unetPassB${batch}FractionOfMatmulPeak`] = round(gflop / (ms / 1000) / peak, 2);
    }
    const low = probe('unet', sd15.folder, '1', '3', 'low');
    figures.unetPassB1NoPrepackingS = round(low.ms / 1000, 2);

    for (const denormals of ['0', '1']) figures[`vaeDecode512Denormals${denormals === '1' ? 'Flushed' : 'Kept'}S`] = round(probe('vae', sd15.folder, denormals).ms / 1000, 2);
    const tiny = probe('tiny', taesd);
    figures.tinyDecode512S = round(tiny.ms / 1000, 3);
    figures.fullVaeOverTinyDecoder = round((figures.vaeDecode512DenormalsFlushedS as number) / (tiny.ms / 1000), 1);

    const oneStep = probe('turbo', turbo.folder, taesd);
    figures.sdTurbo1StepTinyDecoder512WarmS = round(oneStep.ms / 1000, 2);
    figures.sdTurbo1StepUnetS = round(oneStep.unetMs / 1000, 2);
    figures.sdTurbo1StepFullVae512WarmS = round(oneStep.fullImageMs / 1000, 2);

    for (const memory of ['balanced', 'low'] as const) {
      const run = probe('rss', sd15.folder, memory);
      figures[`cfg20Steps512PeakRssMb_${memory}`] = run.peakRssMb;
      figures[`cfg20Steps512ImageS_${memory}`] = round(run.imageMs / 1000, 1);
      figures[`cfg20Steps512PeakRssBudgetMb_${memory}`] = `${run.peakRssMb} vs ${Math.round(weightsMb * 1.3 + 1024)} (weights × 1.3 + 1 GB)`;
    }

    const cacheDir = join(root, 'graph-cache');
    figures.coldStartNoCacheS = round(probe('start', sd15.folder, '-').ms / 1000, 2);
    figures.coldStartWritingCacheS = round(probe('start', sd15.folder, cacheDir).ms / 1000, 2);
    figures.warmStartFromCacheS = round(probe('start', sd15.folder, cacheDir).ms / 1000, 2);
    return figures;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv.includes('--probe')) {
  const index = process.argv.indexOf('--probe');
  const [name, ...args] = process.argv.slice(index + 1);
  PROBES[name](args).then((result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  }, (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
