import { closeSync, openSync, rmSync } from 'node:fs';
import path from 'node:path';

/**
 * What a storage error means for an operator, in words: disk full, read-only, locked by another
 * process, missing, I/O error. Knows the codes of SQLite (better-sqlite3's `SqliteError.code`) and
 * of the file system (`errno` codes); no SQL.
 */
export type StorageFaultKind = 'disk-full' | 'read-only' | 'locked' | 'missing' | 'permission' | 'io-error';

export interface StorageFault {
  kind: StorageFaultKind;
  /** e.g. "disk full", "database locked by another process" */
  reason: string;
}

const REASONS: Record<StorageFaultKind, string> = {
  'disk-full': 'disk full',
  'read-only': 'read-only file system or file',
  locked: 'database locked by another process',
  missing: 'no such file or directory',
  permission: 'permission denied',
  'io-error': 'I/O error',
};

function kindOf(code: string): StorageFaultKind | undefined {
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return 'disk-full';
  if (code.startsWith('SQLITE_READONLY') || code === 'EROFS') return 'read-only';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'locked';
  if (code === 'ENOENT' || code === 'SQLITE_CANTOPEN_NOTEMPDIR') return 'missing';
  if (code === 'EACCES' || code === 'EPERM' || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') return 'permission';
  if (code.startsWith('SQLITE_IOERR') || code === 'EIO' || code.startsWith('SQLITE_CANTOPEN')) return 'io-error';
  return undefined;
}

/** The storage fault behind `err` (following `cause`), or undefined for any other error. */
export function storageFault(err: unknown): StorageFault | undefined {
  for (let e = err, depth = 0; e !== null && e !== undefined && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    const kind = kindOf(code);
    if (kind === 'io-error' && /disk is full|no space/i.test(String((e as Error).message))) return { kind: 'disk-full', reason: REASONS['disk-full'] };
    if (kind !== undefined) return { kind, reason: REASONS[kind] };
  }
  return undefined;
}

/** A short description of `err` for a log line: the storage fault if it is one, else its message. */
export function describeStorageError(err: unknown): string {
  const fault = storageFault(err);
  const message = err instanceof Error ? err.message : String(err);
  return fault ? `${fault.reason} (${message})` : message;
}

/**
 * Whether a file can be created in `dir` now: the fault that stops it (read-only, full, missing, …)
 * or undefined when it can. SQLite reports a disk that turned read-only under an open database as
 * "disk I/O error" (SQLITE_IOERR_WRITE: the errno is not kept); this probe says what it is.
 */
export function probeWritable(dir: string): StorageFault | undefined {
  const file = path.join(dir, `.write-probe-${process.pid}`);
  try {
    closeSync(openSync(file, 'w'));
    rmSync(file, { force: true });
    return undefined;
  } catch (err) {
    return storageFault(err) ?? { kind: 'io-error', reason: REASONS['io-error'] };
  }
}

/**
 * describeStorageError, with the directory the failing files live in: an I/O error is probed
 * (`probeWritable`) so that a disk turned read-only or full is named as such, and the path is said:
 * "read-only file system or file: /var/lib/capture-daemon (disk I/O error)".
 */
export function explainStorageError(err: unknown, dir: string): string {
  const fault = storageFault(err);
  const message = err instanceof Error ? err.message : String(err);
  if (fault === undefined) return message;
  const probed = fault.kind === 'io-error' ? probeWritable(dir) : undefined;
  return `${(probed ?? fault).reason}: ${dir} (${message})`;
}
