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
import { loadModel, timestepTensor, type LoadedModel } from '../src/engine/modelSessions.ts';
import { modelHash } from '../src/engine/modelHash.ts';
import { chunkPrompt } from '../src/engine/promptSyntax.ts';
import { encodePng } from '../src/png/writeMetadata.ts';
import { GenerationService } from '../src/service/generationService.ts';
import type { GenerationRequest } from '../src/service/protocol.ts';
import { loadavg } from 'node:os';
import { EASEL_VERSION } from '../src/version.ts';
import type { GraphBuilder } from '../src/engine/onnx/onnxWriter.ts';
import { buildTinyDecoderGraph } from '../src/engine/checkpoint/tinyVaeGraph.ts';
import { uniform } from '../src/engine/checkpoint/syntheticCheckpoint.ts';
import type { WeightSource } from '../src/engine/checkpoint/weights.ts';
import { decodeWithTinyDecoder, generate } from '../src/engine/pipeline.ts';
import { validateParams } from '../src/engine/generationParams.ts';
import { createSessionWithProvider } from '../src/engine/providers.ts';
import { createNoiseGenerator } from '../src/engine/rng.ts';
import { loadTinyDecoder } from '../src/engine/tinyDecoder.ts';
import { matmulPeakGflops, unetFlops } from './checkpointBench.ts';
import { median, round, type Figures } from './engineBench.ts';
import { createSyntheticModel } from './syntheticModel.ts';

const SELF = fileURLToPath(import.meta.url);

/** Weights drawn at random (scaled by fan-in) and embedded in the graph, for decoders the bench builds itself. */
class RandomWeights implements WeightSource {
  private readonly next = uniform(7);
  has(): boolean {
    return true;
  }
  shape(): undefined {
    return undefined;
  }
  float(graph: GraphBuilder, key: string, shape: number[]): string {
    const scale = shape.length > 1 ? Math.sqrt(3 / shape.slice(1).reduce((a, b) => a * b, 1)) : 0.01;
    return graph.constant('float32', shape, Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => this.next() * scale), { name: key });
  }
}

/** TAESD's decoder (madebyollin/taesd, diffusers' DecoderTiny: 64 channels, blocks 3-3-3-1) with random weights, by the importer's builder. */
export function writeTinyDecoder(folder: string, channels = 64): string {
  const config = { channels: [channels, channels, channels, channels], blocks: [3, 3, 3, 1], latentChannels: 4, latentMagnitude: 3, scaleFactor: 1 };
  const graph = buildTinyDecoderGraph(config, new RandomWeights(), '', { attention: 'plain' });
  mkdirSync(join(folder, 'vae_decoder'), { recursive: true });
  writeFileSync(join(folder, 'vae_decoder', 'model.onnx'), graph.encode().model);
  writeFileSync(join(folder, 'vae_decoder', 'config.json'), JSON.stringify({ _class_name: 'AutoencoderTiny', scaling_factor: 1.0 }));
  return folder;
}

/** Each timed measurement is taken this many times and the median reported (the machine is shared). */
const RUNS = 3;
const WORKER = fileURLToPath(new URL('../dist/worker.js', import.meta.url));

/** The UNet's inputs for one unguided 512² pass, in the dtypes and shapes its export declares. */
async function unetFeeds(model: LoadedModel): Promise<Record<string, ort.Tensor>> {
  const context = model.unet.inputMetadata.find((m) => m.name === 'encoder_hidden_states');
  const width = context?.isTensor && typeof context.shape[2] === 'number' ? context.shape[2] : 1024;
  return {
    sample: new ort.Tensor('float32', latents(64, 64), [1, 4, 64, 64]),
    timestep: timestepTensor(model.signature, 999, 1),
    encoder_hidden_states: new ort.Tensor('float32', createNoiseGenerator(2n, 'cpu').randn([1, 77, width]), [1, 77, width]),
  };
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
  /**
   * A warm 1-step SD-Turbo-size image with the tiny decoder, phase by phase (medians of RUNS): each run
   * has a new prompt (the text encoder runs) and then the same prompt again (its conditioning is reused),
   * and the parts outside the engine that the worker adds per image (model hash, PNG with metadata).
   * CPU seconds beside wall seconds: on a shared machine the wall time swings with the load, CPU time much less.
   */
  async turbo([folder, taesd]) {
    const model = await loadModel(await inspectModelFolder(folder), 'cpu', undefined, { tinyDecoderDir: taesd });
    const request = (prompt: string) => validateParams({ prompt, sampler: 'Euler', steps: 1, cfgScale: 1, seed: 1n, width: 512, height: 512, decoder: 'tiny' }, model);
    await generate(model, request('warm-up'));
    const parts: Record<string, number[]> = {};
    const add = (name: string, value: number) => (parts[name] ??= []).push(value);
    const timed = async <T>(name: string, work: () => Promise<T> | T): Promise<T> => {
      const cpu = process.cpuUsage();
      const started = performance.now();
      const result = await work();
      add(`${name}Ms`, performance.now() - started);
      const used = process.cpuUsage(cpu);
      add(`${name}CpuMs`, (used.user + used.system) / 1000);
      return result;
    };
    for (let run = 0; run < RUNS; run++) {
      const prompt = `a cinematic photo of a fox in the snow, take ${run}`;
      await timed('tokenize', () => chunkPrompt(prompt, model.tokenizer, 'Original'));
      const [fresh] = await timed('imageNewPrompt', () => generate(model, request(prompt)));
      const [again] = await timed('imageSamePrompt', () => generate(model, { ...request(prompt), seed: 2n }));
      add('textEncoderMs', fresh.timing.textEncoderMs);
      add('textEncoderReusedMs', again.timing.textEncoderMs);
      for (const image of [fresh, again]) {
        add('unetMs', image.timing.unetMs);
        add('tinyDecodeMs', image.timing.decodeMs);
        add('samplerMs', image.timing.overheadPerStepMs * image.timing.steps);
      }
      await timed('modelHash', () => modelHash(model.folder.components.unet!));
      await timed('pngWithMetadata', () => encodePng(again.rgb, 512, 512, { prompt, negativePrompt: '', steps: 1, sampler: 'Euler', schedule: 'Automatic', cfgScale: 1, seed: '2', width: 512, height: 512, modelName: model.folder.name, batchIndex: 0, appVersion: EASEL_VERSION, rng: 'cpu' }));
    }
    // The same compute as the engine's phases, run directly, for CPU seconds per phase.
    const feeds = await unetFeeds(model);
    const textEncoder = await model.openSession('text_encoder');
    const ids = model.signature.inputIdsType === 'int64' ? new ort.Tensor('int64', new BigInt64Array(77), [1, 77]) : new ort.Tensor('int32', new Int32Array(77), [1, 77]);
    for (let run = 0; run < RUNS; run++) {
      await timed('textEncoderRun', () => textEncoder.run({ input_ids: ids }));
      await timed('unetRun', () => model.unet.run(feeds));
      await timed('tinyDecoderRun', () => decodeWithTinyDecoder(model.tinyDecoder!, latents(64, 64), 64, 64));
    }
    const [full] = await generate(model, { ...request('a fox'), decoder: 'full' });
    const result: Record<string, number> = { fullImageMs: full.timing.totalMs, fullDecodeMs: full.timing.decodeMs, loadAverage1m: loadavg()[0] };
    for (const [name, values] of Object.entries(parts)) result[name] = median(values);
    return result;
  },
  /** The same warm 1-step image as a job through the worker (`GenerationService`): what messaging and the runtime add. */
  async turboJob([folder, taesd]) {
    const service = new GenerationService({ workerPath: WORKER });
    try {
      const request: GenerationRequest = {
        modelDir: folder, provider: 'cpu', prompt: 'a cinematic photo of a fox in the snow', steps: 1, width: 512, height: 512, cfgScale: 1, seed: '1',
        sampler: 'Euler', decoder: 'tiny', tinyDecoderDir: taesd, previewEvery: 1,
      };
      await service.generate(request).result;
      const jobMs: number[] = [];
      const imageMs: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        const started = performance.now();
        const result = await service.generate({ ...request, seed: String(run + 2) }).result;
        jobMs.push(performance.now() - started);
        imageMs.push(result.images[0].timing.totalMs);
      }
      return { jobMs: median(jobMs), imageMs: median(imageMs), outsideEngineMs: median(jobMs.map((ms, i) => ms - imageMs[i])) };
    } finally {
      await service.dispose();
    }
  },
  /**
   * Peak RSS of a 20-step CFG image, then a second image with a new prompt (2 steps): under `low` memory
   * it reopens the text encoder and the VAE decoder, which is what `low` costs per image.
   */
  async rss([folder, memory]) {
    const started = performance.now();
    const model = await loadModel(await inspectModelFolder(folder), 'cpu', undefined, { tuning: { memory: memory as MemoryMode } });
    const loadMs = performance.now() - started;
    const params = validateParams({ prompt: 'a cinematic photo of a fox in the snow', negativePrompt: 'blurry', sampler: 'Euler a', steps: 20, cfgScale: 7, seed: 1n, width: 512, height: 512 }, model);
    const [image] = await generate(model, params);
    const [next] = await generate(model, { ...params, prompt: 'a watercolour of a lighthouse', steps: 2 });
    return {
      loadMs, imageMs: image.timing.totalMs, unetPerStepMs: image.timing.unetMs / 20, peakRssMb: peakRssMb(),
      nextImageMs: next.timing.totalMs, nextTextEncoderMs: next.timing.textEncoderMs, nextDecodeMs: next.timing.decodeMs, nextUnetMs: next.timing.unetMs,
    };
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
    const job = probe('turboJob', turbo.folder, taesd);
    const seconds = (ms: number) => round(ms / 1000, 3);
    figures.sdTurbo1StepTinyDecoder512WarmS = seconds(oneStep.imageNewPromptMs);
    figures.sdTurbo1StepTinyDecoder512WarmSamePromptS = seconds(oneStep.imageSamePromptMs);
    figures.sdTurbo1StepWorkerJobS = seconds(job.jobMs);
    figures.sdTurbo1StepFullVae512WarmS = seconds(oneStep.fullImageMs);
    // Where a warm 1-step image's time goes (s, medians of ${RUNS}); CPU seconds of the same compute run directly.
    figures['sdTurbo1Step: tokenizer'] = seconds(oneStep.tokenizeMs);
    figures['sdTurbo1Step: text encoder (new prompt)'] = `${seconds(oneStep.textEncoderMs)} (cpu ${seconds(oneStep.textEncoderRunCpuMs)})`;
    figures['sdTurbo1Step: text encoder (same prompt)'] = seconds(oneStep.textEncoderReusedMs);
    figures['sdTurbo1Step: UNet'] = `${seconds(oneStep.unetMs)} (cpu ${seconds(oneStep.unetRunCpuMs)})`;
    figures['sdTurbo1Step: sampler and noise'] = seconds(oneStep.samplerMs);
    figures['sdTurbo1Step: tiny decoder'] = `${seconds(oneStep.tinyDecodeMs)} (cpu ${seconds(oneStep.tinyDecoderRunCpuMs)})`;
    figures['sdTurbo1Step: model hash (warm)'] = seconds(oneStep.modelHashMs);
    figures['sdTurbo1Step: PNG + metadata'] = seconds(oneStep.pngWithMetadataMs);
    figures['sdTurbo1Step: worker job outside the engine'] = seconds(job.outsideEngineMs);
    figures['sdTurbo1Step: load average (1 min)'] = round(oneStep.loadAverage1m, 2);

    for (const memory of ['balanced', 'low'] as const) {
      const run = probe('rss', sd15.folder, memory);
      figures[`cfg20Steps512PeakRssMb_${memory}`] = run.peakRssMb;
      figures[`cfg20Steps512ImageS_${memory}`] = round(run.imageMs / 1000, 1);
      figures[`newPrompt2StepsImageS_${memory}`] = `${round(run.nextImageMs / 1000, 2)} (text encoder ${round(run.nextTextEncoderMs / 1000, 2)}, decode ${round(run.nextDecodeMs / 1000, 2)}, UNet ${round(run.nextUnetMs / 1000, 2)})`;
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
