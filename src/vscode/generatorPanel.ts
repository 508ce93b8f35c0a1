import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import {
  isPanelSettings, parseHostToWebviewMessage, parseWebviewMessage, type EditImageView, type HostToWebviewMessage, type PanelEdit, type PanelRecommendation, type PanelSettings, type WebviewMessage,
} from '../protocol/panelMessages.ts';
import type { EditRequest } from '../service/protocol.ts';
import type { GenerationController, JobObserver } from './generationController.ts';
import type { PanelPresence } from './jobNotification.ts';

export const PANEL_VIEW_TYPE = 'easel.generator';

export interface PanelHost {
  controller: GenerationController;
  log: vscode.LogOutputChannel;
  defaults(): PanelSettings;
  statusLine(): { modelName: string; provider: string; statusLine: string };
  /** The selected model's recommended settings (easel.json or its scheduler config), if any. */
  recommended(): Promise<PanelRecommendation | undefined>;
  /** Gallery images whose files are gone (deleted or moved). */
  missingImages(): Promise<string[]>;
  onImageAction(message: Extract<WebviewMessage, { type: 'imageAction' }>, panel: GeneratorPanel): Promise<void>;
  /** Asks which LoRA (and multiplier) to use; the `<lora:NAME:M>` tag to add to the prompt. */
  pickLora(): Promise<string | undefined>;
}

/** The generator panel: one webview, created on demand or revived after a reload. */
export class GeneratorPanel implements vscode.Disposable, PanelPresence {
  static current: GeneratorPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private disposed = false;
  private readonly visibility = new vscode.EventEmitter<boolean>();
  /** Fires when the panel is shown or hidden, and `false` when it is closed. */
  readonly onDidChangeVisibility = this.visibility.event;
  private settings: PanelSettings;
  private ready = false;
  private readonly pending: HostToWebviewMessage[] = [];
  /** The init image of an edit: its bytes stay here; the webview shows a copy and sends back only the mask. */
  private editSource?: { bytes: Uint8Array; path: string; uri: vscode.Uri };

  static show(context: vscode.ExtensionContext, host: PanelHost): GeneratorPanel {
    if (GeneratorPanel.current) {
      // Revealed where it is: moving a webview to another group reloads it.
      GeneratorPanel.current.panel.reveal(undefined, false);
      return GeneratorPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(PANEL_VIEW_TYPE, 'Easel: Generate Image', vscode.ViewColumn.Beside, GeneratorPanel.options(context));
    return new GeneratorPanel(panel, context, host, undefined);
  }

  static revive(panel: vscode.WebviewPanel, context: vscode.ExtensionContext, host: PanelHost, state: unknown): GeneratorPanel {
    panel.webview.options = GeneratorPanel.options(context);
    const saved = typeof state === 'object' && state !== null ? (state as { settings?: unknown }).settings : undefined;
    return new GeneratorPanel(panel, context, host, isPanelSettings(saved) ? (saved as PanelSettings) : undefined);
  }

  private static options(context: vscode.ExtensionContext): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      // One panel: keeping it alive while hidden lets a long generation's progress and results land
      // without a reload; its state is also saved with setState for window reloads.
      retainContextWhenHidden: true,
      localResourceRoots: [vscode.Uri.joinPath(context.extensionUri, 'dist'), vscode.Uri.joinPath(context.extensionUri, 'media')],
    };
  }

  private constructor(readonly panel: vscode.WebviewPanel, private readonly context: vscode.ExtensionContext, private readonly host: PanelHost, restored?: PanelSettings) {
    GeneratorPanel.current = this;
    this.settings = restored ?? host.defaults();
    panel.iconPath = vscode.Uri.joinPath(context.extensionUri, 'media', 'easel.svg');
    panel.webview.html = this.html();
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.onDidChangeViewState(({ webviewPanel }) => this.visibility.fire(webviewPanel.visible)),
      panel.webview.onDidReceiveMessage((raw: unknown) => void this.receive(raw)),
    );
  }

  get visible(): boolean {
    return !this.disposed && this.panel.visible;
  }

  get currentSettings(): PanelSettings {
    return this.settings;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (GeneratorPanel.current === this) GeneratorPanel.current = undefined;
    this.visibility.fire(false);
    this.visibility.dispose();
    this.panel.dispose();
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }

  post(message: HostToWebviewMessage): void {
    // A job started here goes on after the panel is closed (its notification shows it).
    if (this.disposed) return;
    // The webview checks every message with the same shapes and drops what fails; check here first so
    // a message it would reject is said out loud instead of silently doing nothing.
    try {
      parseHostToWebviewMessage(message);
    } catch (error) {
      const text = `Easel could not update the panel (${message.type}): ${(error as Error).message}`;
      this.host.log.error(text);
      void vscode.window.showErrorMessage(text);
      return;
    }
    if (!this.ready) {
      if (message.type !== 'preview' && message.type !== 'progress') this.pending.push(message);
      return;
    }
    void this.panel.webview.postMessage(message);
  }

  /** Fills the form (regenerate from PNG) and says what could not be carried over. */
  fill(settings: PanelSettings, notes: string[]): void {
    this.settings = settings;
    this.post({ type: 'fill', settings, notes });
  }

  /** Makes an image the init image (Edit with Easel…, Regenerate of an edit); `view` says what the webview shows. */
  setEditImage(source: { bytes: Uint8Array; path: string; uri: vscode.Uri }, view: Omit<EditImageView, 'dataUrl' | 'name'>): void {
    this.editSource = source;
    const mime = /\.png$/i.test(source.path) ? 'image/png' : /\.webp$/i.test(source.path) ? 'image/webp' : 'image/jpeg';
    this.post({ type: 'editImage', image: { dataUrl: `data:${mime};base64,${Buffer.from(source.bytes).toString('base64')}`, name: source.path, ...view } });
  }

  clearEditImage(): void {
    this.editSource = undefined;
    this.post({ type: 'editImage' });
  }

  async refreshModel(): Promise<void> {
    const recommended = await this.host.recommended();
    this.post({ type: 'model', ...this.host.statusLine(), ...(recommended ? { recommended } : {}) });
  }

  observer(): JobObserver {
    return {
      progress: (progress) => this.post({ type: 'progress', progress }),
      preview: (width, height, rgba) => this.post({ type: 'preview', width, height, rgbaBase64: Buffer.from(rgba).toString('base64') }),
      image: (item) => this.post({ type: 'image', item }),
      finished: (outcome, message, field) => this.post({ type: 'finished', outcome, message, ...(field ? { field } : {}) }),
    };
  }

  private async receive(raw: unknown): Promise<void> {
    let message: WebviewMessage;
    try {
      message = parseWebviewMessage(raw);
    } catch (error) {
      this.host.log.warn(`Panel: ${(error as Error).message}`);
      return;
    }
    switch (message.type) {
      case 'ready': {
        this.ready = true;
        const trusted = vscode.workspace.isTrusted;
        this.panel.webview.postMessage({ type: 'init', settings: this.settings, trusted, gallery: [], ...this.host.statusLine() } satisfies HostToWebviewMessage);
        for (const queued of this.pending.splice(0)) void this.panel.webview.postMessage(queued);
        this.panel.webview.postMessage({ type: 'busy', busy: this.host.controller.busy } satisfies HostToWebviewMessage);
        // Read from disk after the form is filled in, so nothing typed meanwhile is lost.
        await this.refreshModel();
        const missing = await this.host.missingImages();
        if (missing.length > 0) this.post({ type: 'imagesMissing', imageIds: missing.slice(-1000) });
        break;
      }
      case 'settingsChanged':
        this.settings = message.settings;
        break;
      case 'generate':
        this.settings = message.settings;
        if (!message.settings.prompt.trim()) {
          this.post({ type: 'finished', outcome: 'error', message: 'Write a prompt first.', field: 'prompt' });
          return;
        }
        this.post({ type: 'busy', busy: true });
        await this.host.controller.run(message.settings, this.observer(), this.editSource?.uri, this.editRequest(message.edit), {
          title: `Easel: generating “${ellipsis(message.settings.prompt, 60)}”`, whileHidden: this,
        });
        break;
      case 'clearEdit':
        this.editSource = undefined;
        break;
      case 'cancel':
        this.host.controller.cancel();
        break;
      case 'selectModel':
        await vscode.commands.executeCommand('easel.selectModel');
        break;
      case 'pickLora': {
        const tag = await this.host.pickLora();
        if (tag) this.post({ type: 'addToPrompt', text: tag });
        break;
      }
      case 'imageAction':
        await this.host.onImageAction(message, this);
        break;
    }
  }

  /** The worker's edit request: the init image's bytes and workspace path, the painted mask, strength and blur. */
  private editRequest(edit: PanelEdit | undefined): EditRequest | undefined {
    const source = this.editSource;
    if (!source || !edit) return undefined;
    const mask = edit.mask ? Buffer.from(edit.mask.slice(edit.mask.indexOf(',') + 1), 'base64') : undefined;
    return {
      image: source.bytes.slice().buffer as ArrayBuffer, imagePath: source.path, strength: edit.strength, maskBlur: edit.maskBlur,
      ...(mask ? { mask: mask.buffer.slice(mask.byteOffset, mask.byteOffset + mask.byteLength) as ArrayBuffer, maskPath: '(painted in the panel)' } : {}),
    };
  }

  private html(): string {
    const webview = this.panel.webview;
    const nonce = randomBytes(16).toString('base64');
    const asset = (...path: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(this.context.extensionUri, ...path));
    const csp = [
      "default-src 'none'",
      `img-src ${webview.cspSource} data:`,
      `style-src ${webview.cspSource} 'nonce-${nonce}'`,
      `font-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${asset('dist', 'codicons', 'codicon.css')}" nonce="${nonce}">
<link rel="stylesheet" href="${asset('media', 'panel.css')}" nonce="${nonce}">
<title>Easel: Generate Image</title>
</head>
<body>
<div id="app" data-defaults="${encodeURIComponent(JSON.stringify(this.settings))}"></div>
<script nonce="${nonce}" src="${asset('dist', 'webview.js')}"></script>
</body>
</html>`;
  }
}

function ellipsis(text: string, length: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= length ? line : `${line.slice(0, length - 1)}…`;
}
