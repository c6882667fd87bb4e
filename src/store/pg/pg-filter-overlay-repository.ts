import type { OverlayChange } from '../filter-overlay-repository.js';
import type { PgPool } from './pg-pool.js';

/** The infohashes added or deleted through the API (PostgreSQL): the same contract as the SQLite one. */
export class PgFilterOverlayRepository {
  constructor(private readonly pool: PgPool) {}

  async record(filter: string, infohash: string, op: 'add' | 'delete', now: number = Date.now()): Promise<void> {
    await this.pool.query(
      `INSERT INTO filter_infohashes (filter, infohash, op, changed_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (filter, infohash) DO UPDATE SET op = excluded.op, changed_at = excluded.changed_at`,
      [filter, infohash, op, now],
    );
  }

  async list(): Promise<OverlayChange[]> {
    const res = await this.pool.query<OverlayChange>(
      'SELECT filter, infohash, op, changed_at AS "changedAt" FROM filter_infohashes ORDER BY filter COLLATE "C", infohash COLLATE "C"',
    );
    return res.rows;
  }

  /** Forgets the API changes of one filter: the config file's list is authoritative again. */
  async reset(filter: string): Promise<number> {
    const res = await this.pool.query('DELETE FROM filter_infohashes WHERE filter = $1', [filter]);
    return res.rowCount ?? 0;
  }
}
