import type { Logger } from '../../util/logger.js';
import type { PgStore } from './pg-store.js';

const DAY_MS = 86_400_000;

export interface PgRetentionLimits {
  /** Captures older than this many days go (0 = kept forever), a whole month at a time. */
  captures: number;
  /** Peers last seen before this many days ago go (0 = kept). */
  sightings: number;
  /**
   * Sighting uids (the ingest's idempotency keys) ingested before this many days ago go (0 = kept;
   * absent: the sightings limit). Capture uids live in their capture row: they go with its month.
   */
  ingestedUids?: number;
}

export interface PgRetentionPass {
  at: number;
  /** Months of captures dropped (partition suffixes). */
  droppedMonths: string[];
  peersDeleted: number;
  sightingUidsDeleted: number;
  durationMs: number;
}

/** Rows deleted per statement, and statements per table per pass: a pass is bounded. */
const DELETE_BATCH = 10_000;
const MAX_BATCHES = 100;

async function deleteBounded(store: PgStore, table: 'peers' | 'ingested_sightings', column: string, cutoff: number): Promise<number> {
  let total = 0;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const res = await store.pool.query(
      `DELETE FROM ${table} WHERE ctid = ANY (ARRAY(SELECT ctid FROM ${table} WHERE ${column} < $1 LIMIT ${DELETE_BATCH}))`,
      [cutoff],
    );
    total += res.rowCount ?? 0;
    if ((res.rowCount ?? 0) < DELETE_BATCH) break;
  }
  return total;
}

/**
 * One retention and upkeep pass of the PostgreSQL store: makes the coming months' partitions, drops
 * the months of captures wholly older than the limit (no row-by-row DELETE), and deletes old peers
 * and sighting uids in bounded batches (at most 1 M rows of each per pass; the next pass goes on).
 */
export async function pgRetentionPass(store: PgStore, limits: PgRetentionLimits, now: number = Date.now()): Promise<PgRetentionPass> {
  const t0 = performance.now();
  await store.partitions.ensureAhead(now);
  const droppedMonths = limits.captures > 0 ? (await store.partitions.dropEndingBy(now - limits.captures * DAY_MS)).map((p) => p.suffix) : [];
  let peersDeleted = 0;
  let sightingUidsDeleted = 0;
  if (limits.sightings > 0) peersDeleted = await deleteBounded(store, 'peers', 'last_seen', now - limits.sightings * DAY_MS);
  const uidDays = limits.ingestedUids ?? limits.sightings;
  if (uidDays > 0) sightingUidsDeleted = await deleteBounded(store, 'ingested_sightings', 'ingested_at', now - uidDays * DAY_MS);
  return { at: now, droppedMonths, peersDeleted, sightingUidsDeleted, durationMs: performance.now() - t0 };
}

/** Runs pgRetentionPass every `intervalMs` (one at a time; a failed pass is logged and retried next time). */
export class PgRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly counters = { passes: 0, failures: 0, monthsDropped: 0, peersDeleted: 0, sightingUidsDeleted: 0 };
  private last: PgRetentionPass | undefined;

  constructor(
    private readonly store: PgStore,
    private readonly limits: () => PgRetentionLimits,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Runs one pass now, then every intervalMs. */
  start(intervalMs: number): void {
    if (this.timer) return;
    const tick = (): void => {
      if (this.running) return;
      this.running = this.runOnce().finally(() => (this.running = undefined));
    };
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
    tick();
  }

  async runOnce(): Promise<void> {
    try {
      const pass = await pgRetentionPass(this.store, this.limits(), this.now());
      this.last = pass;
      this.counters.passes++;
      this.counters.monthsDropped += pass.droppedMonths.length;
      this.counters.peersDeleted += pass.peersDeleted;
      this.counters.sightingUidsDeleted += pass.sightingUidsDeleted;
      if (pass.droppedMonths.length > 0 || pass.peersDeleted > 0 || pass.sightingUidsDeleted > 0) this.logger.info({ ...pass }, 'retention pass (PostgreSQL)');
    } catch (err) {
      this.counters.failures++;
      this.logger.warn({ err }, 'retention pass (PostgreSQL) failed; retried at the next interval');
    }
  }

  stats(): { passes: number; failures: number; monthsDropped: number; peersDeleted: number; sightingUidsDeleted: number; last?: PgRetentionPass } {
    return { ...this.counters, ...(this.last ? { last: this.last } : {}) };
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
