import type { Logger } from './logger.js';

export interface BatchWriterOptions {
  /** Flush when this many items wait. */
  maxBatch: number;
  /** Flush at the latest this long after the first waiting item (ms). */
  maxDelayMs: number;
  /** Items kept while the sink fails; beyond this, add() refuses (counted). */
  maxPending: number;
  /** Wait before retrying a failed flush (ms). */
  retryDelayMs?: number;
}

export interface BatchWriterStats {
  pending: number;
  written: number;
  batches: number;
  failures: number;
  refused: number;
}

/**
 * Collects items and hands them to a synchronous sink (one SQLite transaction per batch). A failing
 * sink keeps the items and retries later; nothing is dropped silently (add() returns false when full).
 */
export class BatchWriter<T> {
  private buffer: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly counters = { written: 0, batches: 0, failures: 0, refused: 0 };

  constructor(
    private readonly sink: (batch: T[]) => void,
    private readonly options: BatchWriterOptions,
    private readonly logger?: Logger,
  ) {}

  add(item: T): boolean {
    if (this.buffer.length >= this.options.maxPending) {
      this.counters.refused++;
      return false;
    }
    this.buffer.push(item);
    if (this.buffer.length >= this.options.maxBatch) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.options.maxDelayMs);
    return true;
  }

  /** Writes everything waiting now. Returns false if the sink failed (items kept for a retry). */
  flush(): boolean {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.buffer.length > 0) {
      const batch = this.buffer.slice(0, this.options.maxBatch);
      try {
        this.sink(batch);
      } catch (err) {
        this.counters.failures++;
        this.logger?.error({ err, items: this.buffer.length }, 'batch write failed; will retry');
        this.timer = setTimeout(() => this.flush(), this.options.retryDelayMs ?? 1000);
        return false;
      }
      this.buffer.splice(0, batch.length);
      this.counters.written += batch.length;
      this.counters.batches++;
    }
    return true;
  }

  stats(): BatchWriterStats {
    return { pending: this.buffer.length, ...this.counters };
  }

  /** Flushes and stops the timer. */
  close(): void {
    this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
