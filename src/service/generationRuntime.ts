import { EaselError, isEaselError } from '../shared/errors.ts';
import { inspectModelFolder } from '../engine/modelFolder.ts';
import { modelHash } from '../engine/modelHash.ts';
import { loadModel, type LoadedModel } from '../engine/modelSessions.ts';
import { probeProviders } from '../engine/providers.ts';
import { generate } from '../engine/pipeline.ts';
import { validateParams } from '../engine/generationParams.ts';
import { fitEditImages } from '../engine/imageInput.ts';
import { DEFAULTS, LIMITS } from '../shared/generationSettings.ts';
import { createHash } from 'node:crypto';
import { findLoraFile, loraShortHash, openLoraFile } from '../engine/lora/loraFile.ts';
import { applyLoras, type AppliedLora } from '../engine/lora/loraSessions.ts';
import { parseExtraNetworks } from '../engine/promptSyntax.ts';
import { formatLoraHashes } from '../png/loraHashes.ts';
import { encodePng, imageInfotext } from '../png/writeMetadata.ts';
import type { EaselRecord } from '../png/imageParameters.ts';
import { blurImage, loadSafetyChecker, type SafetyChecker } from '../engine/safetyChecker.ts';
import { EASEL_VERSION } from '../version.ts';
import { jobIdOf, parseHostMessage, requestProblem, seededRequest, type EditRequest, type HostMessage, type SafetyDecision, type SeededRequest, type WorkerMessage } from './protocol.ts';
import { isRecord } from '../shared/schema.ts';

export type Post = (message: WorkerMessage, transfer?: ArrayBuffer[]) => void;

export interface RuntimeOptions {
  /** Honour the `crash` message (tests only). */
  testHooks?: boolean;
  hashCacheFile?: string;
  /** Where optimized graphs are cached (per model, provider and ONNX Runtime version); none when absent. */
  graphCacheDir?: string;
  /** Minimum time between previews (≈ 4 per second by default). */
  previewMinIntervalMs?: number;
  exit?: (code: number) => void;
}

const DEFAULT_IDLE_RELEASE_MS = 5 * 60 * 1000;

/**
 * What runs inside the worker: owns the ONNX sessions (kept between jobs for the same model and
 * provider, released when idle or when either changes), runs one job at a time, encodes the PNGs.
 */
export class GenerationRuntime {
  private loaded?: { key: string; model: LoadedModel; checker?: SafetyChecker };
  private idleReleaseMs = DEFAULT_IDLE_RELEASE_MS;
  private idleTimer?: NodeJS.Timeout;
  private readonly controllers = new Map<string, AbortController>();
  private chain: Promise<void> = Promise.resolve();
  private pendingNotice?: string;
  /** Test hook: the next job on a GPU provider fails at its second UNet step. */
  private failGpuOnce = false;

  constructor(private readonly post: Post, private readonly options: RuntimeOptions = {}) {}

  handle(raw: unknown): void {
    let message: HostMessage;
    try {
      message = parseHostMessage(raw);
    } catch (error) {
      // A rejected message that names a job ends that job; otherwise the host would wait for it forever.
      const jobId = jobIdOf(raw);
      const problem = isRecord(raw) && raw.type === 'generate' ? requestProblem(raw.request, seededRequest) : undefined;
      this.post({ type: 'error', jobId, code: 'PROTOCOL_ERROR', message: problem ? `${(error as Error).message} ${problem}` : (error as Error).message });
      return;
    }
    switch (message.type) {
      case 'generate': {
        const controller = new AbortController();
        this.controllers.set(message.jobId, controller);
        this.chain = this.chain.then(() => this.run(message.jobId, message.request, controller.signal));
        break;
      }
      case 'cancel':
        this.controllers.get(message.jobId)?.abort();
        break;
      case 'configure':
        this.idleReleaseMs = message.idleReleaseMs;
        this.scheduleRelease();
        break;
      case 'crash':
        if (!this.options.testHooks) {
          this.post({ type: 'error', code: 'PROTOCOL_ERROR', message: 'Rejected "crash": test hooks are off.' });
        } else if (message.mode === 'gpu') {
          this.failGpuOnce = true;
        } else if (message.mode === 'exit') {
          (this.options.exit ?? process.exit)(70);
        } else {
          setImmediate(() => {
            throw new Error('Crash requested by a test.');
          });
        }
        break;
      case 'probe':
        void probeProviders().then((probes) => this.post({ type: 'probed', requestId: message.requestId, probes }));
        break;
      case 'shutdown':
        void this.release().then(() => (this.options.exit ?? process.exit)(0));
        break;
    }
  }

  async release(): Promise<void> {
    clearTimeout(this.idleTimer);
    const loaded = this.loaded;
    this.loaded = undefined;
    await loaded?.checker?.release();
    await loaded?.model.release();
  }

  private scheduleRelease(): void {
    clearTimeout(this.idleTimer);
    if (!this.loaded) return;
    this.idleTimer = setTimeout(() => void this.release(), this.idleReleaseMs);
    this.idleTimer.unref?.();
  }

  private async modelFor(jobId: string, request: SeededRequest): Promise<{ model: LoadedModel; checker?: SafetyChecker }> {
    const key = [request.provider, request.modelDir, request.tinyDecoderDir ?? '', request.memory ?? 'balanced'].join('\u0000');
    if (this.loaded?.key === key) return this.loaded;
    await this.release();
    const started = performance.now();
    const folder = await inspectModelFolder(request.modelDir);
    const model = await loadModel(folder, request.provider, (component) => this.post({ type: 'loading', jobId, component }), {
      tinyDecoderDir: request.tinyDecoderDir, tuning: { memory: request.memory, cacheDir: this.options.graphCacheDir },
    });
    let checker: SafetyChecker | undefined;
    if (folder.components.safety_checker) {
      this.post({ type: 'loading', jobId, component: 'safety_checker' });
      try {
        checker = await loadSafetyChecker(folder, model.provider);
      } catch (error) {
        await model.release();
        throw error;
      }
    }
    this.loaded = { key, model, checker };
    const notices = model.providerAttempts.filter((attempt) => attempt.error).map((attempt) => `${attempt.provider} unavailable: ${attempt.error!.split('\n')[0]}`);
    if (this.pendingNotice) notices.unshift(this.pendingNotice);
    this.pendingNotice = undefined;
    this.post({ type: 'loaded', jobId, provider: model.provider, ms: performance.now() - started, notices });
    return this.loaded;
  }

  /**
   * The `<lora:…>` tags of the prompt merged into the sessions (only the components whose LoRAs changed
   * are re-created; no tags puts the original weights back). Returns A1111's `Lora hashes` value.
   */
  private async applyPromptLoras(jobId: string, model: LoadedModel, prompt: string, directories: readonly string[]): Promise<string | undefined> {
    const tags = parseExtraNetworks(prompt);
    for (const tag of tags.ignored) this.post({ type: 'notice', jobId, message: `${tag} was removed from the prompt; Easel applies <lora:…> networks only.` });
    const applied: AppliedLora[] = [];
    for (const tag of tags.loras) {
      const file = await openLoraFile(await findLoraFile(tag.name, directories));
      applied.push({ name: tag.name, file, textEncoderMultiplier: tag.textEncoderMultiplier, unetMultiplier: tag.unetMultiplier });
    }
    const { notices } = await applyLoras(model, applied, (component) => this.post({ type: 'loading', jobId, component }));
    for (const message of notices) this.post({ type: 'notice', jobId, message });
    return formatLoraHashes(applied.map((lora) => ({ name: lora.name, hash: loraShortHash(lora.file.hash) })));
  }

  /** Runs a job; `resumed` is a job that a failed GPU provider handed to the cpu at image `firstImage`. */
  private async run(jobId: string, request: SeededRequest, signal: AbortSignal, resumed?: { notice: string; firstImage: number; images: number; started: number }): Promise<void> {
    clearTimeout(this.idleTimer);
    this.pendingNotice = resumed?.notice;
    const started = resumed?.started ?? performance.now();
    let peakRss = process.memoryUsage.rss();
    let images = resumed?.images ?? 0;
    // The image being made: every image before it was posted (or withheld) and is never made again.
    let nextImage = resumed?.firstImage ?? 0;
    try {
      if (signal.aborted) throw new EaselError('CANCELLED', 'Generation was cancelled.');
      const { model: loadedModel, checker } = await this.modelFor(jobId, request);
      const model = this.failGpuOnce && loadedModel.provider !== 'cpu' ? failingAfterFirstStep(loadedModel) : loadedModel;
      if (model !== loadedModel) this.failGpuOnce = false;
      const safetyMode = request.safetyChecker ?? 'blur';
      const edit = request.edit ? await editInput(request.edit, request) : undefined;
      if (edit?.resized && !resumed) this.post({ type: 'notice', jobId, message: edit.resized });
      const params = validateParams({ ...request, ...edit?.size, init: edit?.input }, model);
      const loraHashes = await this.applyPromptLoras(jobId, model, params.prompt, request.loraDirectories ?? []);
      const hash = await modelHash(model.folder.components.unet!, this.options.hashCacheFile).catch(() => undefined);
      await generate(model, params, {
        signal,
        firstImage: nextImage,
        previewEvery: request.previewEvery ?? 0,
        previewMinIntervalMs: this.options.previewMinIntervalMs ?? 250,
        onStep: (progress) => {
          peakRss = Math.max(peakRss, process.memoryUsage.rss());
          const itPerSec = progress.elapsedMs > 0 ? (progress.step / progress.elapsedMs) * 1000 : 0;
          const remainingSteps = progress.total - progress.step + (params.batchCount - progress.imageIndex - 1) * progress.total;
          this.post({
            type: 'step', jobId, imageIndex: progress.imageIndex, step: progress.step, total: progress.total, timestep: progress.timestep,
            elapsedMs: progress.elapsedMs, itPerSec, etaMs: itPerSec > 0 ? (remainingSteps / itPerSec) * 1000 : 0,
          });
        },
        onPreview: (preview, progress) => {
          const rgba = preview.rgba.buffer as ArrayBuffer;
          this.post({ type: 'preview', jobId, step: progress.step, width: preview.width, height: preview.height, rgba }, [rgba]);
        },
        onImage: async (image) => {
          const record: EaselRecord = {
            prompt: params.prompt, negativePrompt: params.negativePrompt, steps: params.steps, sampler: params.sampler, schedule: params.schedule,
            cfgScale: params.cfgScale, seed: image.seed.toString(), width: image.width, height: image.height, rng: params.rng, decoder: params.decoder, batchIndex: image.index,
            emphasis: params.emphasis === 'Original' ? undefined : params.emphasis, loraHashes,
            modelName: model.folder.name, modelHash: hash, provider: model.provider, appVersion: EASEL_VERSION, durationMs: Math.round(image.timing.totalMs),
            ...edit?.record,
          };
          const flagged = safetyMode !== 'off' && checker ? await checker.check(image.rgb, image.width, image.height) : false;
          const safety: SafetyDecision = {
            checker: checker ? safetyMode : 'unavailable', flagged, action: !flagged ? 'none' : safetyMode === 'block' ? 'withheld' : 'blurred',
          };
          if (safety.action === 'withheld') {
            this.post({ type: 'withheld', jobId, index: image.index, seed: image.seed.toString(), reason: 'The safety checker flagged this image; nothing was written (easel.safety.checker is "block").' });
            nextImage = image.index + 1;
            return;
          }
          const metadata = { provenance: request.provenance !== false, extraInfotext: flagged ? { 'Safety checker': 'flagged' } : undefined };
          const shownRgb = safety.action === 'blurred' ? await blurImage(image.rgb, image.width, image.height) : image.rgb;
          // Built once, here where the PNGs are written: both PNGs carry it, and the host copies it as it is.
          const parameters = imageInfotext({ ...record, safety }, metadata);
          const png = await encodePng(shownRgb, image.width, image.height, { ...record, safety }, metadata, parameters);
          const original = safety.action === 'blurred'
            ? await encodePng(image.rgb, image.width, image.height, { ...record, safety: { ...safety, action: 'none' } }, metadata, parameters)
            : undefined;
          const buffer = ownBuffer(png);
          const originalBuffer = original ? ownBuffer(original) : undefined;
          const { totalMs, unetMs, decodeMs, overheadPerStepMs, steps } = image.timing;
          this.post({
            type: 'image', jobId, index: image.index, seed: image.seed.toString(), width: image.width, height: image.height, png: buffer,
            originalPng: originalBuffer, safety, timing: { totalMs, unetMs, decodeMs, overheadPerStepMs, steps }, parameters,
          }, originalBuffer ? [buffer, originalBuffer] : [buffer]);
          images++;
          nextImage = image.index + 1;
        },
      });
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
      this.post({ type: 'done', jobId, totalMs: performance.now() - started, peakRssMb: peakRss / 1024 / 1024, images });
    } catch (error) {
      if (isEaselError(error, 'CANCELLED')) {
        this.post({ type: 'cancelled', jobId });
      } else if (isEaselError(error, 'INFERENCE_FAILED') && this.loaded && this.loaded.model.provider !== 'cpu' && !resumed) {
        // A GPU provider that fails mid-generation: the job goes on on the cpu from the image that failed, with the
        // seeds the host chose; the images already made are kept, not made again.
        const failed = this.loaded.model.provider;
        await this.release();
        const total = request.batchCount ?? DEFAULTS.batchCount;
        const rest = nextImage === 0 ? 'the job is' : nextImage + 1 === total ? `image ${total} is` : `images ${nextImage + 1}–${total} are`;
        const kept = nextImage === 0 ? '' : `; the ${nextImage === 1 ? 'first image is' : `first ${nextImage} images are`} kept, not made again`;
        const notice = `${failed} failed during generation (${error.message}); ${rest} made on the cpu instead${kept}`;
        return await this.run(jobId, { ...request, provider: 'cpu' }, signal, { notice, firstImage: nextImage, images, started });
      } else {
        const code = isEaselError(error) ? error.code : 'INFERENCE_FAILED';
        const message = (error as Error)?.message ?? String(error);
        if (code === 'MODEL_INVALID' || code === 'MODEL_NOT_FOUND' || code === 'TOKENIZER_INVALID' || code === 'PROVIDER_UNAVAILABLE') await this.release();
        this.post({ type: 'error', jobId, code, message });
      }
    } finally {
      this.controllers.delete(jobId);
      this.scheduleRelease();
    }
  }
}

/** The model with a UNet whose second run fails as a lost GPU device does (the `crash: gpu` test hook). */
function failingAfterFirstStep(model: LoadedModel): LoadedModel {
  let runs = 0;
  const unet = new Proxy(model.unet, {
    get(target, property) {
      if (property !== 'run') return Reflect.get(target, property, target);
      return (...args: Parameters<typeof target.run>) => {
        if (++runs > 1) return Promise.reject(new Error('Device lost: the GPU stopped responding (forced by a test hook).'));
        return target.run(...args);
      };
    },
  });
  return { ...model, unet };
}

/** A mask up to this size rides along in the image's record, so Regenerate can repeat the inpainting. */
const MAX_EMBEDDED_MASK_BYTES = 512 * 1024;

/** Decodes and fits an edit's images, and what the image records about them (A1111 keys and our sources). */
async function editInput(edit: EditRequest, size: { width?: number; height?: number }) {
  const imageBytes = new Uint8Array(edit.image);
  const maskBytes = edit.mask ? new Uint8Array(edit.mask) : undefined;
  const fitted = await fitEditImages(imageBytes, maskBytes, size, LIMITS.dimension.max, {
    image: edit.imagePath ? `The init image ${edit.imagePath}` : 'The init image', mask: edit.maskPath ? `The mask ${edit.maskPath}` : 'The mask',
  });
  const strength = edit.strength ?? DEFAULTS.strength;
  const maskBlur = fitted.mask ? edit.maskBlur ?? DEFAULTS.maskBlur : 0;
  const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
  const record: Pick<EaselRecord, 'denoisingStrength' | 'maskBlur' | 'initImage' | 'mask'> = {
    denoisingStrength: strength,
    initImage: { ...(edit.imagePath ? { path: edit.imagePath } : {}), sha256: sha256(imageBytes) },
  };
  if (maskBytes) {
    record.maskBlur = maskBlur;
    record.mask = {
      ...(edit.maskPath ? { path: edit.maskPath } : {}), sha256: sha256(maskBytes),
      ...(maskBytes.length <= MAX_EMBEDDED_MASK_BYTES ? { png: Buffer.from(maskBytes).toString('base64') } : {}),
    };
  }
  const { width, height } = fitted.image;
  const { originalSize } = fitted;
  const resized = originalSize.width !== width || originalSize.height !== height
    ? `${edit.imagePath ? `The init image ${edit.imagePath}` : 'The init image'} is ${originalSize.width}×${originalSize.height}; it was resized to ${width}×${height}${size.width === undefined && size.height === undefined ? ' (sizes are multiples of 8)' : ''}.`
    : undefined;
  return {
    size: { width, height },
    input: { image: fitted.image, mask: fitted.mask, strength, maskBlur },
    record,
    resized,
  };
}

/** A transferable buffer holding exactly these bytes. */
function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength ? (bytes.buffer as ArrayBuffer) : (bytes.slice().buffer as ArrayBuffer);
}
