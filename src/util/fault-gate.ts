import { describeStorageError, explainStorageError } from './storage-fault.js';
import type { Logger } from './logger.js';

export interface FaultGateOptions {
  /** What fails, for log lines ("capture store", "pcap writer"). */
  name: string;
  /** First wait after a failure (ms); doubles per consecutive failure. */
  retryDelayMs: number;
  /** Longest wait between attempts (ms). */
  maxRetryDelayMs: number;
  /** Clock (tests). */
  now?: () => number;
  /** Directory of the files written: failures name it, and an I/O error is probed there (read-only? full?). */
  dir?: string;
}

export interface FaultGateStats {
  /** `ok`, or `failing` while writes fail and wait for their next attempt. */
  state: 'ok' | 'failing';
  /** Failed attempts in the current failing period (0 when ok). */
  consecutiveFailures: number;
  /** Failed attempts since start. */
  failures: number;
  /** Times the state went from ok to failing. */
  outages: number;
  /** Why the last attempt failed (null when ok). */
  lastError: string | null;
  /** When the next attempt is due (ms since the epoch; null when ok). */
  nextAttemptAt: number | null;
}

/**
 * The state of a writer that can fail as a whole (disk full, read-only, database locked): after a
 * failure, no attempt before an exponentially growing delay; one log line when it starts failing
 * and one when it recovers (with the count of failed attempts), never one per attempt.
 */
export class FaultGate {
  private consecutive = 0;
  private failures = 0;
  private outages = 0;
  private lastError: string | null = null;
  private nextAt = 0;
  private readonly now: () => number;

  constructor(
    private readonly options: FaultGateOptions,
    private readonly logger?: Logger,
  ) {
    this.now = options.now ?? Date.now;
  }

  get failing(): boolean {
    return this.consecutive > 0;
  }

  /** True when an attempt may be made now (ok, or the wait after the last failure is over). */
  mayAttempt(): boolean {
    return this.consecutive === 0 || this.now() >= this.nextAt;
  }

  /** Milliseconds until an attempt may be made (0 when it may now). */
  waitMs(): number {
    return this.consecutive === 0 ? 0 : Math.max(0, this.nextAt - this.now());
  }

  /** Records a failed attempt; returns the wait before the next one (ms). */
  failed(err: unknown, context: Record<string, unknown> = {}): number {
    this.failures++;
    this.consecutive++;
    this.lastError = this.options.dir === undefined ? describeStorageError(err) : explainStorageError(err, this.options.dir);
    const delay = Math.min(this.options.maxRetryDelayMs, this.options.retryDelayMs * 2 ** Math.min(this.consecutive - 1, 20));
    this.nextAt = this.now() + delay;
    if (this.consecutive === 1) {
      this.outages++;
      this.logger?.error({ store: this.options.name, reason: this.lastError, retryInMs: delay, ...context }, 'writes failing: retrying with backoff');
    }
    return delay;
  }

  /** Records a successful attempt (logs the recovery once). */
  succeeded(context: Record<string, unknown> = {}): void {
    if (this.consecutive === 0) return;
    this.logger?.warn({ store: this.options.name, failedAttempts: this.consecutive, lastError: this.lastError, ...context }, 'writes recovered');
    this.consecutive = 0;
    this.lastError = null;
  }

  stats(): FaultGateStats {
    return {
      state: this.consecutive > 0 ? 'failing' : 'ok',
      consecutiveFailures: this.consecutive,
      failures: this.failures,
      outages: this.outages,
      lastError: this.lastError,
      nextAttemptAt: this.consecutive > 0 ? this.nextAt : null,
    };
  }
}
