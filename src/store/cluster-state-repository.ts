import type { Statement } from 'better-sqlite3';
import type { Db } from './open-database.js';

/** Small named values a node keeps across restarts (migration 10): its node id, its DHT id, the last shared config. */
export class SqliteClusterState {
  private readonly getStmt: Statement;
  private readonly setStmt: Statement;

  constructor(private readonly db: Db) {
    this.getStmt = db.prepare('SELECT value FROM cluster_state WHERE key = ?').pluck();
    this.setStmt = db.prepare(`INSERT INTO cluster_state (key, value, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`);
  }

  get(key: string): string | undefined {
    return (this.getStmt.get(key) as string | undefined) ?? undefined;
  }

  set(key: string, value: string, now: number = Date.now()): void {
    this.setStmt.run(key, value, now);
  }

  /** Runs `fn` in one transaction (a snapshot and what it replaces change together). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}
