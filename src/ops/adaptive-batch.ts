/**
 * The size of the next unit of blocking work (rows per delete, pages per vacuum step), adapted to a
 * time budget: a batch that took longer than `maxMs` shrinks the next in proportion, one well under
 * it grows the next by half, between 1 and `max`. It starts small (a slow start: the first batch on
 * a cold cache can take many times the budget) and keeps what it learned for the next pass. The
 * pause after a batch is at least twice its time, so the work takes at most a third of the event loop.
 */
export class AdaptiveBatch {
  private current: number;
  private lastMs = 0;

  constructor(
    private readonly max: number,
    private readonly maxMs: number,
    private readonly minPauseMs: number,
  ) {
    this.current = Math.max(1, Math.min(Math.trunc(max), AdaptiveBatch.START));
  }

  /** Units in the first batch (or `max` when smaller). */
  static readonly START = 32;

  /** Units to take in the next batch. */
  get size(): number {
    return this.current;
  }

  /** Records how long a batch of `size` units took (ms). */
  record(ms: number): void {
    this.lastMs = ms;
    if (ms > this.maxMs) {
      this.current = Math.max(1, Math.floor(this.current * (this.maxMs / ms) * 0.8));
    } else if (ms < this.maxMs / 2) {
      this.current = Math.min(this.max, Math.ceil(this.current * 1.5));
    }
  }

  /** Pause before the next batch (ms). */
  get pauseMs(): number {
    return Math.max(this.minPauseMs, Math.ceil(2 * this.lastMs));
  }
}
