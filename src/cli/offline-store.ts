import type { LoadedConfig } from '../config/load-config.js';
import { openDatabase, type Db } from '../store/open-database.js';

/** Opens the daemon's database from the CLI (WAL lets it share the file with a running daemon). */
export function withDatabase<T>(loaded: LoadedConfig, fn: (db: Db) => T): T {
  const db = openDatabase(loaded.config.database.path, { busyTimeoutMs: Math.max(loaded.config.database.busyTimeoutMs, 5000) });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}
