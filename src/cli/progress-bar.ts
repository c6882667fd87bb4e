/**
 * A one-line progress bar on stderr for long CLI work (backup, import): redrawn in place on a
 * terminal, silent otherwise (scripts and logs get the final result line instead).
 */
export class ProgressBar {
  private lastDraw = 0;
  private readonly enabled: boolean;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    enabled?: boolean,
  ) {
    this.enabled = enabled ?? stream.isTTY === true;
  }

  /** Draws done/total (at most every 100 ms, and always the last step). */
  update(done: number, total: number, detail = ''): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (done < total && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = 30;
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(ratio * width);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    this.stream.write(`\r${this.label} ${bar} ${(ratio * 100).toFixed(0).padStart(3)}%${detail ? ` ${detail}` : ''}\x1b[K`);
  }

  /** Ends the line. */
  done(): void {
    if (this.enabled) this.stream.write('\n');
  }
}
