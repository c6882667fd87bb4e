import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { AppError } from '../util/app-error.js';
import { storageFault } from '../util/storage-fault.js';
import { migrate } from './migrations.js';

export type Db = Database.Database;

export interface OpenDatabaseOptions {
  busyTimeoutMs?: number;
  /** Run pending migrations (default true). `db migrate` and the daemon both do. */
  migrate?: boolean;
  readonly?: boolean;
  /**
   * 'normal' (default): in WAL mode durable against application crashes (kill -9); an OS crash, a
   * power cut or a disk that fails or turns read-only may lose the last commits (not yet synced).
   * 'full': every commit is synced (an fsync per transaction): durable against those too.
   */
  synchronous?: 'normal' | 'full';
}

/** "disk full (database or disk is full)": the storage fault in words first, when it is one. */
function reasonOf(err: unknown): string {
  const fault = storageFault(err);
  const message = (err as Error).message;
  return fault ? `${fault.reason} (${message})` : message;
}

/** Opens the SQLite file deliberately: each pragma says why it is set. */
export function openDatabase(file: string, options: OpenDatabaseOptions = {}): Db {
  if (file !== ':memory:' && !options.readonly) mkdirSync(path.dirname(file), { recursive: true });
  let db: Db;
  try {
    db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  } catch (err) {
    throw new AppError('DB_OPEN_FAILED', `cannot open database ${file}: ${reasonOf(err)}`, { cause: err });
  }
  try {
    // Wait instead of failing with SQLITE_BUSY when the CLI (db migrate, status) touches the file.
    db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
    if (!options.readonly && (db.pragma('page_count', { simple: true }) as number) === 0) {
      // A new file: freed pages can be given back to the file system in small steps (retention runs
      // PRAGMA incremental_vacuum). Only possible before the first table exists; older files keep
      // reusing their free pages instead (docs: README, "Retention").
      db.pragma('auto_vacuum = INCREMENTAL');
    }
    if (!options.readonly) {
      // WAL: API readers never block the capture writer, and the writer never blocks readers.
      db.pragma('journal_mode = WAL');
      // In WAL mode NORMAL is durable against application crashes; an OS crash or a failing disk may
      // lose the last commits. FULL syncs every commit (database.synchronous).
      db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      // The WAL file is reused from its start after each full checkpoint but never shrinks by itself:
      // after a burst (a retention pass, a backup holding a snapshot) it is cut back to 64 MiB.
      db.pragma('journal_size_limit = 67108864');
    }
    // Referential integrity (outbox → captures) is checked by SQLite itself. The capture listings
    // (capture_filters) carry no foreign keys since migration 3: they are written with their capture.
    db.pragma('foreign_keys = ON');
    // Temp b-trees (ORDER BY, DISTINCT) stay in memory: the data dir may be on slow disk.
    db.pragma('temp_store = MEMORY');
    // 64 MiB page cache: the hot indexes of a 10-million-row database fit.
    db.pragma('cache_size = -65536');
    if (options.migrate ?? true) migrate(db);
  } catch (err) {
    db.close();
    if (err instanceof AppError) throw err;
    throw new AppError('DB_OPEN_FAILED', `cannot prepare database ${file}: ${reasonOf(err)}`, { cause: err });
  }
  return db;
}
