import type { OpsStore } from '../../ops/ports.js';
import { errorMessage } from '../../util/app-error.js';
import type { CaptureBatchResult, DbSpace } from '../ops-repository.js';
import type { OverlayChange } from '../filter-overlay-repository.js';
import type { PgFilterOverlayRepository } from './pg-filter-overlay-repository.js';
import type { PgPool } from './pg-pool.js';

/**
 * The API's infohash changes (filter overlay) of the central PostgreSQL store, as the synchronous
 * FilterRegistry reads them: list() is a cache, record() stores the row and then updates the cache,
 * refresh() reloads it (another api node's change). Every center node refreshes on a timer, so a
 * change made through one api node reaches the others (and the crawlers) within seconds.
 */
export class PgOverlayCache {
  private rows: OverlayChange[] = [];
  private key = '[]';

  constructor(private readonly repo: PgFilterOverlayRepository) {}

  list(): OverlayChange[] {
    return this.rows;
  }

  async record(filter: string, infohash: string, op: 'add' | 'delete'): Promise<void> {
    await this.repo.record(filter, infohash, op);
    await this.refresh();
  }

  /** Reloads from PostgreSQL; true when the rows differ from the cached ones. */
  async refresh(): Promise<boolean> {
    const rows = await this.repo.list();
    const key = JSON.stringify(rows);
    if (key === this.key) return false;
    this.rows = rows;
    this.key = key;
    return true;
  }
}

const NOTHING_DELETED: CaptureBatchResult = { captures: 0, listings: 0, outbox: 0, pcapPaths: [], lastFoundAt: undefined };

/**
 * The ops module's store port on PostgreSQL (health, metrics). The ops module reads it
 * synchronously, so a timer probes the server and the port answers from the last probe. The probe
 * is a write: one statement that reads the database's size and takes a transaction id
 * (txid_current()), so its commit writes a commit record to the WAL and waits for it to be flushed
 * (synchronous_commit): a server in recovery (a standby), a session made read-only
 * (default_transaction_read_only) or a WAL that cannot be written fails it. probeWrite() throws
 * when that probe failed or is stale, so /readyz and the watchdog say why; when it passed, /readyz
 * says what it proved. Retention is PgRetention's (whole partitions), not the ops module's
 * row-by-row SQLite retention: those methods do nothing here.
 */
export class PgOpsProbe implements OpsStore {
  private lastOkAt = 0;
  private lastError: string | null = 'not probed yet';
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly pool: PgPool,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Probes now and then every intervalMs. */
  async start(): Promise<void> {
    await this.probe();
    this.timer = setInterval(() => void this.probe(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  probe(): Promise<void> {
    this.running ??= (async () => {
      try {
        const res = await this.pool.query<{ bytes: number; read_only: boolean }>(
          `SELECT pg_database_size(current_database()) AS bytes,
             pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on' AS read_only, txid_current() AS xid`,
        );
        const row = res.rows[0];
        this.bytes = Number(row?.bytes ?? 0);
        if (row?.read_only) {
          this.lastError = 'read-only (a standby in recovery, or default_transaction_read_only)';
          return;
        }
        this.lastOkAt = this.now();
        this.lastError = null;
      } catch (err) {
        this.lastError = errorMessage(err);
      }
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  state(): { reachable: boolean; lastOkAt: string | null; lastError: string | null; bytes: number } {
    return { reachable: this.reachable(), lastOkAt: this.lastOkAt ? new Date(this.lastOkAt).toISOString() : null, lastError: this.lastError, bytes: this.bytes };
  }

  private reachable(): boolean {
    return this.lastError === null && this.now() - this.lastOkAt <= 3 * this.intervalMs + 5_000;
  }

  space(): DbSpace {
    return { pageSize: 0, pageCount: 0, freelistCount: 0, usedBytes: this.bytes, autoVacuum: 0 };
  }

  probeWrite(): string {
    if (this.reachable()) return `writable (a write transaction committed ${((this.now() - this.lastOkAt) / 1000).toFixed(0)} s ago)`;
    if (this.lastError?.startsWith('read-only')) throw new Error(`PostgreSQL ${this.lastError}`);
    throw new Error(`PostgreSQL not reachable: ${this.lastError ?? `no answer for ${Math.round((this.now() - this.lastOkAt) / 1000)} s`}`);
  }

  oldestCaptureAt(): number | undefined {
    return undefined;
  }

  /** No SQLite connection here: nothing to checkpoint. */
  setAutoCheckpoint(): void {}

  deleteOldestCaptures(): CaptureBatchResult {
    return NOTHING_DELETED;
  }

  deleteOldSightings(): number {
    return 0;
  }

  deleteOldParkedOutbox(): number {
    return 0;
  }

  deleteExpiredRollups(): number {
    return 0;
  }

  incrementalVacuum(): number {
    return 0;
  }
}
