import * as vscode from 'vscode';

/** Whether the panel that started a job is on screen; `false` for good once it is closed. */
export interface PanelPresence {
  readonly visible: boolean;
  readonly onDidChangeVisibility: vscode.Event<boolean>;
}

/**
 * How a job shows itself outside the panel: a cancellable progress notification titled `title`,
 * for the whole job, or — with `whileHidden` — only while that panel is not visible (the panel shows
 * the same progress and its own Cancel, so both at once would say everything twice).
 */
export interface JobNotice {
  title: string;
  whileHidden?: PanelPresence;
}

interface Showing {
  progress: vscode.Progress<{ message?: string; increment?: number }>;
  /** Percent already reported to this showing: withProgress takes increments, not positions. */
  reported: number;
  close(): void;
}

/**
 * A job's cancellable progress notification, which can be shown and closed again while the job runs;
 * each showing starts at the job's current message and progress. Cancel cancels the job.
 */
export class JobNotification implements vscode.Disposable {
  private showing?: Showing;
  private message = '';
  private percent = 0;
  private disposed = false;
  private cancelled = false;

  constructor(private readonly title: string, private readonly cancel: () => void) {}

  get visible(): boolean {
    return this.showing !== undefined;
  }

  show(): void {
    if (this.showing || this.disposed || this.cancelled) return;
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: this.title, cancellable: true }, (progress, token) =>
      new Promise<void>((resolve) => {
        const showing: Showing = {
          progress, reported: 0,
          close: () => {
            subscription.dispose();
            if (this.showing === showing) this.showing = undefined;
            resolve();
          },
        };
        const subscription = token.onCancellationRequested(() => {
          this.cancelled = true;
          this.cancel();
          showing.close();
        });
        this.showing = showing;
        this.flush();
      }));
  }

  hide(): void {
    this.showing?.close();
  }

  /** The latest progress text, and how far the job is (0…1) when that is known. */
  report(message: string, fraction?: number): void {
    this.message = message;
    if (fraction !== undefined) this.percent = Math.max(this.percent, Math.min(100, fraction * 100));
    this.flush();
  }

  dispose(): void {
    this.disposed = true;
    this.hide();
  }

  private flush(): void {
    const showing = this.showing;
    if (!showing) return;
    const increment = this.percent - showing.reported;
    showing.reported = this.percent;
    showing.progress.report(increment > 0 ? { message: this.message, increment } : { message: this.message });
  }
}
