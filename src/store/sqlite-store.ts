import { SqliteCaptureRepository } from './capture-repository.js';
import { SqliteDashboardRepository } from './dashboard-repository.js';
import { SqliteDhtNodeRepository } from './dht-node-repository.js';
import { SqliteFilterOverlayRepository } from './filter-overlay-repository.js';
import { openDatabase, type Db } from './open-database.js';
import { SqliteOpsRepository } from './ops-repository.js';
import { SqliteOutboxRepository } from './outbox-repository.js';
import { SqliteEvidenceRepository } from './spam-evidence-repository.js';
import { SqliteSpamRepository } from './spam-repository.js';
import { SqliteTorrentRepository } from './torrent-repository.js';

/** The daemon's database and one repository per table group (each shared by every module that needs it). */
export interface SqliteStore {
  readonly db: Db;
  readonly torrents: SqliteTorrentRepository;
  readonly overlay: SqliteFilterOverlayRepository;
  readonly captures: SqliteCaptureRepository;
  readonly outbox: SqliteOutboxRepository;
  readonly dhtNodes: SqliteDhtNodeRepository;
  /** The IPv6 DHT node's routing table (BEP 32), apart from the IPv4 one. */
  readonly dhtNodes6: SqliteDhtNodeRepository;
  readonly ops: SqliteOpsRepository;
  readonly dashboard: SqliteDashboardRepository;
  readonly spam: SqliteSpamRepository;
  readonly evidence: SqliteEvidenceRepository;
  close(): void;
}

/** Opens (and migrates) the database file; throws DB_OPEN_FAILED / a migration error (fatal). */
export function openSqliteStore(options: { path: string; busyTimeoutMs: number; synchronous?: 'normal' | 'full' }): SqliteStore {
  const db = openDatabase(options.path, { busyTimeoutMs: options.busyTimeoutMs, synchronous: options.synchronous ?? 'normal' });
  try {
    return {
      db,
      torrents: new SqliteTorrentRepository(db),
      overlay: new SqliteFilterOverlayRepository(db),
      captures: new SqliteCaptureRepository(db),
      outbox: new SqliteOutboxRepository(db),
      dhtNodes: new SqliteDhtNodeRepository(db, 4),
      dhtNodes6: new SqliteDhtNodeRepository(db, 6),
      ops: new SqliteOpsRepository(db),
      dashboard: new SqliteDashboardRepository(db),
      spam: new SqliteSpamRepository(db),
      evidence: new SqliteEvidenceRepository(db),
      close: () => db.close(),
    };
  } catch (err) {
    db.close();
    throw err;
  }
}
