import type { Statement } from 'better-sqlite3';
import { ROLLUP_KEEP_MS } from './capture-rollups.js';
import type { Db } from './open-database.js';
import { writeTurnOf } from './write-turn.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** Page counts of the database file: what is used and what is free (reusable without growing the file). */
export interface DbSpace {
  pageSize: number;
  pageCount: number;
  freelistCount: number;
  /** Bytes in use: (pageCount − freelistCount) × pageSize. */
  usedBytes: number;
  /** 0 none, 1 full, 2 incremental (see PRAGMA auto_vacuum). */
  autoVacuum: number;
}

/** What one retention batch deleted. */
export interface CaptureBatchResult {
  captures: number;
  listings: number;
  outbox: number;
  /** pcap files of the deleted captures (absolute paths): the caller removes them. */
  pcapPaths: string[];
  /** found_at of the last capture deleted (undefined when none). */
  lastFoundAt: number | undefined;
}

/**
 * Database housekeeping for the ops module: space, a write probe for /readyz, and retention's
 * small-batch deletes. Each delete is one short transaction, so the API's readers and the capture
 * writer wait at most one batch.
 */
export class SqliteOpsRepository {
  private readonly pageCount: Statement;
  private readonly freelist: Statement;
  private readonly oldestBatch: Statement;
  private readonly deleteCapture: Statement;
  private readonly deleteOutboxOf: Statement;
  private readonly filterIds: Statement;
  private readonly deleteListings: Statement;
  private readonly oldestCapture: Statement;
  private readonly deleteSightings: Statement;
  private readonly deleteParkedOutbox: Statement;
  /** The dashboard's rollup tables, each with the unit of its time key (rows past ROLLUP_KEEP_MS go). */
  private readonly rollups: Array<{ del: Statement; unit: number }>;
  private readonly pageSize: number;

  constructor(private readonly db: Db) {
    this.pageSize = db.pragma('page_size', { simple: true }) as number;
    this.pageCount = db.prepare('PRAGMA page_count').pluck();
    this.freelist = db.prepare('PRAGMA freelist_count').pluck();
    // Oldest first, by the (found_at, rowid) index: the same order as the listing key's (found_at, capture_id).
    this.oldestBatch = db
      .prepare('SELECT id, found_at, pcap_path FROM captures WHERE found_at < ? ORDER BY found_at, id LIMIT ?')
      .raw();
    this.oldestCapture = db.prepare('SELECT min(found_at) FROM captures').pluck();
    this.deleteCapture = db.prepare('DELETE FROM captures WHERE id = ?');
    this.deleteOutboxOf = db.prepare('DELETE FROM outbox WHERE capture_id = ?');
    this.filterIds = db.prepare('SELECT id FROM filter_names').pluck();
    // Listings of the deleted prefix: (found_at, capture_id) ≤ (last found_at, last id), per filter and success.
    this.deleteListings = db.prepare(`DELETE FROM capture_filters WHERE filter_id = ? AND success = ?
      AND found_at <= ? AND NOT (found_at = ? AND capture_id > ?)`);
    this.deleteSightings = db.prepare(`DELETE FROM peers WHERE (ip, port, infohash) IN
      (SELECT ip, port, infohash FROM peers WHERE last_seen < ? LIMIT ?)`);
    this.deleteParkedOutbox = db.prepare(`DELETE FROM outbox WHERE id IN
      (SELECT id FROM outbox WHERE parked_reason IS NOT NULL AND created_at < ? ORDER BY id LIMIT ?)`);
    // Each a range of its primary key's prefix (WITHOUT ROWID tables: the key is the row).
    const rollup = (table: string, time: string, key: string, kind: string | null, unit: number): { del: Statement; unit: number } => ({
      del: db.prepare(`DELETE FROM ${table} WHERE (${key}) IN
        (SELECT ${key} FROM ${table} WHERE ${kind === null ? '' : `kind = '${kind}' AND `}${time} < ? LIMIT ?)`),
      unit,
    });
    this.rollups = [
      rollup('capture_minutes', 'minute', 'minute', null, MINUTE),
      rollup('capture_hours', 'hour', 'hour', null, HOUR),
      rollup('capture_hour_counts', 'hour', 'kind, hour, key', 'country', HOUR),
      rollup('capture_hour_counts', 'hour', 'kind, hour, key', 'client', HOUR),
      rollup('capture_day_counts', 'day', 'kind, day, key', 'country', DAY),
      rollup('capture_day_counts', 'day', 'kind, day, key', 'client', DAY),
      rollup('capture_hour_torrents', 'hour', 'hour, infohash', null, HOUR),
      rollup('capture_day_torrents', 'day', 'day, infohash', null, DAY),
    ];
  }

  space(): DbSpace {
    const pageCount = this.pageCount.get() as number;
    const freelistCount = this.freelist.get() as number;
    return {
      pageSize: this.pageSize,
      pageCount,
      freelistCount,
      usedBytes: (pageCount - freelistCount) * this.pageSize,
      autoVacuum: this.db.pragma('auto_vacuum', { simple: true }) as number,
    };
  }

  /**
   * True when a write transaction can start now: takes the write lock (BEGIN IMMEDIATE) and rolls
   * back, waiting at most `waitMs` for another connection's lock. Throws with SQLite's reason otherwise.
   */
  probeWrite(waitMs = 200): void {
    const before = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma(`busy_timeout = ${Math.trunc(waitMs)}`);
    try {
      this.db.exec('BEGIN IMMEDIATE');
      this.db.exec('ROLLBACK');
    } finally {
      this.db.pragma(`busy_timeout = ${before}`);
    }
  }

  /** found_at of the oldest capture, undefined when there is none. */
  oldestCaptureAt(): number | undefined {
    return (this.oldestCapture.get() as number | null) ?? undefined;
  }

  /**
   * Deletes up to `limit` of the oldest captures found before `before` (epoch ms), with their filter
   * listings and their outbox rows (a notification of an expired capture is dropped), in one transaction.
   */
  deleteOldestCaptures(before: number, limit: number): CaptureBatchResult {
    return this.db.transaction((): CaptureBatchResult => {
      const rows = this.oldestBatch.all(before, limit) as Array<[number, number, string | null]>;
      const result: CaptureBatchResult = { captures: 0, listings: 0, outbox: 0, pcapPaths: [], lastFoundAt: undefined };
      if (rows.length === 0) return result;
      const [lastId, lastFoundAt] = rows[rows.length - 1] as [number, number, string | null];
      for (const fid of this.filterIds.all() as number[]) {
        for (const success of [0, 1]) {
          result.listings += this.deleteListings.run(fid, success, lastFoundAt, lastFoundAt, lastId).changes;
        }
      }
      for (const [id, , pcap] of rows) {
        result.outbox += this.deleteOutboxOf.run(id).changes;
        result.captures += this.deleteCapture.run(id).changes;
        if (pcap !== null) result.pcapPaths.push(pcap);
      }
      result.lastFoundAt = lastFoundAt;
      return result;
    })();
  }

  /** Deletes up to `limit` sightings (table `peers`) last seen before `before`. */
  deleteOldSightings(before: number, limit: number): number {
    return this.deleteSightings.run(before, limit).changes;
  }

  /** Deletes up to `limit` parked outbox rows stored before `before` (delivered rows are already gone). */
  deleteOldParkedOutbox(before: number, limit: number): number {
    return this.deleteParkedOutbox.run(before, limit).changes;
  }

  /**
   * Deletes up to `limit` rows of the dashboard's rollup tables (per minute, hour and day: captures,
   * countries, clients, watched torrents) older than what the dashboard shows (ROLLUP_KEEP_MS before
   * `now`). The capture writer prunes them too, but only while it writes; retention bounds them whatever.
   */
  deleteExpiredRollups(now: number, limit: number): number {
    const cutoff = now - ROLLUP_KEEP_MS;
    let left = Math.max(0, Math.trunc(limit));
    for (const r of this.rollups) {
      if (left === 0) break;
      left -= r.del.run(Math.floor(cutoff / r.unit), left).changes;
    }
    return Math.max(0, Math.trunc(limit)) - left;
  }

  /**
   * SQLite's automatic checkpoint on this connection, every `pages` WAL pages (0: off, while the
   * checkpoint worker does it; 1000 is SQLite's default).
   */
  setAutoCheckpoint(pages: number): void {
    this.db.pragma(`wal_autocheckpoint = ${Math.max(0, Math.trunc(pages))}`);
    // The write threads' connections (BTN submissions) follow it before their next transaction.
    writeTurnOf(this.db).setAutoCheckpoint(pages);
  }

  /** The write turn the file's writers share (write-turn.ts): the checkpoint worker takes it for a checkpoint's last round. */
  writeTurn(): SharedArrayBuffer {
    return writeTurnOf(this.db).buffer;
  }

  /** Gives up to `pages` free pages back to the file system (only with auto_vacuum = INCREMENTAL). */
  incrementalVacuum(pages: number): number {
    const before = this.pageCount.get() as number;
    this.db.pragma(`incremental_vacuum(${Math.max(1, Math.trunc(pages))})`);
    return before - (this.pageCount.get() as number);
  }
}
