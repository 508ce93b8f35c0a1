import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as ort from 'onnxruntime-node';
import { EaselError } from '../shared/errors.ts';

import type { ExecutionProvider, ExecutionProviderChoice, ProviderProbe } from '../shared/names.ts';
import { optimizedGraph, tuningConfig, tuningOptions, type SessionTuning } from './sessionTuning.ts';

/** Providers this platform's onnxruntime-node build may offer, fastest first; `cpu` always last. */
export function candidateProviders(platform: NodeJS.Platform = process.platform): ExecutionProvider[] {
  // Only what this onnxruntime-node build ships; others (cuda, tensorrt) need a separate install.
  const offered = new Set(ort.listSupportedBackends().filter((backend) => backend.bundled).map((backend) => backend.name));
  const preference: ExecutionProvider[] = platform === 'win32'
    ? ['dml', 'webgpu', 'cuda']
    : platform === 'darwin' ? ['coreml', 'webgpu'] : ['cuda', 'webgpu'];
  return [...preference.filter((name) => offered.has(name)), 'cpu'];
}

/**
 * What `auto` tries. On Linux, WebGPU runs on Vulkan, and without a GPU device node the only Vulkan
 * adapter is a software one (Mesa's lavapipe, SwiftShader) — many times slower than the cpu provider —
 * so `auto` passes webgpu over there; naming webgpu explicitly still uses it.
 */
export function autoProviders(platform: NodeJS.Platform = process.platform, gpuDevicePresent = hasGpuDevice): ExecutionProvider[] {
  const candidates = candidateProviders(platform);
  return platform === 'linux' && !gpuDevicePresent() ? candidates.filter((name) => name !== 'webgpu') : candidates;
}

/** DRM render nodes (Intel, AMD, virtio, NVIDIA's open driver), NVIDIA's proprietary node, WSL2's GPU. */
function hasGpuDevice(): boolean {
  const renderNode = (() => {
    try { return readdirSync('/dev/dri').some((name) => name.startsWith('renderD')); } catch { return false; }
  })();
  return renderNode || existsSync('/dev/nvidia0') || existsSync('/dev/dxg');
}

export interface ProviderAttempt {
  provider: ExecutionProvider;
  error?: string;
}

/**
 * Creates a session with the chosen provider. `auto` tries each candidate in turn and falls back to
 * `cpu`, returning why the others were passed over; an explicit provider that fails is an error.
 * With `tuning.cacheDir`, the optimized graph is cached per model, provider and ONNX Runtime version.
 */
export async function createSessionWithProvider(
  graph: string | ((provider: ExecutionProvider) => string),
  choice: ExecutionProviderChoice,
  tuning: SessionTuning = {},
  externalWeightsDir?: string,
  modelBytes?: Uint8Array,
): Promise<{ session: ort.InferenceSession; provider: ExecutionProvider; attempts: ProviderAttempt[]; cached?: boolean }> {
  const candidates = choice === 'auto' ? autoProviders() : [choice];
  const attempts: ProviderAttempt[] = [];
  // The optimized-graph cache is keyed by the model file: a graph with LoRA weights merged in is never cached.
  if (modelBytes) tuning = { ...tuning, cacheDir: undefined };
  let modelPath = '';
  for (const provider of candidates) {
    // An imported fp16 checkpoint has a float16 graph for GPU providers beside the cpu's model.onnx.
    modelPath = typeof graph === 'string' ? graph : graph(provider);
    // An imported checkpoint's graph points into the .safetensors file where it lies, and a graph with a
    // LoRA merged in (`modelBytes`) comes from memory. ONNX Runtime resolves external data only inside the
    // model's own folder, unless the model comes from memory with the weights folder named; the graph
    // itself is small (a few MB), the weights are not copied.
    const weightsDir = externalWeightsDir ?? (modelBytes ? dirname(modelPath) : undefined);
    const source: ModelSource = weightsDir === undefined
      ? { path: modelPath, config: {} }
      : { path: modelPath, bytes: modelBytes ?? new Uint8Array(await readFile(modelPath)), weightsDir, config: { model_external_initializers_file_folder_path: weightsDir } };
    try {
      const { session, cached } = await createTunedSession(source, provider, tuning);
      attempts.push({ provider });
      return { session, provider, attempts, cached };
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      attempts.push({ provider, error: message });
      if (choice !== 'auto' || provider === 'cpu') {
        if (provider !== 'cpu' && (isProviderFailure(message) || !(await providerStarts(provider)))) {
          throw new EaselError('PROVIDER_UNAVAILABLE', `The ${provider} execution provider could not start here: ${providerReason(message)}. The model was not checked; choose "auto" or "cpu" in easel.executionProvider.`, { cause: error });
        }
        throw describeLoadFailure(modelPath, message, error);
      }
    }
  }
  throw new EaselError('PROVIDER_UNAVAILABLE', `No execution provider could load ${modelPath}.`);
}

/** A model file, or its bytes when its external weights live in another folder (an imported checkpoint's). */
interface ModelSource {
  path: string;
  bytes?: Uint8Array;
  weightsDir?: string;
  /** Session config entries the source needs. */
  config: Record<string, string>;
}

async function createTunedSession(source: ModelSource, provider: ExecutionProvider, tuning: SessionTuning): Promise<{ session: ort.InferenceSession; cached: boolean }> {
  const config = tuningConfig(tuning);
  const create = (path: string | Uint8Array, options: ort.InferenceSession.SessionOptions, sourceConfig: Record<string, string>) => ort.InferenceSession.create(path as string, {
    graphOptimizationLevel: 'all',
    logSeverityLevel: onnxRuntimeLogging.severity,
    ...tuningOptions(tuning),
    ...options,
    extra: { session: { ...config, ...sourceConfig, ...(options.extra as { session?: Record<string, string> } | undefined)?.session } },
    executionProviders: [provider],
  });
  const original = (options: ort.InferenceSession.SessionOptions) => create(source.bytes ?? source.path, options, source.config);
  if (!tuning.cacheDir) return { session: await original({}), cached: false };
  const graph = await optimizedGraph(source.path, provider, tuning.cacheDir, source.weightsDir).catch(() => undefined);
  if (!graph) return { session: await original({}), cached: false };
  if (graph.path !== source.path) {
    try {
      // The cached graph carries its own weights file beside it.
      return { session: await create(graph.path, graph.options, {}), cached: true };
    } catch {
      // A damaged cache entry is dropped and built again from the model (a miss never comes back here).
      await graph.discard();
      return createTunedSession(source, provider, tuning);
    }
  }
  try {
    const session = await original(graph.options);
    await graph.commit();
    return { session, cached: false };
  } catch (error) {
    await graph.discard();
    throw error;
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0].trim();
}

/**
 * How ONNX Runtime words a provider that cannot start (no GPU adapter, a missing driver or shared
 * library, a backend this build lacks), as opposed to a model it cannot read. Whole words only: a
 * loose /EP/ also matched "step".
 */
export function isProviderFailure(message: string): boolean {
  return /\bexecution provider\b|\bbackend\b|\badapter\b|\bFailed to load (shared )?library\b|\bprovider_bridge|\/core\/providers\/(?!cpu\/)|OrtSessionOptionsAppendExecutionProvider|\bCUDA\b|\bcuDNN\b|\bVulkan\b|\bD3D12\b|\bDirectML\b|\bCoreML\b/i.test(message)
    && !/protobuf|model_path|external data|\.onnx\b/i.test(message);
}

/** The provider's own reason, without ONNX Runtime's source-file prefix. */
function providerReason(message: string): string {
  const line = firstLine(message);
  const stripped = line.replace(/^\S*\.(cc|cpp|h):\d+\s+(\S+::\S+\s*)?/, '').replace(/^.*? was false\. /, '');
  return stripped || line;
}

/** Whether `provider` starts at all here: the tiny probe model loads and runs on it. */
async function providerStarts(provider: ExecutionProvider): Promise<boolean> {
  return (await probeProvider(provider)).works;
}

/** ONNX Runtime's own log lines: off by default (errors reach the user as Easel's sentence), on with --verbose. */
const onnxRuntimeLogging = { severity: 4 as 0 | 1 | 2 | 3 | 4 };

/** Sets how much ONNX Runtime prints itself: `verbose` shows its warnings and errors on stderr. */
export function configureOnnxRuntimeLogging(verbose: boolean): void {
  onnxRuntimeLogging.severity = verbose ? 2 : 4;
  ort.env.logLevel = verbose ? 'warning' : 'fatal';
}

/** Turns ONNX Runtime's load errors into a sentence that names the file and what to do. */
export function describeLoadFailure(modelPath: string, message: string, cause?: unknown): EaselError {
  if (/external|onnx_data|weights\.pb|GetExtDataFromTensorProto|open file/i.test(message)) {
    return new EaselError('MODEL_INVALID', `${modelPath} could not be loaded: its external weights file (model.onnx_data or weights.pb beside it) is missing or incomplete. Download the model again. (${firstLine(message)})`, { cause });
  }
  if (/bad_alloc|out of memory|Failed to allocate/i.test(message)) {
    return new EaselError('OUT_OF_MEMORY', `Not enough memory to load ${modelPath}. Close other programs or choose a smaller (fp16) model.`, { cause });
  }
  return new EaselError('MODEL_INVALID', `${modelPath} is not a valid ONNX model (${firstLine(message)}). The file may be truncated or corrupt; download or export it again.`, { cause });
}

/** A one-node ONNX model (y = Identity(x)) used to ask each provider whether it loads and runs. */
const PROBE_MODEL = Buffer.from('CAgSDmVhc2VsLWZpeHR1cmVzOkcKHAoBeBIBeRoKSWRlbnRpdHlfeSIISWRlbnRpdHkSBXByb2JlWg8KAXgSCgoICAESBAoCCAFiDwoBeRIKCggIARIECgIIAUIECgAQEQ==', 'base64');

/** Tries every provider this build offers on a tiny model; the first that works is what `auto` uses. */
export async function probeProviders(): Promise<ProviderProbe[]> {
  const results: ProviderProbe[] = [];
  for (const provider of candidateProviders()) results.push(await probeProvider(provider));
  return results;
}

async function probeProvider(provider: ExecutionProvider): Promise<ProviderProbe> {
  const started = performance.now();
  try {
    const session = await ort.InferenceSession.create(new Uint8Array(PROBE_MODEL), { executionProviders: [provider], logSeverityLevel: onnxRuntimeLogging.severity });
    await session.run({ x: new ort.Tensor('float32', Float32Array.of(1), [1]) });
    await session.release();
    return { provider, works: true, detail: 'loads and runs', ms: performance.now() - started };
  } catch (error) {
    return { provider, works: false, detail: providerReason((error as Error).message ?? String(error)), ms: performance.now() - started };
  }
}
