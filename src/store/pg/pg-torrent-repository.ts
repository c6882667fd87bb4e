import type { TorrentFileEntry, TorrentMetadata } from '../../protocol/metainfo.js';
import type { TorrentInfo, TorrentRow } from '../torrent-repository.js';
import type { PgPool } from './pg-pool.js';

/** Torrents in PostgreSQL: the same contract as SqliteTorrentRepository. */
export class PgTorrentRepository {
  constructor(private readonly pool: PgPool) {}

  async get(infohash: string): Promise<TorrentInfo> {
    const res = await this.pool.query<TorrentRow>({
      name: 'torrent-get',
      text: `SELECT infohash, state, name, total_size, piece_length, piece_count, files, source, added_at, updated_at
        FROM torrents WHERE infohash = $1`,
      values: [infohash],
    });
    const r = res.rows[0];
    if (!r) return { infohash, state: 'unknown' };
    const t: TorrentInfo = { infohash: r.infohash, state: r.state, source: r.source, addedAt: r.added_at, updatedAt: r.updated_at };
    if (r.state === 'known') {
      t.name = r.name ?? '';
      t.totalSize = r.total_size ?? 0;
      t.pieceLength = r.piece_length ?? 0;
      t.pieceCount = r.piece_count ?? 0;
      t.files = r.files ? (JSON.parse(r.files) as TorrentFileEntry[]) : [];
    }
    return t;
  }

  /** Records an infohash whose metadata is wanted. Returns false if it was already known or pending. */
  async addPending(infohash: string, source: string, now: number = Date.now()): Promise<boolean> {
    const res = await this.pool.query(
      `INSERT INTO torrents (infohash, state, source, added_at, updated_at) VALUES ($1, 'pending', $2, $3, $3)
       ON CONFLICT (infohash) DO NOTHING`,
      [infohash, source, now],
    );
    return (res.rowCount ?? 0) > 0;
  }

  /** Stores metadata (from an upload or BEP 9); a pending torrent becomes known. */
  async putMetadata(meta: TorrentMetadata, source: string, now: number = Date.now()): Promise<void> {
    await this.pool.query(
      `INSERT INTO torrents (infohash, state, name, total_size, piece_length, piece_count, files, info, source, added_at, updated_at)
       VALUES ($1, 'known', $2, $3, $4, $5, $6, $7, $8, $9, $9)
       ON CONFLICT (infohash) DO UPDATE SET state = 'known', name = excluded.name, total_size = excluded.total_size,
       piece_length = excluded.piece_length, piece_count = excluded.piece_count, files = excluded.files,
       info = excluded.info, updated_at = excluded.updated_at`,
      [meta.infohash, meta.name, meta.totalSize, meta.pieceLength, meta.pieceCount, meta.filesJson ?? JSON.stringify(meta.files), meta.info, source, now],
    );
  }

  async pendingInfohashes(): Promise<string[]> {
    const res = await this.pool.query<{ infohash: string }>(`SELECT infohash FROM torrents WHERE state = 'pending' ORDER BY added_at, infohash`);
    return res.rows.map((r) => r.infohash);
  }

  async infoDictionary(infohash: string): Promise<Buffer | undefined> {
    const res = await this.pool.query<{ info: Buffer | null }>(`SELECT info FROM torrents WHERE infohash = $1 AND state = 'known'`, [infohash]);
    return res.rows[0]?.info ?? undefined;
  }
}
