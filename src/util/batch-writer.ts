import { FaultGate, type FaultGateStats } from './fault-gate.js';
import type { Logger } from './logger.js';
import type { WriteTurnPort } from './write-turn-port.js';

export interface BatchWriterOptions {
  /** Flush when this many items wait. */
  maxBatch: number;
  /** Flush at the latest this long after the first waiting item (ms). */
  maxDelayMs: number;
  /** Items kept while the sink fails; beyond this, add() refuses (counted). */
  maxPending: number;
  /** Wait before the first retry of a failed flush (ms); doubles per consecutive failure. */
  retryDelayMs?: number;
  /** Longest wait between retries (ms). */
  maxRetryDelayMs?: number;
  /** Name in log lines (default "batch writer"). */
  name?: string;
  /** Clock (tests). */
  now?: () => number;
  /** Directory the sink writes to: failures name it, and an I/O error is probed there (read-only? full?). */
  dir?: string;
  /**
   * A write turn shared with another writer of the same database in this process (the BTN write
   * thread: src/store/write-turn.ts). While the other holds it, a flush is not attempted (it would
   * wait in SQLite's busy handler, then fail and back off): it runs when the turn is free, at most
   * `turnWaitMs` (default 2,000) later, then regardless. Not a failure: intake goes on.
   */
  turn?: WriteTurnPort;
  turnWaitMs?: number;
}

export interface BatchWriterStats extends FaultGateStats {
  pending: number;
  written: number;
  batches: number;
  refused: number;
  /** Flushes put off because the other writer of the turn was writing. */
  turnWaits?: number;
}

/**
 * Collects items and hands them to a synchronous sink (one SQLite transaction per batch).
 *
 * A failing sink (disk full, database locked, read-only) keeps the items and retries after a delay
 * that doubles per failure (1 s … 30 s by default). Nothing bypasses that delay: while the sink
 * fails, add() only queues (up to maxPending, then refuses and counts), so a full disk costs one
 * failed transaction per retry, not one per new item. The first failure and the recovery are
 * logged once each, with the count; `accepting()` tells producers to pause their intake meanwhile.
 */
export class BatchWriter<T> {
  private buffer: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly counters = { written: 0, batches: 0, refused: 0, turnWaits: 0 };
  /** Since when a flush waits for the turn (undefined: not waiting). */
  private turnWaitSince: number | undefined;
  private turnWaiting = false;
  private readonly gate: FaultGate;

  constructor(
    private readonly sink: (batch: T[]) => void,
    private readonly options: BatchWriterOptions,
    logger?: Logger,
  ) {
    this.gate = new FaultGate(
      {
        name: options.name ?? 'batch writer',
        retryDelayMs: options.retryDelayMs ?? 1000,
        maxRetryDelayMs: options.maxRetryDelayMs ?? 30_000,
        ...(options.now ? { now: options.now } : {}),
        ...(options.dir !== undefined ? { dir: options.dir } : {}),
      },
      logger,
    );
  }

  /** False while the sink fails: producers should not start new work whose result must be stored. */
  accepting(): boolean {
    return !this.gate.failing;
  }

  add(item: T): boolean {
    if (this.buffer.length >= this.options.maxPending) {
      this.counters.refused++;
      return false;
    }
    this.buffer.push(item);
    if (this.gate.failing) return true; // the retry timer is set; never write ahead of it
    if (this.turnWaitSince !== undefined) return true; // written when the turn is free
    if (this.buffer.length >= this.options.maxBatch) this.flush();
    else if (this.timer === undefined) this.arm(this.options.maxDelayMs);
    return true;
  }

  /** Flushes after `delayMs`; the handle is cleared when it fires, so a live handle means a pending flush. */
  private arm(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, delayMs);
  }

  /**
   * Writes everything waiting now, unless a failed flush's retry delay is still running (then
   * nothing is attempted). Returns false if items are left (sink failed, or waiting to retry).
   */
  flush(): boolean {
    if (!this.gate.mayAttempt()) {
      // A timer can fire a millisecond before the gate's clock says the wait is over: without a new
      // timer nothing would ever retry (add() never writes ahead of the retry), and the items would
      // wait in memory for good.
      if (this.buffer.length > 0 && this.timer === undefined) this.arm(Math.max(1, this.gate.waitMs()));
      return this.buffer.length === 0;
    }
    return this.writeAll();
  }

  private writeAll(useTurn = true): boolean {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const turn = this.options.turn;
    const now = Date.now();
    if (useTurn && turn && this.buffer.length > 0 && (this.turnWaitSince === undefined || now - this.turnWaitSince < (this.options.turnWaitMs ?? 2000))) {
      if (!turn.tryTake()) {
        if (this.turnWaitSince === undefined) {
          this.turnWaitSince = now;
          this.counters.turnWaits++;
        }
        if (!this.turnWaiting) {
          this.turnWaiting = true;
          void turn.whenFree(Math.max(1, (this.options.turnWaitMs ?? 2000) - (now - this.turnWaitSince))).then(() => {
            this.turnWaiting = false;
            if (this.turnWaitSince !== undefined) this.flush();
          });
        }
        return false;
      }
      this.turnWaitSince = undefined;
      try {
        return this.writeBuffered();
      } finally {
        turn.release();
      }
    }
    this.turnWaitSince = undefined;
    return this.writeBuffered();
  }

  private writeBuffered(): boolean {
    while (this.buffer.length > 0) {
      const batch = this.buffer.slice(0, this.options.maxBatch);
      try {
        this.sink(batch);
      } catch (err) {
        this.arm(this.gate.failed(err, { pending: this.buffer.length }));
        return false;
      }
      this.buffer.splice(0, batch.length);
      this.counters.written += batch.length;
      this.counters.batches++;
      this.gate.succeeded({ pending: this.buffer.length });
    }
    return true;
  }

  stats(): BatchWriterStats {
    return { pending: this.buffer.length, ...this.counters, ...this.gate.stats() };
  }

  /** One last attempt to write everything (even while backing off), then stops the timer. */
  close(): boolean {
    const ok = this.writeAll(false);
    this.turnWaitSince = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    return ok;
  }
}
