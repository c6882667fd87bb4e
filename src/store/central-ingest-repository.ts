import type { Statement } from 'better-sqlite3';
import type { CentralIngestStore, ForwardedCapture, ForwardedSighting, IngestResult } from '../cluster/ports.js';
import type { NewCapture } from '../model/capture.js';
import type { SqliteCaptureRepository } from './capture-repository.js';
import type { Db } from './open-database.js';

export interface CentralIngestOptions {
  /**
   * Notification targets of a filter on the center (its own notify config), written as outbox rows
   * with the capture: the center notifies, not the crawlers. Default: none.
   */
  notifyTargets?: (filter: string) => ReadonlyArray<'amqp' | 'email'>;
  now?: () => number;
}

/**
 * The central store's ingest port on SQLite: the `ingest` role's writer until (and besides) the
 * PostgreSQL store. One IMMEDIATE transaction per batch: the uids already stored are looked up,
 * the new captures are inserted with their listings and outbox rows (SqliteCaptureRepository,
 * nested as a savepoint), and their uids recorded in `ingested_uids` (migration 10). A redelivered
 * uid, or one repeated within the batch, is skipped and counted as a duplicate.
 */
export class SqliteCentralIngestStore implements CentralIngestStore {
  private readonly hasUid: Statement;
  private readonly insertUid: Statement;
  private readonly upsertSighting: Statement;
  private readonly captureTx: (batch: readonly ForwardedCapture[]) => IngestResult;
  private readonly sightingTx: (batch: readonly ForwardedSighting[]) => IngestResult;

  constructor(
    private readonly deps: { db: Db; captures: SqliteCaptureRepository },
    private readonly options: CentralIngestOptions = {},
  ) {
    const { db } = deps;
    this.hasUid = db.prepare('SELECT 1 FROM ingested_uids WHERE uid = ?').pluck();
    this.insertUid = db.prepare('INSERT INTO ingested_uids (uid, kind, ref_id, crawler_id, ingested_at) VALUES (?, ?, ?, ?, ?)');
    this.upsertSighting = db.prepare(`INSERT INTO peers (ip, port, infohash, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (ip, port, infohash) DO UPDATE SET
        first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen),
        seen_count = seen_count + 1`);
    const captureTx = db.transaction((batch: readonly ForwardedCapture[]) => this.storeCaptures(batch));
    this.captureTx = (batch) => captureTx.immediate(batch);
    const sightingTx = db.transaction((batch: readonly ForwardedSighting[]) => this.storeSightings(batch));
    this.sightingTx = (batch) => sightingTx.immediate(batch);
  }

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }

  /** New items of `batch` (uid not stored yet, first occurrence within the batch). */
  private fresh<T extends { uid: string }>(batch: readonly T[]): T[] {
    const seen = new Set<string>();
    const out: T[] = [];
    for (const item of batch) {
      if (seen.has(item.uid)) continue;
      seen.add(item.uid);
      if (this.hasUid.get(item.uid) === undefined) out.push(item);
    }
    return out;
  }

  private storeCaptures(batch: readonly ForwardedCapture[]): IngestResult {
    const fresh = this.fresh(batch);
    if (fresh.length === 0) return { inserted: 0, duplicates: batch.length };
    const notify = this.options.notifyTargets;
    const rows: NewCapture[] = fresh.map((f) => {
      const row: NewCapture = { ...f.capture };
      if (notify) row.notify = f.capture.filters.flatMap((filter) => notify(filter).map((target) => ({ filter, target })));
      return row;
    });
    const now = this.now();
    const ids = this.deps.captures.insertMany(rows, now);
    fresh.forEach((f, i) => this.insertUid.run(f.uid, 'capture', ids[i], f.crawlerId, now));
    return { inserted: fresh.length, duplicates: batch.length - fresh.length };
  }

  private storeSightings(batch: readonly ForwardedSighting[]): IngestResult {
    const fresh = this.fresh(batch);
    const now = this.now();
    for (const s of fresh) {
      this.upsertSighting.run(s.ip, s.port, s.infohash, s.seenAt, s.seenAt);
      this.insertUid.run(s.uid, 'sighting', null, s.crawlerId, now);
    }
    return { inserted: fresh.length, duplicates: batch.length - fresh.length };
  }

  /**
   * Retention of the idempotency keys (retention.maxAgeDays.ingestedUids): deletes at most `limit`
   * uids ingested before `before`; a copy of such an item arriving later would be stored again.
   */
  deleteUidsOlderThan(before: number, limit: number): number {
    return this.deps.db
      .prepare('DELETE FROM ingested_uids WHERE uid IN (SELECT uid FROM ingested_uids WHERE ingested_at < ? ORDER BY ingested_at LIMIT ?)')
      .run(before, limit).changes;
  }

  ingestCaptures(batch: readonly ForwardedCapture[]): Promise<IngestResult> {
    return inTransaction(this.captureTx, batch);
  }

  ingestSightings(batch: readonly ForwardedSighting[]): Promise<IngestResult> {
    return inTransaction(this.sightingTx, batch);
  }
}

/** The port's promise around one synchronous batch transaction: an empty batch writes nothing, a throw rejects. */
function inTransaction<T>(tx: (batch: readonly T[]) => IngestResult, batch: readonly T[]): Promise<IngestResult> {
  if (batch.length === 0) return Promise.resolve({ inserted: 0, duplicates: 0 });
  try {
    return Promise.resolve(tx(batch));
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
