import { inTransaction, type PgPool } from './pg-pool.js';

/** One month of captures: [startMs, endMs) in UTC, stored in captures_<suffix> and capture_filters_<suffix>. */
export interface MonthPartition {
  suffix: string;
  startMs: number;
  endMs: number;
}

/** The UTC month holding `ms`. */
export function monthOf(ms: number): MonthPartition {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const startMs = Date.UTC(y, m, 1);
  const endMs = Date.UTC(y, m + 1, 1);
  const suffix = `p${String(y).padStart(4, '0')}${String(m + 1).padStart(2, '0')}`;
  return { suffix, startMs, endMs };
}

/** PostgreSQL's error when a row falls outside every partition (another process dropped it). */
export function isNoPartitionError(err: unknown): boolean {
  return (err as { code?: string }).code === '23514' && /no partition of relation/.test((err as Error).message);
}

/**
 * Creates and drops the monthly partitions of captures and capture_filters. Creation is idempotent
 * and serialized by an advisory lock, so several ingesters may ask for the same month at once.
 */
export class PgPartitions {
  private readonly known = new Set<string>();

  constructor(private readonly pool: PgPool) {}

  /** Makes sure the months of every timestamp in `ms` exist (one round trip when they all do). */
  async ensureFor(ms: Iterable<number>): Promise<void> {
    const missing = new Map<string, MonthPartition>();
    // Consecutive times mostly share a month: a Date per time only when leaving the last month seen.
    let start = Infinity;
    let end = -Infinity;
    for (const t of ms) {
      if (t >= start && t < end) continue;
      const month = monthOf(t);
      start = month.startMs;
      end = month.endMs;
      if (!this.known.has(month.suffix)) missing.set(month.suffix, month);
    }
    if (missing.size === 0) return;
    const months = [...missing.keys()];
    await inTransaction(this.pool, async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('capture-daemon partitions ' || current_schema()))`);
      const have = await client.query<{ suffix: string }>('SELECT suffix FROM capture_partitions WHERE suffix = ANY($1)', [[...missing.keys()]]);
      for (const r of have.rows) missing.delete(r.suffix);
      for (const p of missing.values()) {
        const bounds = `FOR VALUES FROM (${p.startMs}) TO (${p.endMs})`;
        await client.query(`CREATE TABLE captures_${p.suffix} PARTITION OF captures ${bounds}`);
        await client.query(`CREATE TABLE capture_filters_${p.suffix} PARTITION OF capture_filters ${bounds}`);
        await client.query('INSERT INTO capture_partitions (suffix, start_ms, end_ms) VALUES ($1, $2, $3)', [p.suffix, p.startMs, p.endMs]);
      }
    });
    for (const m of months) this.known.add(m);
  }

  /** Creates the month of `now` and the `monthsAhead` after it, so ingest never waits for DDL at a month's turn. */
  async ensureAhead(now: number, monthsAhead = 2): Promise<void> {
    const d = new Date(now);
    const times = [now];
    for (let i = 1; i <= monthsAhead; i++) times.push(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + i, 1));
    await this.ensureFor(times);
  }

  /** Forgets what this process believes exists (after another process dropped a partition). */
  forget(): void {
    this.known.clear();
  }

  async list(): Promise<MonthPartition[]> {
    const res = await this.pool.query<MonthPartition>(
      'SELECT suffix, start_ms AS "startMs", end_ms AS "endMs" FROM capture_partitions ORDER BY start_ms',
    );
    return res.rows;
  }

  /**
   * Retention: drops every month that ends at or before `cutoffMs` (its captures and listings go at
   * once, no row-by-row DELETE). Returns the months dropped.
   */
  async dropEndingBy(cutoffMs: number): Promise<MonthPartition[]> {
    const dropped = await inTransaction(this.pool, async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('capture-daemon partitions ' || current_schema()))`);
      const old = await client.query<MonthPartition>(
        'SELECT suffix, start_ms AS "startMs", end_ms AS "endMs" FROM capture_partitions WHERE end_ms <= $1 ORDER BY start_ms',
        [cutoffMs],
      );
      for (const p of old.rows) {
        await client.query(`DROP TABLE captures_${p.suffix}`);
        await client.query(`DROP TABLE capture_filters_${p.suffix}`);
        await client.query('DELETE FROM capture_partitions WHERE suffix = $1', [p.suffix]);
      }
      return old.rows;
    });
    for (const p of dropped) this.known.delete(p.suffix);
    return dropped;
  }
}
