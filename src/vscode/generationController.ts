import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { isEaselError, type EaselError } from '../shared/errors.ts';
import { writeImageIntoWorkspace } from '../png/outputPath.ts';
import { isFormField, panelSettingsProblemInput, type FormField, type GalleryItem, type PanelSettings, type ProgressView } from '../protocol/panelMessages.ts';
import { settingsProblems } from '../shared/generationSettings.ts';
import type { GenerationService, GenerationJob, GeneratedFile } from '../service/generationService.ts';
import type { EditRequest, GenerationRequest } from '../service/protocol.ts';
import { modelsDir, readConfiguration } from './configuration.ts';
import { findTinyDecoder } from '../models/library.ts';
import { checkPrompt } from '../safety/promptFilter.ts';
import { JobNotification, type JobNotice } from './jobNotification.ts';
import { linkPath } from '../text/imageReference.ts';
import type { ImageRecord } from './imageRecord.ts';

/** Where a job's events go: the panel that started it (or shows it), or nowhere (see JobNotice). */
export interface JobObserver {
  progress(view: ProgressView): void;
  preview(width: number, height: number, rgba: Uint8Array): void;
  image(item: GalleryItem): void;
  /** `field`: the form control at fault, for the panel to mark. */
  finished(outcome: 'done' | 'cancelled' | 'error', message: string, field?: FormField): void;
}

/** The output folder, file-name template and model name of one job, read once when it starts. */
interface OutputTarget {
  folder: vscode.WorkspaceFolder;
  outputFolder: string;
  fileNameTemplate: string;
  modelName: string;
}

export interface SavedImage {
  item: GalleryItem;
  uri: vscode.Uri;
  settings: PanelSettings;
  seed: string;
}

const GALLERY_KEY = 'easel.gallery';
const MAX_RECORDS = 200;

/**
 * Runs generations for every entry point (panel, selection, regenerate): checks that a model and a
 * workspace are there, drives the service, writes each image into the workspace, keeps the gallery.
 */
export class GenerationController implements vscode.Disposable {
  private current?: GenerationJob;
  private nextImage: number;
  private readonly statusItem: vscode.StatusBarItem;
  /** Unblurred originals of flagged images, kept in memory only until the user reveals one. */
  private readonly heldOriginals = new Map<string, { file: GeneratedFile; settings: PanelSettings; target: OutputTarget }>();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly service: GenerationService,
    private readonly log: vscode.LogOutputChannel,
  ) {
    const records = this.records();
    this.nextImage = Object.keys(records).reduce((max, id) => Math.max(max, Number(id.slice(4)) + 1), 1);
    this.statusItem = vscode.window.createStatusBarItem('easel.progress', vscode.StatusBarAlignment.Left, 50);
    this.statusItem.name = 'Easel generation';
    this.statusItem.command = 'easel.cancel';
  }

  dispose(): void {
    this.statusItem.dispose();
  }

  get busy(): boolean {
    return this.current !== undefined;
  }

  cancel(): boolean {
    return this.current?.cancel() ?? false;
  }

  /** Ids of remembered images whose files are no longer where they were written. */
  async missingImages(): Promise<string[]> {
    const records = Object.entries(this.records());
    const present = await Promise.all(records.map(([, record]) => stat(record.path).then(() => true, () => false)));
    return records.filter((_, index) => !present[index]).map(([id]) => id);
  }

  record(imageId: string): ImageRecord | undefined {
    return this.records()[imageId];
  }

  private records(): Record<string, ImageRecord> {
    return this.context.workspaceState.get<Record<string, ImageRecord>>(GALLERY_KEY) ?? {};
  }

  private async remember(id: string, record: ImageRecord): Promise<void> {
    const records = { ...this.records(), [id]: record };
    const ids = Object.keys(records);
    for (const stale of ids.slice(0, Math.max(0, ids.length - MAX_RECORDS))) delete records[stale];
    await this.context.workspaceState.update(GALLERY_KEY, records);
  }

  /** Writes a flagged image's original, once, after the user confirms. */
  async revealOriginal(imageId: string): Promise<SavedImage | undefined> {
    const held = this.heldOriginals.get(imageId);
    if (!held) {
      void vscode.window.showInformationMessage('Easel: the original of this image is no longer held (it is kept only until the window reloads).');
      return undefined;
    }
    const choice = await vscode.window.showWarningMessage('The safety checker flagged this image. Write the unblurred original into the workspace?', { modal: true }, 'Write Original');
    if (choice !== 'Write Original') return undefined;
    this.heldOriginals.delete(imageId);
    const saved = await this.save(held.file, held.settings, held.target, '-original');
    this.log.info(`Wrote the original of ${imageId} at the user's request: ${saved.item.relativePath}.`);
    return saved;
  }

  /** The workspace folder images go into: the one holding `near`, else the first. */
  workspaceFolder(near?: vscode.Uri): vscode.WorkspaceFolder | undefined {
    return (near && vscode.workspace.getWorkspaceFolder(near)) ?? vscode.workspace.workspaceFolders?.[0];
  }

  /**
   * Runs one generation and writes its images; resolves with what was saved (empty when it failed).
   * With `notice`, the job also shows a cancellable progress notification (see JobNotice).
   */
  async run(settings: PanelSettings, observer: JobObserver, near?: vscode.Uri, edit?: EditRequest, notice?: JobNotice): Promise<SavedImage[]> {
    // Every entry point (panel, selection, regenerate) passes the shared rules before anything runs.
    const [problem] = settingsProblems(panelSettingsProblemInput(settings));
    if (problem) {
      observer.finished('error', problem.message, isFormField(problem.field) ? problem.field : undefined);
      void vscode.window.showErrorMessage(`Easel: ${problem.message}`);
      return [];
    }
    const config = readConfiguration();
    if (!config.model) {
      observer.finished('error', 'No model selected: choose one with “Model…”.', 'model');
      void vscode.window.showErrorMessage('Easel: no model selected. Choose a diffusers ONNX model folder, or download one.', 'Select Model', 'Download Model').then((choice) => {
        if (choice === 'Select Model') void vscode.commands.executeCommand('easel.selectModel');
        if (choice === 'Download Model') void vscode.commands.executeCommand('easel.downloadModel');
      });
      return [];
    }
    const folder = this.workspaceFolder(near);
    if (!folder || folder.uri.scheme !== 'file') {
      observer.finished('error', 'Open a folder first: Easel writes images into the workspace.');
      void vscode.window.showErrorMessage('Easel writes images into the workspace: open a folder first.', 'Open Folder').then((choice) => {
        if (choice) void vscode.commands.executeCommand('vscode.openFolder');
      });
      return [];
    }
    const verdict = checkPrompt(`${settings.prompt}\n${settings.negativePrompt}`, { mode: config.safety.promptFilter, blockedTerms: config.safety.blockedTerms, allowedTerms: config.safety.allowedTerms });
    if (verdict.verdict === 'block') {
      this.log.warn(`Prompt refused: ${verdict.reason}`);
      observer.finished('error', verdict.reason, 'prompt');
      void vscode.window.showErrorMessage(`Easel: ${verdict.reason}`);
      return [];
    }
    if (verdict.verdict === 'warn') {
      const choice = await vscode.window.showWarningMessage(`Easel: ${verdict.reason} Generate anyway?`, { modal: true }, 'Generate');
      if (choice !== 'Generate') {
        observer.finished('cancelled', 'Not generated: the prompt filter warned.');
        return [];
      }
    }
    if (this.current) {
      this.log.info('A generation is running; this one is queued.');
    }
    // Found on every run (a download may have just finished): it makes the previews even when the full decoder makes the image.
    const tinyDecoderDir = await findTinyDecoder([modelsDir(this.context), ...config.modelDirectories]);
    if (settings.decoder === 'tiny' && !tinyDecoderDir) {
      observer.finished('error', 'The tiny decoder is not installed.');
      void vscode.window.showErrorMessage('Easel: easel.decoder is "tiny" but no tiny decoder (TAESD) is installed. Download it, or use the full decoder.', 'Download Model').then((choice) => {
        if (choice) void vscode.commands.executeCommand('easel.downloadModel');
      });
      return [];
    }
    // Where and under which names this job's images go, fixed when it starts: a setting changed mid-run applies to the next job.
    const target: OutputTarget = { folder, outputFolder: config.outputFolder, fileNameTemplate: config.fileNameTemplate, modelName: basename(config.model) };
    const request: GenerationRequest = {
      modelDir: config.model,
      provider: config.provider,
      prompt: settings.prompt,
      negativePrompt: settings.negativePrompt,
      steps: settings.steps,
      cfgScale: settings.cfgScale,
      seed: settings.seedMode === 'fixed' && settings.seed !== '' ? settings.seed : undefined,
      sampler: settings.sampler,
      schedule: settings.schedule,
      width: settings.width,
      height: settings.height,
      rng: settings.rng,
      decoder: settings.decoder,
      tinyDecoderDir,
      memory: config.memory,
      batchCount: settings.batchCount,
      previewEvery: config.previewEvery,
      provenance: config.provenance,
      safetyChecker: config.safety.checker,
      edit,
      loraDirectories: config.loraDirectories,
    };
    const job = this.service.generate(request);
    this.current = job;
    const notification = notice && new JobNotification(notice.title, () => job.cancel());
    const presence = notice?.whileHidden;
    const following = presence?.onDidChangeVisibility((visible) => (visible ? notification?.hide() : notification?.show()));
    if (!presence?.visible) notification?.show();
    void vscode.commands.executeCommand('setContext', 'easel.generating', true);
    this.log.info(`Generating "${settings.prompt.slice(0, 80)}" with ${settings.sampler}, ${settings.steps} steps, ${settings.width}×${settings.height}${edit ? `, from ${edit.imagePath} at strength ${edit.strength}${edit.mask ? ' with a mask' : ''}` : ''}.`);
    const saved: SavedImage[] = [];
    const writes: Array<Promise<void>> = [];
    const progress = (view: ProgressView, fraction?: number) => {
      observer.progress(view);
      notification?.report(view.text, fraction);
    };
    job.on('queued', ({ position }) => progress({ phase: 'queued', text: `Waiting: ${position} ahead in the queue` }));
    job.on('loading', ({ component }) => progress({ phase: 'loading', text: `Loading ${component.replace('_', ' ')}…` }));
    job.on('loaded', ({ provider, ms, notices }) => {
      this.log.info(`Model loaded on ${provider} in ${Math.round(ms)} ms.`);
      for (const notice of notices) {
        this.log.warn(notice);
        void vscode.window.showWarningMessage(`Easel: ${notice}. Using ${provider} instead.`);
      }
    });
    job.on('notice', ({ message }) => {
      this.log.warn(message);
      void vscode.window.showWarningMessage(`Easel: ${message}`);
    });
    job.on('step', (step) => {
      const imageLabel = settings.batchCount > 1 ? `Image ${step.imageIndex + 1}/${settings.batchCount}, ` : '';
      const text = `${imageLabel}step ${step.step}/${step.total} · ${step.itPerSec.toFixed(2)} it/s · ETA ${Math.ceil(step.etaMs / 1000)} s`;
      progress({ phase: 'step', text, step: step.step, total: step.total, itPerSec: step.itPerSec, etaMs: step.etaMs }, (step.imageIndex + step.step / step.total) / settings.batchCount);
      this.statusItem.text = `$(loading~spin) Easel ${step.step}/${step.total}`;
      this.statusItem.tooltip = `${text} — click to cancel`;
      this.statusItem.show();
    });
    job.on('preview', ({ width, height, rgba }) => observer.preview(width, height, rgba));
    job.on('withheld', ({ seed, reason }) => {
      this.log.warn(`Seed ${seed}: ${reason}`);
      progress({ phase: 'saving', text: reason });
    });
    job.on('image', (file) => {
      writes.push(this.save(file, settings, target).then(
        (image) => {
          saved.push(image);
          observer.image(image.item);
        },
        (error: unknown) => this.reportError(error as EaselError, observer),
      ));
    });
    try {
      await job.result;
      await Promise.all(writes);
      const message = saved.length === 1 ? `Saved ${saved[0].item.relativePath}` : `Saved ${saved.length} images`;
      observer.finished('done', message);
      this.log.info(message);
      // The panel that started the job is out of sight: say the job is done where its progress was.
      if (presence && notification?.visible && saved.length > 0) {
        void vscode.window.showInformationMessage(`Easel: ${message}`, 'Open Image').then((choice) => {
          if (choice) void vscode.commands.executeCommand('vscode.open', saved[saved.length - 1].uri);
        });
      }
    } catch (error) {
      await Promise.all(writes);
      if (isEaselError(error, 'CANCELLED')) {
        observer.finished('cancelled', 'Cancelled — nothing more was written.');
        this.log.info('Generation cancelled.');
      } else {
        this.reportError(error as EaselError, observer);
      }
    } finally {
      following?.dispose();
      notification?.dispose();
      if (this.current === job) {
        this.current = undefined;
        void vscode.commands.executeCommand('setContext', 'easel.generating', false);
      }
      this.statusItem.hide();
    }
    return saved;
  }

  private async save(file: GeneratedFile, settings: PanelSettings, target: OutputTarget, suffix = ''): Promise<SavedImage> {
    const { folder } = target;
    const path = await writeImageIntoWorkspace(folder.uri.fsPath, target.outputFolder, `${target.fileNameTemplate}${suffix}`, {
      date: new Date(), seed: file.seed, prompt: settings.prompt, sampler: settings.sampler, steps: settings.steps, model: target.modelName, index: file.index,
    }, file.png);
    const relativePath = linkPath(folder.uri.fsPath, path);
    const id = `img-${this.nextImage++}`;
    await this.remember(id, { path, relativePath, settings, seed: file.seed, infotext: file.parameters });
    if (file.originalPng) this.heldOriginals.set(id, { file: { ...file, png: file.originalPng, originalPng: undefined }, settings, target });
    this.log.info(`Wrote ${relativePath} (seed ${file.seed}, ${(file.timing.totalMs / 1000).toFixed(1)} s).`);
    const item: GalleryItem = {
      id, fileName: basename(path), relativePath, seed: file.seed, width: file.width, height: file.height, prompt: settings.prompt,
      dataUrl: `data:image/png;base64,${Buffer.from(file.png).toString('base64')}`,
      flagged: file.safety.action === 'blurred',
    };
    return { item, uri: vscode.Uri.file(path), settings, seed: file.seed };
  }

  private reportError(error: EaselError, observer: JobObserver): void {
    const message = error?.message ?? String(error);
    this.log.error(`${error?.code ?? 'ERROR'}: ${message}`);
    const modelError = ['MODEL_INVALID', 'MODEL_NOT_FOUND', 'TOKENIZER_INVALID'].includes(error?.code);
    observer.finished('error', message, modelError ? 'model' : /^LORA_/.test(error?.code ?? '') ? 'prompt' : undefined);
    const actions = modelError ? ['Select Model', 'Show Log'] : ['Show Log'];
    void vscode.window.showErrorMessage(`Easel: ${message}`, ...actions).then((choice) => {
      if (choice === 'Select Model') void vscode.commands.executeCommand('easel.selectModel');
      if (choice === 'Show Log') this.log.show();
    });
  }
}
