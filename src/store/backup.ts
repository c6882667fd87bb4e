import { copyFileSync, existsSync, renameSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { AppError } from '../util/app-error.js';
import { MIGRATIONS, schemaVersion } from './migrations.js';

export interface BackupProgress {
  totalPages: number;
  remainingPages: number;
}

export interface BackupResult {
  source: string;
  file: string;
  bytes: number;
  pages: number;
  schemaVersion: number;
  integrity: 'ok';
  durationMs: number;
}

/** Runs `PRAGMA integrity_check` on a database file; throws DB_CORRUPT with SQLite's first findings. */
export function checkIntegrity(file: string): { schemaVersion: number; pages: number; pageSize: number } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const problems = db.pragma('integrity_check', { simple: false }) as Array<{ integrity_check: string }>;
    if (problems.length !== 1 || problems[0]?.integrity_check !== 'ok') {
      throw new AppError('DB_CORRUPT', `${file} fails the integrity check: ${problems.slice(0, 5).map((p) => p.integrity_check).join('; ')}`);
    }
    const version = schemaVersion(db);
    if (version > MIGRATIONS.length) {
      throw new AppError('DB_TOO_NEW', `${file} has schema version ${version}, newer than this capture-daemon knows (${MIGRATIONS.length})`);
    }
    return { schemaVersion: version, pages: db.pragma('page_count', { simple: true }) as number, pageSize: db.pragma('page_size', { simple: true }) as number };
  } finally {
    db.close();
  }
}

/**
 * Copies the database with SQLite's online backup while the daemon keeps writing. The source
 * connection holds one read transaction for the whole copy: in WAL mode that pins a consistent
 * snapshot, so the daemon's commits neither block the copy nor restart it (without it, a backup of a
 * busy database restarts at every commit and may never end). The copy is written to FILE.partial,
 * checked with PRAGMA integrity_check, then renamed to FILE.
 */
export async function backupDatabase(
  source: string,
  file: string,
  options: { busyTimeoutMs: number; pagesPerStep?: number; overwrite?: boolean; onProgress?: (p: BackupProgress) => void },
): Promise<BackupResult> {
  if (existsSync(file) && !options.overwrite) throw new AppError('BACKUP_EXISTS', `${file} exists: choose another name (or --force)`);
  const t0 = performance.now();
  const partial = `${file}.partial`;
  rmSync(partial, { force: true });
  const db = new Database(source, { fileMustExist: true });
  try {
    db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs)}`);
    db.exec('BEGIN');
    db.prepare('SELECT count(*) FROM sqlite_schema').get(); // starts the read transaction: the snapshot
    await db.backup(partial, {
      progress: (p) => {
        options.onProgress?.(p);
        return options.pagesPerStep ?? 1024;
      },
    });
    db.exec('COMMIT');
  } catch (err) {
    rmSync(partial, { force: true });
    if (err instanceof AppError) throw err;
    throw new AppError('BACKUP_FAILED', `backup of ${source} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    db.close();
  }
  let checked: ReturnType<typeof checkIntegrity>;
  try {
    checked = checkIntegrity(partial);
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  }
  renameSync(partial, file);
  return {
    source,
    file,
    bytes: checked.pages * checked.pageSize,
    pages: checked.pages,
    schemaVersion: checked.schemaVersion,
    integrity: 'ok',
    durationMs: Math.round(performance.now() - t0),
  };
}

/**
 * Puts a backup in place of the database (the daemon must be stopped): checks the backup's
 * integrity, copies it next to the target, removes the target's WAL and shared-memory files (they
 * belong to the old database), and renames the copy over the target.
 */
export function restoreDatabase(backup: string, target: string): { schemaVersion: number; bytes: number } {
  const checked = checkIntegrity(backup);
  const partial = `${target}.restore-partial`;
  copyFileSync(backup, partial);
  for (const side of [`${target}-wal`, `${target}-shm`]) rmSync(side, { force: true });
  renameSync(partial, target);
  return { schemaVersion: checked.schemaVersion, bytes: checked.pages * checked.pageSize };
}
