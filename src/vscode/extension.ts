import { basename, dirname, extname, join } from 'node:path';
import * as vscode from 'vscode';
import { isEaselError } from '../shared/errors.ts';
import { modelHash } from '../engine/modelHash.ts';
import { inspectModelFolder } from '../engine/modelFolder.ts';
import { readImageMetadataInWorker } from '../png/metadataInWorker.ts';
import { resolveOutputFolder } from '../png/outputPath.ts';
import type { PanelSettings } from '../protocol/panelMessages.ts';
import { GenerationService } from '../service/generationService.ts';
import { stripCommentSyntax } from '../text/commentText.ts';
import { imageReference, linkPath } from '../text/imageReference.ts';
import { copyMarkdownLink } from './markdownLink.ts';
import { modelsDir, readConfiguration } from './configuration.ts';
import { GenerationController, type JobObserver } from './generationController.ts';
import { recordInfotext } from './imageRecord.ts';
import { formatInfotext } from '../png/infotext.ts';
import { randomSeed } from '../shared/generationSettings.ts';
import { readEditableImage, restoreEdit } from './editImage.ts';
import { DEFAULT_STRENGTH, EDITABLE_EXTENSIONS, PANEL_MASK_BLUR } from '../engine/editLimits.ts';
import { GeneratorPanel, PANEL_VIEW_TYPE, type PanelHost } from './generatorPanel.ts';
import { settingsFromMetadata } from './regenerate.ts';
import { listLoraFiles, recallLoras } from '../engine/lora/loraFile.ts';
import { parseLoraHashes } from '../png/loraHashes.ts';
import { componentFilesProblem, listModels } from '../models/library.ts';
import { readModelRecommendation } from '../models/recommendedSettings.ts';
import { describeRecommended } from '../shared/recommendedSettings.ts';
import { importCheckpoint, isCheckpointFile } from '../models/checkpointImport.ts';
import { downloadModel } from '../models/download.ts';
import { CURATED_MODELS, CURATED_TINY_DECODERS } from '../models/curated.ts';
import type { DownloadKind } from '../models/download.ts';
import { DEFAULT_HUB_ENDPOINT } from '../models/hub.ts';
import type { ProviderProbe } from '../shared/names.ts';
import { huggingFaceToken, moveTokenOutOfSettings, setHuggingFaceToken } from './huggingFaceToken.ts';

let service: GenerationService | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Easel', { log: true });
  const hashCache = join(context.globalStorageUri.fsPath, 'model-hashes.json');
  service = new GenerationService({
    workerPath: context.asAbsolutePath(join('dist', 'worker.js')),
    idleReleaseMs: readConfiguration().idleReleaseMs,
    hashCacheFile: hashCache,
    graphCacheDir: join(context.globalStorageUri.fsPath, 'optimized-graphs'),
    log: (level, message) => log[level](message),
  });
  const controller = new GenerationController(context, service, log);
  const metadataWorkerPath = context.asAbsolutePath(join('dist', 'metadataWorker.js'));
  const currentModelHash = async (): Promise<string | undefined> => {
    const model = readConfiguration().model;
    if (!model) return undefined;
    try {
      return await modelHash((await inspectModelFolder(model)).components.unet!, hashCache);
    } catch {
      return undefined;
    }
  };

  const warnedRecommendations = new Set<string>();
  const host: PanelHost = {
    controller,
    log,
    defaults: () => readConfiguration().defaults,
    recommended: async () => {
      const model = readConfiguration().model;
      if (!model) return undefined;
      try {
        const recommendation = await readModelRecommendation(model);
        return recommendation && { modelKey: model, ...recommendation };
      } catch (error) {
        const message = `Recommended settings of ${basename(model)} ignored: ${(error as Error).message}`;
        log.warn(message);
        // Said once per model, not on every settings change.
        if (!warnedRecommendations.has(model)) void vscode.window.showWarningMessage(`Easel: ${message}`);
        warnedRecommendations.add(model);
        return undefined;
      }
    },
    missingImages: () => controller.missingImages(),
    statusLine: () => {
      const config = readConfiguration();
      const modelName = config.model ? basename(config.model) : '';
      const provider = config.provider;
      const safety = `Safety: prompt filter ${config.safety.promptFilter}, checker ${config.safety.checker}`;
      const probes = context.globalState.get<ProviderProbe[]>('easel.providerProbe');
      const providers = probes ? ` (${probes.map((probe) => `${probe.provider} ${probe.works ? '✓' : '✗'}`).join(' ')})` : '';
      const statusLine = modelName ? `Model: ${modelName} · Provider: ${provider}${providers} · ${safety}` : `No model selected — choose one with “Model…” · ${safety}`;
      return { modelName, provider, statusLine };
    },
    pickLora: async () => {
      const directories = readConfiguration().loraDirectories;
      if (directories.length === 0) {
        const choice = await vscode.window.showInformationMessage('Easel: no LoRA folder is set. Add the folders that hold your LoRA .safetensors files to easel.loraDirectories.', 'Open Settings');
        if (choice) await vscode.commands.executeCommand('workbench.action.openSettings', 'easel.loraDirectories');
        return undefined;
      }
      const files = await listLoraFiles(directories);
      if (files.length === 0) {
        void vscode.window.showInformationMessage(`Easel: no .safetensors files in ${directories.join(', ')}.`);
        return undefined;
      }
      const picked = await vscode.window.showQuickPick(
        files.map((file) => ({ label: basename(file, extname(file)), description: dirname(file), file })),
        { placeHolder: 'LoRA to add to the prompt', matchOnDescription: true },
      );
      if (!picked) return undefined;
      const multiplier = await vscode.window.showInputBox({
        prompt: `Multiplier for ${picked.label} (A1111's default is 1)`, value: '1',
        validateInput: (value) => (value.trim() !== '' && Number.isFinite(Number(value)) ? undefined : 'A number, for example 0.8'),
      });
      return multiplier === undefined ? undefined : `<lora:${picked.label}:${Number(multiplier)}>`;
    },
    onImageAction: async (message, panel) => {
      const record = controller.record(message.imageId);
      if (!record) {
        void vscode.window.showWarningMessage('Easel no longer knows this image; it may have been made in an earlier session.');
        return;
      }
      const uri = vscode.Uri.file(record.path);
      // A record saved before images carried their infotext copies the PNG's own `parameters` chunk.
      const needsFile = message.action === 'open' || message.action === 'reveal' || message.action === 'copyMarkdown' || (message.action === 'copyParameters' && record.infotext === undefined);
      if (needsFile && !(await vscode.workspace.fs.stat(uri).then(() => true, () => false))) {
        panel.post({ type: 'imagesMissing', imageIds: [message.imageId] });
        void vscode.window.showWarningMessage(`Easel: ${record.relativePath} was deleted or moved.`);
        return;
      }
      switch (message.action) {
        case 'open':
          await vscode.commands.executeCommand('vscode.open', uri, vscode.ViewColumn.Active);
          break;
        case 'reveal':
          await vscode.commands.executeCommand('revealInExplorer', uri);
          break;
        case 'copyMarkdown':
          await copyMarkdownLink({ path: record.path, prompt: record.settings.prompt }, controller.workspaceFolder(uri));
          break;
        case 'copyParameters': {
          const infotext = await recordInfotext(record, (path) => readImageMetadataInWorker(path, metadataWorkerPath)).catch((error: Error) => {
            void vscode.window.showErrorMessage(`Easel cannot read ${record.relativePath}: ${error.message}`);
            return null;
          });
          if (infotext === null) break;
          if (infotext === undefined) {
            void vscode.window.showWarningMessage(`Easel: ${record.relativePath} has no "parameters" chunk to copy.`);
            break;
          }
          await vscode.env.clipboard.writeText(infotext);
          void vscode.window.setStatusBarMessage('Easel: parameters copied', 3000);
          break;
        }
        case 'reuseSeed':
          break;
        case 'regenerate':
          panel.fill({ ...record.settings, seedMode: 'fixed', seed: record.seed, batchCount: 1 }, []);
          break;
        case 'revealOriginal': {
          const saved = await controller.revealOriginal(message.imageId);
          if (saved) panel.post({ type: 'image', item: saved.item });
          break;
        }
      }
    },
  };

  const showPanel = () => GeneratorPanel.show(context, host);

  context.subscriptions.push(
    log,
    controller,
    { dispose: () => void service?.dispose() },
    vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel, state) => {
        GeneratorPanel.revive(panel, context, host, state);
      },
    }),
    vscode.commands.registerCommand('easel.generateImage', () => {
      showPanel();
    }),
    vscode.commands.registerCommand('easel.cancel', () => {
      if (!controller.cancel()) void vscode.window.showInformationMessage('Easel: nothing is being generated.');
    }),
    vscode.commands.registerCommand('easel.generateFromSelection', () => generateFromSelection(controller, host)),
    vscode.commands.registerCommand('easel.regenerateFromPng', async (target?: vscode.Uri) => {
      let uri = target instanceof vscode.Uri ? target : undefined;
      if (!uri) {
        const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'PNG images': ['png'] }, openLabel: 'Regenerate' });
        uri = picked?.[0];
      }
      if (!uri) return;
      let metadata;
      try {
        metadata = await readImageMetadataInWorker(uri.fsPath, metadataWorkerPath);
      } catch (error) {
        void vscode.window.showErrorMessage(`Easel cannot read ${basename(uri.fsPath)}: ${(error as Error).message}`);
        return;
      }
      const config = readConfiguration();
      const panel = showPanel();
      const base = { ...config.defaults, ...panel.currentSettings };
      const { settings, notes } = settingsFromMetadata(metadata, base, { modelName: config.model ? basename(config.model) : '(none)', modelHash: await currentModelHash() });
      const loras = await recallLoras(settings.prompt, parseLoraHashes(metadata.parameters.loraHashes ?? ''), config.loraDirectories);
      settings.prompt = loras.prompt;
      notes.push(...loras.notes);
      notes.push(...await restoreEdit(metadata.parameters, uri, panel));
      panel.fill(settings, notes);
      log.info(`Regenerate from ${uri.fsPath}: ${metadata.source} metadata. ${notes.join(' ')}`);
    }),
    vscode.commands.registerCommand('easel.editImage', async (target?: vscode.Uri) => {
      let uri = target instanceof vscode.Uri ? target : undefined;
      if (!uri) {
        const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { Images: EDITABLE_EXTENSIONS.map((extension) => extension.slice(1)) }, openLabel: 'Edit with Easel' });
        uri = picked?.[0];
      }
      if (!uri) return;
      let source;
      try {
        source = await readEditableImage(uri);
      } catch (error) {
        void vscode.window.showErrorMessage(`Easel cannot edit ${basename(uri.fsPath)}: ${(error as Error).message}`);
        return;
      }
      const panel = showPanel();
      const metadata = /\.png$/i.test(uri.fsPath) ? await readImageMetadataInWorker(uri.fsPath, metadataWorkerPath).catch(() => undefined) : undefined;
      if (metadata && metadata.source !== 'none') {
        const config = readConfiguration();
        const { settings, notes } = settingsFromMetadata(metadata, { ...config.defaults, ...panel.currentSettings }, { modelName: config.model ? basename(config.model) : '(none)', modelHash: await currentModelHash() });
        panel.fill(settings, [`Editing ${source.path}; its settings are filled in.`, ...notes]);
      }
      panel.setEditImage(source, { strength: DEFAULT_STRENGTH, maskBlur: PANEL_MASK_BLUR, fitSize: true });
      log.info(`Edit ${source.path} (${source.bytes.length} bytes).`);
    }),
    vscode.commands.registerCommand('easel.selectModel', async () => {
      const picked = await pickModel(modelsDir(context), await providerSummary(context, service!));
      if (!picked) return;
      await vscode.workspace.getConfiguration('easel').update('model', picked, vscode.ConfigurationTarget.Global);
      log.info(`Model set to ${picked}.`);
      void GeneratorPanel.current?.refreshModel();
    }),
    vscode.commands.registerCommand('easel.downloadModel', () => downloadFromHub(context, log)),
    vscode.commands.registerCommand('easel.setHuggingFaceToken', () => setHuggingFaceToken(context, log)),
    vscode.commands.registerCommand('easel.importCheckpoint', async (target?: vscode.Uri) => {
      const folder = await importCheckpointFile(context, log, target?.fsPath);
      if (folder) await offerToUse(folder, `${basename(folder)} is imported.`);
    }),
    vscode.commands.registerCommand('easel.openOutputFolder', async () => {
      const folder = controller.workspaceFolder(vscode.window.activeTextEditor?.document.uri);
      if (!folder) return void vscode.window.showErrorMessage('Easel: open a folder first.');
      try {
        const path = await resolveOutputFolder(folder.uri.fsPath, readConfiguration().outputFolder);
        await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(path));
      } catch (error) {
        void vscode.window.showErrorMessage(`Easel: ${(error as Error).message}`);
      }
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('easel')) void GeneratorPanel.current?.refreshModel();
      if (event.affectsConfiguration('easel.huggingFaceToken')) void moveTokenOutOfSettings(context, log);
    }),
  );
  void moveTokenOutOfSettings(context, log);
}

export async function deactivate(): Promise<void> {
  await service?.dispose();
  service = undefined;
}

async function generateFromSelection(controller: GenerationController, host: PanelHost): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.selection.isEmpty) {
    void vscode.window.showInformationMessage('Easel: select the text (for example a comment) that describes the image.');
    return;
  }
  const document = editor.document;
  const selection = editor.selection;
  const prompt = stripCommentSyntax(document.getText(selection), document.languageId);
  if (!prompt) {
    void vscode.window.showWarningMessage('Easel: the selection has no text to use as a prompt.');
    return;
  }
  // The panel's sampler, steps, CFG, size and decoder, but always a new seed: a fixed seed in the panel
  // belongs to the panel's prompt (Regenerate and Reuse seed set one), and a new comment wants a new image.
  const panel = GeneratorPanel.current;
  const settings: PanelSettings = { ...(panel?.currentSettings ?? host.defaults()), prompt, batchCount: 1, seedMode: 'fixed', seed: randomSeed().toString() };
  const used = formatInfotext({ steps: settings.steps, sampler: settings.sampler, schedule: settings.schedule, cfgScale: settings.cfgScale, seed: settings.seed, width: settings.width, height: settings.height });
  host.log.info(`Generate from Selection: ${used} (${panel ? 'the panel\'s settings' : 'the easel.defaults settings'}, a new seed).`);
  panel?.post({ type: 'busy', busy: true });
  const saved = await controller.run(settings, panel?.observer() ?? IGNORE_PROGRESS, document.uri, undefined, { title: `Easel: generating from selection — ${used}` });
  const [image] = saved;
  if (!image) return;
  const style = readConfiguration().insertLink;
  const reference = imageReference(document.languageId, linkPath(dirname(document.uri.fsPath), image.uri.fsPath), prompt, style);
  if (!reference) return;
  const endLine = document.lineAt(selection.end.line);
  const indent = document.lineAt(selection.start.line).text.match(/^\s*/)?.[0] ?? '';
  const edit = new vscode.WorkspaceEdit();
  edit.insert(document.uri, endLine.range.end, `\n${indent}${reference}`);
  if (!(await vscode.workspace.applyEdit(edit))) void vscode.window.showWarningMessage(`Easel saved ${image.item.relativePath} but could not insert the link.`);
  // The link goes in at the selection's end, which grows the selection over it; keep the user's, so
  // running the command again uses the same prompt.
  if (vscode.window.visibleTextEditors.includes(editor) && !editor.selection.isEqual(selection)) editor.selection = selection;
}

const IGNORE_PROGRESS: JobObserver = { progress: () => undefined, preview: () => undefined, image: () => undefined, finished: () => undefined };

let probed: Promise<ProviderProbe[]> | undefined;

/** Which execution providers load here, probed once per session and remembered. */
async function providerSummary(context: vscode.ExtensionContext, generation: GenerationService): Promise<string> {
  probed ??= generation.probeProviders().then(async (probes) => {
    await context.globalState.update('easel.providerProbe', probes);
    return probes;
  });
  const probes = await probed.catch(() => [] as ProviderProbe[]);
  return probes.map((probe) => `${probe.provider} ${probe.works ? '✓' : '✗'}`).join(' · ');
}

async function pickModel(storage: string, providers: string): Promise<string | undefined> {
  const config = readConfiguration();
  const items: Array<vscode.QuickPickItem & { path?: string; action?: 'browse' | 'download' }> = [];
  for (const entry of await listModels([storage, ...config.modelDirectories])) {
    items.push(entry.valid
      ? { label: entry.name, description: `${entry.family} · ${entry.nativeSize}px · ${entry.prediction} · ${entry.weightType} · ${(entry.sizeBytes / 1024 ** 3).toFixed(2)} GB${entry.hasSafetyChecker ? ' · safety checker' : ''}${entry.recommended ? ` · recommended: ${describeRecommended(entry.recommended.settings)}` : ''}`, detail: entry.path, path: entry.path }
      : { label: `$(warning) ${entry.name}`, description: 'cannot be used', detail: entry.reason });
  }
  items.push({ label: '$(cloud-download) Download a model…', action: 'download' }, { label: '$(folder-opened) Browse for a model folder…', action: 'browse' });
  const choice = await vscode.window.showQuickPick(items, { title: `Easel: Select Model — providers: ${providers}`, placeHolder: config.model ? `Current: ${config.model}` : 'Choose a diffusers ONNX model folder', matchOnDetail: true });
  if (!choice) return undefined;
  if (choice.path) return choice.path;
  if (choice.action === 'download') {
    void vscode.commands.executeCommand('easel.downloadModel');
    return undefined;
  }
  if (!choice.action) {
    void vscode.window.showErrorMessage(`Easel: ${choice.detail}`);
    return undefined;
  }
  const folder = await vscode.window.showOpenDialog({
    canSelectFolders: true, canSelectFiles: true, openLabel: 'Use This Model', filters: { 'Model folder or checkpoint': ['safetensors'] },
  });
  if (!folder?.[0]) return undefined;
  if (isCheckpointFile(folder[0].fsPath)) return void vscode.commands.executeCommand('easel.importCheckpoint', folder[0]);
  try {
    const problem = await componentFilesProblem(await inspectModelFolder(folder[0].fsPath));
    if (problem) throw new Error(problem);
    return folder[0].fsPath;
  } catch (error) {
    void vscode.window.showErrorMessage(`Easel: ${(error as Error).message}`);
    return undefined;
  }
}

/** Asks whether to make a new model folder the current model. */
async function offerToUse(folder: string, message: string): Promise<void> {
  const use = await vscode.window.showInformationMessage(`Easel: ${message}`, 'Use This Model');
  if (use) {
    await vscode.workspace.getConfiguration('easel').update('model', folder, vscode.ConfigurationTarget.Global);
    void GeneratorPanel.current?.refreshModel();
  }
}

/**
 * "Easel: Import Checkpoint…": a single-file .safetensors checkpoint becomes a model in Easel's library
 * (graphs built in TypeScript, weights read in place). Asks for a tokenizer folder only when no model
 * of the same family is installed to take it from.
 */
async function importCheckpointFile(context: vscode.ExtensionContext, log: vscode.LogOutputChannel, chosen?: string): Promise<string | undefined> {
  let file = chosen;
  if (!file) {
    const picked = await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectFolders: false, openLabel: 'Import', title: 'Easel: Import Checkpoint', filters: { 'Stable Diffusion checkpoint': ['safetensors'] } });
    file = picked?.[0]?.fsPath;
  }
  if (!file) return undefined;
  let tokenizerDir: string | undefined;
  for (;;) {
    try {
      const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Easel: importing ${basename(file)}` }, (progress) =>
        importCheckpoint(file!, {
          destinationRoot: modelsDir(context), tokenizerDir,
          onStage: (stage) => progress.report({ message: stage === 'hashing' ? 'hashing the file (Model hash)…' : `${stage}…` }),
        }));
      log.info(`Imported ${file} (${result.family}, model hash ${result.modelHash}) as ${result.folder}${result.reused ? ' (already imported)' : ''}.`);
      return result.folder;
    } catch (error) {
      const message = (error as Error).message;
      log.error(`Import of ${file} failed: ${message}`);
      if (isEaselError(error, 'TOKENIZER_INVALID') && tokenizerDir === undefined) {
        const answer = await vscode.window.showErrorMessage(`Easel: ${message}`, 'Choose Tokenizer Folder…');
        const picked = answer ? await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Use This Tokenizer' }) : undefined;
        if (!picked?.[0]) return undefined;
        tokenizerDir = picked[0].fsPath;
        continue;
      }
      void vscode.window.showErrorMessage(`Easel: ${message}`);
      return undefined;
    }
  }
}

/** "Easel: Download Model…": a curated list or any owner/repo, licence first, then a cancellable, resumable download. */
async function downloadFromHub(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): Promise<void> {
  const items: Array<vscode.QuickPickItem & { repo?: string; revision?: string; download?: DownloadKind }> = [...CURATED_MODELS, ...CURATED_TINY_DECODERS].map((model) => ({
    label: model.title, description: `${model.approximateSize} · ${model.license}`, detail: `${model.repo}${model.revision === 'main' ? '' : `@${model.revision}`} — ${model.purpose}`, repo: model.repo, revision: model.revision,
    download: CURATED_TINY_DECODERS.includes(model as (typeof CURATED_TINY_DECODERS)[number]) ? 'tinyDecoder' : 'model',
  }));
  items.push({ label: '$(edit) Another repository (owner/name[@revision])…' });
  const choice = await vscode.window.showQuickPick(items, { title: 'Easel: Download Model', matchOnDetail: true });
  if (!choice) return;
  let repo = choice.repo;
  let revision = choice.revision ?? 'main';
  if (!repo) {
    const typed = await vscode.window.showInputBox({ title: 'Hugging Face repository', prompt: 'owner/name, optionally @revision (a diffusers ONNX export)', validateInput: (value) => (/^[\w.-]+\/[\w.-]+(@[\w./-]+)?$/.test(value.trim()) ? undefined : 'Use owner/name or owner/name@revision') });
    if (!typed) return;
    [repo, revision = 'main'] = typed.trim().split('@');
  }
  const token = await huggingFaceToken(context);
  const endpoint = vscode.workspace.getConfiguration('easel').get<string>('huggingFaceEndpoint') || DEFAULT_HUB_ENDPOINT;
  try {
    const folder = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Easel: downloading ${repo}`, cancellable: true }, async (progress, token2) => {
      const controller = new AbortController();
      token2.onCancellationRequested(() => controller.abort());
      let last = 0;
      return downloadModel({
        repo: repo!, revision, kind: choice.download, destinationRoot: modelsDir(context), endpoint, token, signal: controller.signal,
        confirmLicense: async (license, files, total) => {
          const answer = await vscode.window.showInformationMessage(
            `${repo} is ${(total / 1024 ** 3).toFixed(2)} GB in ${files.length} files. Licence: ${license ?? 'not stated in the model card — check the model page'}. Do you accept its licence and download it?`,
            { modal: true }, 'Accept and Download');
          return answer === 'Accept and Download';
        },
        onProgress: (p) => {
          const percent = (p.bytesDone / p.bytesTotal) * 100;
          progress.report({ increment: percent - last, message: `${(p.bytesDone / 1024 ** 2).toFixed(0)} / ${(p.bytesTotal / 1024 ** 2).toFixed(0)} MB · ${(p.bytesPerSecond / 1024 ** 2).toFixed(1)} MB/s · ETA ${Math.ceil(p.etaSeconds)} s` });
          last = percent;
        },
      });
    });
    log.info(`Downloaded ${repo} to ${folder}.`);
    if (choice.download === 'tinyDecoder') {
      const use = await vscode.window.showInformationMessage(`Easel: the tiny decoder is ready; live previews now show decoded images. Use it for the final images too (easel.decoder "tiny")?`, 'Use for Images');
      if (use) await vscode.workspace.getConfiguration('easel').update('decoder', 'tiny', vscode.ConfigurationTarget.Global);
      return;
    }
    await offerToUse(folder, `${repo} is ready.`);
  } catch (error) {
    const message = (error as Error).message;
    log.error(`Download of ${repo} failed: ${message}`);
    void vscode.window.showErrorMessage(`Easel: ${message}`);
  }
}
