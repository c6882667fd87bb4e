import { randomUUID } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { ForwardedCapture } from '../cluster/ports.js';
import type { NewCapture } from '../model/capture.js';
import type { SqliteCaptureRepository } from './capture-repository.js';
import type { Db } from './open-database.js';

export type ForwardKind = 'capture' | 'sighting';

/** One item waiting for the broker's confirm: `body` is the complete JSON message. */
export interface ForwardRow {
  id: number;
  kind: ForwardKind;
  uid: string;
  body: string;
  createdAt: number;
  attempts: number;
}

/**
 * A crawler's forward outbox (migration 10): one row per capture (or sighting) still to be
 * confirmed by RabbitMQ. A capture's row is written in the transaction that stores the capture
 * (see `captureWriter`), so a stored capture is always forwarded eventually; the forwarder deletes
 * a row only after the broker confirmed its message. The body is complete: forwarding never reads
 * the capture again (retention may delete it meanwhile).
 */
export class SqliteForwardOutbox {
  private readonly insert: Statement;
  private readonly batch: Statement;
  private readonly deleteOne: Statement;
  private readonly failOne: Statement;
  private readonly countStmt: Statement;
  private readonly oldestStmt: Statement;
  private readonly boundsStmt: Statement;

  constructor(private readonly db: Db) {
    this.insert = db.prepare('INSERT INTO forward_outbox (kind, uid, body, created_at) VALUES (?, ?, ?, ?)');
    this.batch = db.prepare('SELECT id, kind, uid, body, created_at AS createdAt, attempts FROM forward_outbox WHERE id > ? ORDER BY id LIMIT ?');
    this.deleteOne = db.prepare('DELETE FROM forward_outbox WHERE id = ?');
    this.failOne = db.prepare('UPDATE forward_outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?');
    this.countStmt = db.prepare('SELECT count(*) FROM forward_outbox').pluck();
    this.oldestStmt = db.prepare('SELECT created_at FROM forward_outbox ORDER BY id LIMIT 1').pluck();
    this.boundsStmt = db.prepare('SELECT (SELECT min(id) FROM forward_outbox) AS lo, (SELECT max(id) FROM forward_outbox) AS hi');
  }

  /**
   * The capture writer of a crawler: stores a batch of captures (SqliteCaptureRepository.insertMany,
   * nested as a savepoint) and one forward row per capture, in one transaction. Each capture gets
   * its stable uid here.
   */
  captureWriter(captures: SqliteCaptureRepository, crawlerId: string, now: () => number = Date.now): (batch: readonly NewCapture[]) => number[] {
    const tx = this.db.transaction((batch: readonly NewCapture[]) => {
      const at = now();
      const ids = captures.insertMany(batch, at);
      for (const c of batch) {
        const uid = randomUUID();
        const { notify: _notify, ...capture } = c;
        const message: ForwardedCapture = { uid, crawlerId, capture };
        this.insert.run('capture', uid, JSON.stringify(message), at);
      }
      return ids;
    });
    return (batch) => tx.immediate(batch);
  }

  /** Adds items (sightings) in one transaction. */
  add(items: ReadonlyArray<{ kind: ForwardKind; uid: string; body: string }>, now: number = Date.now()): void {
    this.db.transaction(() => {
      for (const i of items) this.insert.run(i.kind, i.uid, i.body, now);
    })();
  }

  /** The oldest `limit` rows with id > afterId, in id order. */
  nextBatch(limit: number, afterId = 0): ForwardRow[] {
    return this.batch.all(afterId, limit) as ForwardRow[];
  }

  /** Deletes confirmed rows (one transaction). */
  deleteConfirmed(ids: readonly number[]): void {
    if (ids.length === 0) return;
    this.db.transaction(() => {
      for (const id of ids) this.deleteOne.run(id);
    })();
  }

  /** Counts a failed attempt on rows (they stay, and go again). */
  recordFailure(ids: readonly number[], error: string): void {
    if (ids.length === 0) return;
    this.db.transaction(() => {
      for (const id of ids) this.failOne.run(error, id);
    })();
  }

  /** max(id) − min(id) + 1, in O(log n): the backlog bound's cheap check (exact while rows leave in order). */
  rowCountUpperBound(): number {
    const r = this.boundsStmt.get() as { lo: number | null; hi: number | null };
    return r.lo === null || r.hi === null ? 0 : r.hi - r.lo + 1;
  }

  /** Rows waiting for a confirm. */
  count(): number {
    return this.countStmt.get() as number;
  }

  /** When the oldest waiting row was written (epoch ms); undefined when none waits. */
  oldestCreatedAt(): number | undefined {
    return (this.oldestStmt.get() as number | undefined) ?? undefined;
  }
}
