import type { NotifyTarget, TargetStatus } from './types.js';

/** Counters and last outcomes of one target since start; the relay or digest updates it, status() reads it. */
export class TargetStats {
  delivered = 0;
  failed = 0;
  retried = 0;
  parkedSinceStart = 0;
  lastSuccessAt: number | undefined;
  lastError: { at: number; message: string } | undefined;
  nextRetryAt: number | undefined;
  connected = false;
  readonly details: Record<string, unknown> = {};

  constructor(
    readonly target: NotifyTarget,
    readonly enabled: boolean,
  ) {}

  success(count: number, now: number = Date.now()): void {
    this.delivered += count;
    this.lastSuccessAt = now;
    this.nextRetryAt = undefined;
  }

  failure(count: number, message: string, retryAt: number | undefined, now: number = Date.now()): void {
    this.failed += count;
    this.lastError = { at: now, message };
    this.nextRetryAt = retryAt;
  }

  snapshot(backlog: number, parked: number, oldestPendingAt?: number): TargetStatus {
    const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());
    return {
      enabled: this.enabled,
      backlog,
      oldestPendingAt: iso(oldestPendingAt),
      parked,
      lastSuccessAt: iso(this.lastSuccessAt),
      lastError: this.lastError ? { at: new Date(this.lastError.at).toISOString(), message: this.lastError.message } : null,
      delivered: this.delivered,
      failed: this.failed,
      retried: this.retried,
      parkedSinceStart: this.parkedSinceStart,
      nextRetryAt: this.nextRetryAt !== undefined && this.nextRetryAt > Date.now() ? iso(this.nextRetryAt) : null,
      connected: this.connected,
      details: { ...this.details },
    };
  }
}
