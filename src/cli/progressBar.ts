/** A one-line progress bar on stderr: redrawn in place on a terminal, a line per quarter otherwise. */
export class ProgressBar {
  private lastQuarter = -1;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  update(label: string, done: number, total: number, elapsedMs: number, unit = 'it'): void {
    const fraction = total > 0 ? done / total : 1;
    const rate = elapsedMs > 0 ? (done / elapsedMs) * 1000 : 0;
    const eta = rate > 0 ? (total - done) / rate : 0;
    const width = 24;
    const filled = Math.round(fraction * width);
    const text = `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${rate.toFixed(2)} ${unit}/s ETA ${eta.toFixed(1)}s`;
    if (this.stream.isTTY) {
      this.stream.write(`\r${text}\x1b[K`);
      return;
    }
    const quarter = Math.floor(fraction * 4);
    if (quarter !== this.lastQuarter) {
      this.lastQuarter = quarter;
      this.stream.write(`${text}\n`);
    }
  }

  finish(): void {
    if (this.stream.isTTY) this.stream.write('\n');
    this.lastQuarter = -1;
  }
}
