import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { EaselError } from '../shared/errors.ts';
import type { ProviderProbe } from '../shared/names.ts';
import { randomSeed } from '../shared/generationSettings.ts';
import { parseWorkerMessage, requestProblem, type GenerationRequest, type HostMessage, type ImageTiming, type SafetyDecision, type SeededRequest, type WorkerMessage } from './protocol.ts';

export interface GeneratedFile {
  index: number;
  seed: string;
  width: number;
  height: number;
  /** The encoded PNG with its metadata chunks. */
  png: Uint8Array;
  /** The unblurred image when the safety checker flagged it; written only if the user asks. */
  originalPng?: Uint8Array;
  safety: SafetyDecision;
  timing: ImageTiming;
  /** The A1111 infotext in the PNG's `parameters` chunk, exactly as the worker wrote it. */
  parameters: string;
}

export interface JobResult {
  images: GeneratedFile[];
  totalMs: number;
  peakRssMb: number;
}

type Payload<T extends WorkerMessage['type']> = Omit<Extract<WorkerMessage, { type: T }>, 'type' | 'jobId'>;

export interface JobEvents {
  queued: [{ position: number }];
  started: [];
  loading: [Payload<'loading'>];
  loaded: [Payload<'loaded'>];
  notice: [Payload<'notice'>];
  step: [Payload<'step'>];
  preview: [{ step: number; width: number; height: number; rgba: Uint8Array }];
  image: [GeneratedFile];
  withheld: [{ index: number; seed: string; reason: string }];
  done: [JobResult];
  cancelled: [];
  error: [EaselError];
}

let nextJobNumber = 1;

/** The host's Node options that the worker keeps (readable stack traces); every other one stays with the host. */
const WORKER_NODE_OPTIONS = ['--enable-source-maps'];

/**
 * onnxruntime-node 1.30 starts Microsoft's 1DS telemetry when its first session is made. On Linux that reads
 * /proc/self/cmdline and walks it with a recursive matcher (a three-function cycle in the stripped library, most
 * likely libstdc++'s std::regex) whose depth grows with the command line's length: past about 14 KB in all (e.g. a
 * prompt and a negative prompt of about 7 400 characters each on the CLI's command line) it overflows the worker
 * thread's 4 MB stack and the process dies by SIGSEGV; past about 30 KB the main thread's 8 MB. The worker's own argv
 * cannot help (the file describes the whole process), and ONNX Runtime reads the variable with getenv, so it is set
 * in the process's environment, not in the worker's copy. An explicit value is left alone.
 */
function disableOnnxRuntimeTelemetry(env: NodeJS.ProcessEnv = process.env): void {
  env.ORT_DISABLE_TELEMETRY ??= '1';
}

/** One request's life: events as it runs, and `result` that settles when it ends. */
export class GenerationJob extends EventEmitter<JobEvents> {
  readonly id = `job${nextJobNumber++}-${Date.now().toString(36)}`;
  readonly result: Promise<JobResult>;
  state: 'queued' | 'running' | 'done' | 'cancelled' | 'failed' = 'queued';
  readonly images: GeneratedFile[] = [];
  private settle!: { resolve: (result: JobResult) => void; reject: (error: EaselError) => void };

  constructor(readonly request: SeededRequest, private readonly service: GenerationService) {
    super();
    this.result = new Promise<JobResult>((resolve, reject) => (this.settle = { resolve, reject }));
    this.result.catch(() => undefined);
  }

  cancel(): boolean {
    return this.service.cancel(this.id);
  }

  /** @internal */
  finish(outcome: { result: JobResult } | { error: EaselError }): void {
    if (this.state === 'done' || this.state === 'cancelled' || this.state === 'failed') return;
    if ('result' in outcome) {
      this.state = 'done';
      this.emit('done', outcome.result);
      this.settle.resolve(outcome.result);
    } else if (outcome.error.code === 'CANCELLED') {
      this.state = 'cancelled';
      this.emit('cancelled');
      this.settle.reject(outcome.error);
    } else {
      this.state = 'failed';
      if (this.listenerCount('error') > 0) this.emit('error', outcome.error);
      this.settle.reject(outcome.error);
    }
  }
}

export interface ServiceOptions {
  /** dist/worker.js */
  workerPath: string;
  idleReleaseMs?: number;
  testHooks?: boolean;
  hashCacheFile?: string;
  /** Where the worker caches optimized graphs (faster cold starts); none when absent. */
  graphCacheDir?: string;
  /** How long a running job may take to stop after cancel before its worker is terminated. */
  cancelGraceMs?: number;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Let ONNX Runtime print its own warnings and errors (CLI --verbose); otherwise it prints nothing. */
  verbose?: boolean;
}

/**
 * The host side: a FIFO queue of jobs run one at a time by a lazily started worker thread. A worker
 * that dies fails only the job it was running; the next job starts a fresh worker.
 */
export class GenerationService {
  private worker?: Worker;
  private readonly queue: GenerationJob[] = [];
  private running?: GenerationJob;
  private cancelTimer?: NodeJS.Timeout;
  private disposed = false;
  private readonly events = new EventEmitter<{ protocolError: [string] }>();
  private readonly probes = new Map<string, (probes: ProviderProbe[]) => void>();

  constructor(private readonly options: ServiceOptions) {}

  onProtocolError(listener: (message: string) => void): void {
    this.events.on('protocolError', listener);
  }

  get pending(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  generate(request: GenerationRequest): GenerationJob {
    if (this.disposed) throw new EaselError('INVALID_REQUEST', 'The generation service has been shut down.');
    // A random seed is chosen here, once: every image's seed (seed, seed + 1, …) is fixed before the job starts,
    // so a job that resumes on the cpu after a GPU failure makes the same images.
    const job = new GenerationJob({ ...request, seed: request.seed ?? randomSeed().toString() }, this);
    // Checked here, with the rules the worker applies, so a bad request fails at once with a sentence
    // instead of being rejected by the worker as a malformed message.
    const problem = requestProblem(request);
    if (problem !== undefined) {
      queueMicrotask(() => job.finish({ error: new EaselError('INVALID_REQUEST', problem) }));
      return job;
    }
    this.queue.push(job);
    queueMicrotask(() => {
      if (job.state === 'queued' && this.queue.includes(job)) job.emit('queued', { position: this.queue.indexOf(job) + (this.running ? 1 : 0) });
      this.pump();
    });
    return job;
  }

  cancel(jobId: string): boolean {
    const queuedIndex = this.queue.findIndex((job) => job.id === jobId);
    if (queuedIndex >= 0) {
      const [job] = this.queue.splice(queuedIndex, 1);
      job.finish({ error: new EaselError('CANCELLED', 'Generation was cancelled before it started.') });
      this.announcePositions();
      return true;
    }
    if (this.running?.id !== jobId || !this.worker) return false;
    this.send({ type: 'cancel', jobId });
    clearTimeout(this.cancelTimer);
    this.cancelTimer = setTimeout(() => {
      if (this.running?.id !== jobId) return;
      this.options.log?.('warn', `Job ${jobId} did not stop within ${this.options.cancelGraceMs ?? 15000} ms of cancel; stopping its worker.`);
      this.failRunning(new EaselError('CANCELLED', 'Generation was cancelled.'));
      void this.worker?.terminate();
    }, this.options.cancelGraceMs ?? 15000);
    return true;
  }

  /** Which execution providers load on this machine, asked of the worker (ONNX Runtime never loads in the host). */
  probeProviders(timeoutMs = 30_000): Promise<ProviderProbe[]> {
    const requestId = `probe${nextJobNumber++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.probes.delete(requestId);
        reject(new EaselError('PROVIDER_UNAVAILABLE', 'The generation worker did not answer the provider probe.'));
      }, timeoutMs);
      this.probes.set(requestId, (probes) => {
        clearTimeout(timer);
        resolve(probes);
      });
      this.send({ type: 'probe', requestId });
    });
  }

  /**
   * Test hook: asks the worker to crash, or (`gpu`) to fail the next job on a GPU provider mid-way as a lost
   * device would (only honoured when the service was made with testHooks).
   */
  crashWorker(mode: 'exit' | 'throw' | 'gpu'): void {
    this.send({ type: 'crash', mode });
  }

  /** Sends a raw message, valid or not (tests use it to check that the worker rejects bad ones). */
  sendRaw(message: unknown): void {
    this.ensureWorker().postMessage(message);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const job of this.queue.splice(0)) job.finish({ error: new EaselError('CANCELLED', 'Easel is shutting down.') });
    this.failRunning(new EaselError('CANCELLED', 'Easel is shutting down.'));
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private send(message: HostMessage): void {
    this.ensureWorker().postMessage(message);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    disableOnnxRuntimeTelemetry();
    const worker = new Worker(this.options.workerPath, {
      // The worker is one bundled file: it needs none of the host's arguments or Node options (VS Code's or the CLI's).
      argv: [],
      execArgv: process.execArgv.filter((option) => WORKER_NODE_OPTIONS.includes(option)),
      workerData: { testHooks: this.options.testHooks === true, hashCacheFile: this.options.hashCacheFile, graphCacheDir: this.options.graphCacheDir, verbose: this.options.verbose === true },
    });
    this.worker = worker;
    worker.on('message', (raw: unknown) => this.receive(worker, raw));
    worker.on('error', (error) => this.workerEnded(worker, `it threw: ${error.message}`));
    worker.on('exit', (code) => this.workerEnded(worker, `exit code ${code}`));
    if (this.options.idleReleaseMs !== undefined) worker.postMessage({ type: 'configure', idleReleaseMs: this.options.idleReleaseMs } satisfies HostMessage);
    return worker;
  }

  private workerEnded(worker: Worker, reason: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    if (this.running) {
      this.options.log?.('error', `The generation worker stopped (${reason}).`);
      this.failRunning(new EaselError('WORKER_CRASHED', `The generation worker stopped unexpectedly (${reason}). Nothing was written; the next generation starts a new worker.`));
    }
    if (!this.disposed) this.pump();
  }

  private failRunning(error: EaselError): void {
    const job = this.running;
    if (!job) return;
    this.running = undefined;
    clearTimeout(this.cancelTimer);
    job.finish({ error });
    if (!this.disposed) queueMicrotask(() => this.pump());
  }

  private pump(): void {
    if (this.running || this.disposed) return;
    const job = this.queue.shift();
    if (!job) return;
    this.running = job;
    job.state = 'running';
    job.emit('started');
    this.announcePositions();
    this.send({ type: 'generate', jobId: job.id, request: job.request });
  }

  private announcePositions(): void {
    this.queue.forEach((job, index) => job.emit('queued', { position: index + 1 }));
  }

  private receive(worker: Worker, raw: unknown): void {
    if (this.worker !== worker) return;
    let message: WorkerMessage;
    try {
      message = parseWorkerMessage(raw);
    } catch (error) {
      this.options.log?.('error', (error as Error).message);
      this.events.emit('protocolError', (error as Error).message);
      return;
    }
    if (message.type === 'ready') return;
    if (message.type === 'probed') {
      this.probes.get(message.requestId)?.(message.probes);
      this.probes.delete(message.requestId);
      return;
    }
    const job = message.jobId !== undefined && this.running?.id === message.jobId ? this.running : undefined;
    if (!job) {
      if (message.type === 'error') {
        this.options.log?.('warn', `Worker: ${message.message}`);
        this.events.emit('protocolError', message.message);
      }
      return;
    }
    switch (message.type) {
      case 'loading':
        job.emit('loading', { component: message.component });
        break;
      case 'loaded':
        job.emit('loaded', { provider: message.provider, ms: message.ms, notices: message.notices });
        break;
      case 'notice':
        job.emit('notice', { message: message.message });
        break;
      case 'step': {
        const { type: _type, jobId: _id, ...progress } = message;
        job.emit('step', progress);
        break;
      }
      case 'preview':
        job.emit('preview', { step: message.step, width: message.width, height: message.height, rgba: new Uint8Array(message.rgba) });
        break;
      case 'image': {
        const file: GeneratedFile = {
          index: message.index, seed: message.seed, width: message.width, height: message.height, png: new Uint8Array(message.png),
          originalPng: message.originalPng ? new Uint8Array(message.originalPng) : undefined, safety: message.safety, timing: message.timing,
          parameters: message.parameters,
        };
        job.images.push(file);
        job.emit('image', file);
        break;
      }
      case 'withheld':
        job.emit('withheld', { index: message.index, seed: message.seed, reason: message.reason });
        break;
      case 'done':
        this.running = undefined;
        clearTimeout(this.cancelTimer);
        job.finish({ result: { images: job.images, totalMs: message.totalMs, peakRssMb: message.peakRssMb } });
        this.pump();
        break;
      case 'cancelled':
        this.failRunning(new EaselError('CANCELLED', 'Generation was cancelled.'));
        break;
      case 'error':
        this.failRunning(new EaselError(message.code, message.message));
        break;
    }
  }
}
