import type { Statement } from 'better-sqlite3';
import type { TorrentFileEntry, TorrentMetadata } from '../protocol/metainfo.js';
import type { Db } from './open-database.js';

export type TorrentState = 'unknown' | 'pending' | 'known';

export interface TorrentInfo {
  infohash: string;
  state: TorrentState;
  name?: string;
  totalSize?: number;
  pieceLength?: number;
  pieceCount?: number;
  files?: TorrentFileEntry[];
  source?: string;
  addedAt?: number;
  updatedAt?: number;
}

/** A `torrents` row as both stores return it (SQLite here, PostgreSQL in pg/pg-torrent-repository.ts). */
export interface TorrentRow {
  infohash: string;
  state: 'pending' | 'known';
  name: string | null;
  total_size: number | null;
  piece_length: number | null;
  piece_count: number | null;
  files: string | null;
  source: string;
  added_at: number;
  updated_at: number;
}

/** Torrents the daemon knows: metadata known, or pending (infohash only, metadata wanted). */
export class SqliteTorrentRepository {
  private readonly select: Statement;
  private readonly insertPending: Statement;
  private readonly upsertKnown: Statement;
  private readonly pending: Statement;
  private readonly info: Statement;

  constructor(db: Db) {
    this.select = db.prepare(`SELECT infohash, state, name, total_size, piece_length, piece_count, files, source,
      added_at, updated_at FROM torrents WHERE infohash = ?`);
    this.insertPending = db.prepare(`INSERT INTO torrents (infohash, state, source, added_at, updated_at)
      VALUES (?, 'pending', ?, ?, ?) ON CONFLICT (infohash) DO NOTHING`);
    this.upsertKnown = db.prepare(`INSERT INTO torrents (infohash, state, name, total_size, piece_length, piece_count,
      files, info, source, added_at, updated_at)
      VALUES (@infohash, 'known', @name, @totalSize, @pieceLength, @pieceCount, @files, @info, @source, @now, @now)
      ON CONFLICT (infohash) DO UPDATE SET state = 'known', name = excluded.name, total_size = excluded.total_size,
      piece_length = excluded.piece_length, piece_count = excluded.piece_count, files = excluded.files,
      info = excluded.info, updated_at = excluded.updated_at`);
    this.pending = db.prepare(`SELECT infohash FROM torrents WHERE state = 'pending' ORDER BY added_at`).pluck();
    this.info = db.prepare(`SELECT info FROM torrents WHERE infohash = ? AND state = 'known'`).pluck();
  }

  get(infohash: string): TorrentInfo {
    const r = this.select.get(infohash) as TorrentRow | undefined;
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
  addPending(infohash: string, source: string, now: number = Date.now()): boolean {
    return this.insertPending.run(infohash, source, now, now).changes > 0;
  }

  /** Stores metadata (from an upload or BEP 9); a pending torrent becomes known. */
  putMetadata(meta: TorrentMetadata, source: string, now: number = Date.now()): void {
    this.upsertKnown.run({
      infohash: meta.infohash,
      name: meta.name,
      totalSize: meta.totalSize,
      pieceLength: meta.pieceLength,
      pieceCount: meta.pieceCount,
      files: meta.filesJson ?? JSON.stringify(meta.files),
      info: meta.info,
      source,
      now,
    });
  }

  pendingInfohashes(): string[] {
    return this.pending.all() as string[];
  }

  infoDictionary(infohash: string): Buffer | undefined {
    return this.info.get(infohash) as Buffer | undefined;
  }
}
