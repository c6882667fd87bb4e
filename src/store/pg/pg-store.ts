import { PgCaptureRepository } from './pg-capture-repository.js';
import { PgCentralIngestStore } from './pg-central-ingest-store.js';
import { PgFilterOverlayRepository } from './pg-filter-overlay-repository.js';
import { migratePg } from './pg-migrations.js';
import { PgPartitions } from './pg-partitions.js';
import { openPgPool, type PgPool, type PgPoolOptions } from './pg-pool.js';
import { PgTorrentRepository } from './pg-torrent-repository.js';

/** The central store in PostgreSQL: what the ingest role writes and the API role reads. */
export interface PgStore {
  readonly pool: PgPool;
  readonly partitions: PgPartitions;
  readonly captures: PgCaptureRepository;
  readonly torrents: PgTorrentRepository;
  readonly overlay: PgFilterOverlayRepository;
  /** The ingest role's writer (src/cluster/ports.ts). */
  readonly ingest: PgCentralIngestStore;
  close(): Promise<void>;
}

export interface OpenPgStoreOptions extends PgPoolOptions {
  url: string;
  /** Run pending migrations (default true). */
  migrate?: boolean;
  /** Months of partitions made ahead of now (default 2). */
  monthsAhead?: number;
  now?: number;
}

/** Connects, migrates (serialized across processes) and makes the coming months' partitions. */
export async function openPgStore(options: OpenPgStoreOptions): Promise<PgStore> {
  const pool = await openPgPool(options.url, options);
  try {
    if (options.migrate ?? true) await migratePg(pool);
    const partitions = new PgPartitions(pool);
    await partitions.ensureAhead(options.now ?? Date.now(), options.monthsAhead ?? 2);
    const captures = new PgCaptureRepository(pool, partitions);
    return {
      pool,
      partitions,
      captures,
      ingest: new PgCentralIngestStore(pool, captures),
      torrents: new PgTorrentRepository(pool),
      overlay: new PgFilterOverlayRepository(pool),
      close: () => pool.end(),
    };
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
}
