import type { Logger } from '../util/logger.js';
import { errorMessage } from '../util/app-error.js';
import type { OutboxRow, OutboxTarget } from '../store/outbox-repository.js';
import { RateLimiter, Sleeper, withTimeout } from './async-util.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import type { TargetStats } from './target-stats.js';
import type { DeliveryOutcome, NotificationSink } from './types.js';

/** The part of the outbox repository the relay uses. */
export interface RelayOutboxStore {
  nextBatch(target: OutboxTarget, limit: number, offset?: number): OutboxRow[];
  settle(outcome: {
    delivered?: readonly number[];
    parked?: ReadonlyArray<{ id: number; reason: string }>;
    failed?: { ids: readonly number[]; error: string; nextAttemptAt: number };
  }): void;
}

export interface RelayOptions {
  /** Rows handed to the sink in one delivery. */
  batchSize: number;
  /**
   * Deliveries in flight at once (pipelining: the next batch is published while the broker confirms the
   * previous one). Unconfirmed rows are at most batchSize × windows (notify.amqp.maxInFlight).
   */
  windows: number;
  /** How often an idle relay looks for new rows. */
  pollIntervalMs: number;
  /** Bound on sink.open() (connect). */
  openTimeoutMs: number;
  /** Bound on one sink.deliver() (publish + confirms). */
  deliverTimeoutMs: number;
  /** How long stop() waits for the attempt in progress before closing the sink anyway. */
  stopTimeoutMs: number;
  backoff: BackoffPolicy;
  /** While failing, a warning at most this often (the first failure always warns). */
  warnIntervalMs: number;
}

export const DEFAULT_RELAY_OPTIONS: RelayOptions = {
  batchSize: 500,
  windows: 2,
  pollIntervalMs: 50,
  openTimeoutMs: 15_000,
  deliverTimeoutMs: 30_000,
  stopTimeoutMs: 5_000,
  backoff: DEFAULT_BACKOFF,
  warnIntervalMs: 5 * 60_000,
};

/**
 * Moves outbox rows of one target to a NotificationSink: reads the oldest rows in id order (at most
 * batchSize), hands them over, and only then settles them: deletes what the sink confirmed, parks what
 * it called poison, records the failure on the rest and backs off (capped exponential, jitter). After a
 * failure it lets the deliveries in flight finish and starts again from the oldest unconfirmed row, so
 * per-filter order is kept (duplicates of unconfirmed rows are possible: at-least-once). At most
 * `windows` deliveries of `batchSize` rows are in flight, handed over in id order.
 */
export class OutboxRelay {
  private readonly options: RelayOptions;
  private readonly sleeper = new Sleeper();
  private readonly warnLimiter: RateLimiter;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private closed = false;
  private consecutiveFailures = 0;
  private retryAt = 0;
  private failingSince: number | undefined;
  private lastFailure: 'unreachable' | 'failed' | undefined;

  constructor(
    private readonly deps: {
      outbox: RelayOutboxStore;
      sink: NotificationSink;
      stats: TargetStats;
      logger: Logger;
      now?: () => number;
    },
    options: Partial<RelayOptions> = {},
  ) {
    this.options = { ...DEFAULT_RELAY_OPTIONS, ...options };
    this.warnLimiter = new RateLimiter(this.options.warnIntervalMs);
    deps.sink.onUnavailable?.((reason) => {
      deps.stats.connected = false;
      deps.stats.lastError = { at: this.now(), message: reason };
      this.sleeper.wake();
    });
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  get target(): OutboxTarget {
    return this.deps.sink.target;
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run().catch((err: unknown) => {
      // Not expected (every step catches); logged so that a bug does not stop delivery silently.
      this.deps.logger.error({ err }, 'notification relay stopped by an unexpected error');
    });
  }

  /** New rows were stored: look now instead of at the next poll. */
  wake(): void {
    this.sleeper.wake();
  }

  /** Stops after the attempt in progress (bounded by stopTimeoutMs), then closes the sink. Rows not confirmed stay. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.sleeper.wake();
    if (this.loop) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        this.loop.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), this.options.stopTimeoutMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) this.deps.logger.warn('delivery still in progress at stop: its rows stay in the outbox and go again next start');
    }
    // From here on nothing touches the database (it may be closed right after).
    this.closed = true;
    try {
      await this.deps.sink.close();
    } catch (err) {
      this.deps.logger.warn({ err: errorMessage(err) }, 'closing the notification target failed');
    }
  }

  private async run(): Promise<void> {
    const { sink, outbox, stats } = this.deps;
    const o = this.options;
    // Deliveries in flight → how many rows each holds (all still in the outbox: a batch settles at once).
    const inflight = new Map<Promise<void>, number>();
    let lastHandedOut = 0;
    let restart = false;
    const settled = (): Promise<void> => Promise.race(inflight.keys());

    while (!this.stopping) {
      if (inflight.size === 0) {
        // Nothing in flight: the place to back off, (re)connect, and restart from the oldest row.
        restart = false;
        const wait = this.retryAt - this.now();
        if (wait > 0) {
          await this.sleeper.sleep(wait);
          continue;
        }
        try {
          await withTimeout(sink.open(), o.openTimeoutMs, `connecting to ${sink.target}`);
          stats.connected = true;
          if (this.lastFailure === 'unreachable') this.recovered('reachable again');
        } catch (err) {
          sink.reset(errorMessage(err));
          stats.connected = false;
          this.failed(errorMessage(err), [], 'unreachable');
          continue;
        }
        if (this.stopping) break;
      } else if (restart || inflight.size >= o.windows) {
        await settled();
        continue;
      }

      const limit = Math.max(1, Math.min(o.batchSize, sink.maxBatch?.() ?? o.batchSize));
      if (inflight.size > 0 && limit < o.batchSize) {
        await settled(); // the sink is narrowing down a poisoned message: one at a time, nothing beside it
        continue;
      }
      // The rows in flight are the oldest pending ones (new rows always get higher ids): skip them.
      let offset = 0;
      for (const n of inflight.values()) offset += n;
      const rows = outbox.nextBatch(sink.target, limit, offset);
      if (rows.length === 0) {
        await Promise.race([this.sleeper.sleep(o.pollIntervalMs), ...inflight.keys()]);
        continue;
      }
      if (inflight.size > 0 && (rows[0] as OutboxRow).id <= lastHandedOut) {
        await settled(); // rows were put back in line under us (unpark): restart from the head when idle
        continue;
      }
      lastHandedOut = (rows[rows.length - 1] as OutboxRow).id;
      const p: Promise<void> = this.attempt(rows)
        .then((ok) => {
          if (!ok) restart = true;
        })
        .finally(() => inflight.delete(p));
      inflight.set(p, rows.length);
    }
    await Promise.allSettled(inflight.keys());
  }

  /** One delivery: hand the rows over, then settle them. False when some were not confirmed. */
  private async attempt(rows: readonly OutboxRow[]): Promise<boolean> {
    const { sink } = this.deps;
    let outcome: DeliveryOutcome;
    try {
      outcome = await withTimeout(sink.deliver(rows), this.options.deliverTimeoutMs, `delivery of ${rows.length} notifications`);
    } catch (err) {
      sink.reset(errorMessage(err));
      outcome = { delivered: [], parked: [], failed: { ids: rows.map((r) => r.id), error: errorMessage(err) } };
    }
    if (this.closed) return false;
    this.settle(rows, outcome);
    const done = outcome.delivered.length + outcome.parked.length;
    return (outcome.failed?.ids.length ?? 0) === 0 && done === rows.length;
  }

  private settle(rows: readonly OutboxRow[], outcome: DeliveryOutcome): void {
    const { outbox, stats, logger } = this.deps;
    const now = this.now();
    const byId = new Map(rows.map((r) => [r.id, r]));
    const failedIds = outcome.failed?.ids ?? [];
    const retryAt = failedIds.length > 0 ? now + backoffDelay(this.consecutiveFailures + 1, this.options.backoff) : 0;
    const error = outcome.failed?.error ?? '';
    outbox.settle({
      delivered: outcome.delivered,
      parked: outcome.parked,
      failed: failedIds.length > 0 ? { ids: failedIds, error, nextAttemptAt: retryAt } : undefined,
    });

    for (const id of [...outcome.delivered, ...failedIds]) {
      if ((byId.get(id)?.attempts ?? 0) > 0) stats.retried++;
    }
    if (outcome.parked.length > 0) {
      stats.parkedSinceStart += outcome.parked.length;
      // One line per batch (a misconfiguration can make every message poison: no flood).
      const first = outcome.parked[0] as { id: number; reason: string };
      const row = byId.get(first.id);
      logger.warn(
        {
          target: this.target,
          notifications: outcome.parked.length,
          outboxId: first.id,
          captureId: row?.captureId,
          filter: row?.filter,
          reasons: [...new Set(outcome.parked.map((p) => p.reason))].slice(0, 3),
        },
        'notifications parked (not deliverable as they are; kept in the outbox); the queue goes on',
      );
    }
    if (outcome.delivered.length > 0) stats.success(outcome.delivered.length, now);
    if (failedIds.length > 0) {
      this.failed(error, failedIds, 'failed', retryAt);
    } else if (this.consecutiveFailures > 0) {
      this.recovered('notification delivery resumed');
    }
  }

  private recovered(message: string): void {
    const now = this.now();
    this.deps.logger.info(
      { target: this.target, failures: this.consecutiveFailures, downForMs: now - (this.failingSince ?? now) },
      message,
    );
    this.consecutiveFailures = 0;
    this.failingSince = undefined;
    this.lastFailure = undefined;
    this.deps.stats.nextRetryAt = undefined;
    this.warnLimiter.reset('fail');
  }

  private failed(error: string, ids: readonly number[], kind: 'unreachable' | 'failed', retryAt?: number): void {
    const now = this.now();
    this.consecutiveFailures++;
    this.failingSince ??= now;
    this.lastFailure = kind;
    const at = retryAt ?? now + backoffDelay(this.consecutiveFailures, this.options.backoff);
    this.retryAt = at;
    this.deps.stats.failure(ids.length, error, at, now);
    const fields = {
      target: this.target,
      error,
      failures: this.consecutiveFailures,
      retryInMs: at - now,
      notifications: ids.length,
    };
    const msg =
      kind === 'unreachable'
        ? 'target unreachable: captures continue, notifications wait in the outbox and go out when it is back'
        : 'delivery failed: the notifications stay in the outbox and are retried';
    if (this.warnLimiter.allow('fail', now, (suppressed) => Object.assign(fields, { suppressedWarnings: suppressed }))) {
      this.deps.logger.warn(fields, msg);
    } else {
      this.deps.logger.debug(fields, msg);
    }
  }
}
