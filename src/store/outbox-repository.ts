import type { Statement } from 'better-sqlite3';
import type { Db } from './open-database.js';

/** The transactional outbox: rows are written with their capture (see SqliteCaptureRepository.insertMany). */
export class SqliteOutboxRepository {
  private readonly pending: Statement;

  constructor(db: Db) {
    this.pending = db.prepare('SELECT count(*) FROM outbox WHERE parked_reason IS NULL').pluck();
  }

  /** Notifications waiting for delivery (parked ones excluded). */
  countPending(): number {
    return this.pending.get() as number;
  }
}
