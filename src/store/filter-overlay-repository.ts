import type { Statement } from 'better-sqlite3';
import type { Db } from './open-database.js';

export interface OverlayChange {
  filter: string;
  infohash: string;
  op: 'add' | 'delete';
  changedAt: number;
}

/** The infohashes added or deleted through the API, on top of the config file's lists. */
export class SqliteFilterOverlayRepository {
  private readonly upsert: Statement;
  private readonly all: Statement;
  private readonly clear: Statement;

  constructor(private readonly db: Db) {
    this.upsert = db.prepare(`INSERT INTO filter_infohashes (filter, infohash, op, changed_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (filter, infohash) DO UPDATE SET op = excluded.op, changed_at = excluded.changed_at`);
    this.all = db.prepare('SELECT filter, infohash, op, changed_at AS changedAt FROM filter_infohashes ORDER BY filter, infohash');
    this.clear = db.prepare('DELETE FROM filter_infohashes WHERE filter = ?');
  }

  record(filter: string, infohash: string, op: 'add' | 'delete', now: number = Date.now()): void {
    this.upsert.run(filter, infohash, op, now);
  }

  list(): OverlayChange[] {
    return this.all.all() as OverlayChange[];
  }

  /** Replaces every change with `changes` (a crawler taking the center's list; one transaction). */
  replaceAll(changes: readonly OverlayChange[]): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM filter_infohashes').run();
      for (const c of changes) this.upsert.run(c.filter, c.infohash, c.op, c.changedAt);
    })();
  }

  /** Forgets the API changes of one filter: the config file's list is authoritative again. */
  reset(filter: string): number {
    return this.clear.run(filter).changes;
  }
}
