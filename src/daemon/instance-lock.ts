import { closeSync, mkdirSync, openSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../util/app-error.js';
import { storageFault } from '../util/storage-fault.js';

/** The daemon's lock file in its data directory: holds the pid of the running instance. */
export const LOCK_FILE = 'capture-daemon.pid';

function alive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

/** "data dir /x is read-only (…)" — the path and what is wrong with it, in words. */
function dataDirError(dir: string, what: string, err: unknown): AppError {
  const fault = storageFault(err);
  if (what === 'creating it' && fault?.kind !== 'disk-full' && fault?.kind !== 'read-only') {
    const why = fault?.kind === 'permission' ? 'permission denied' : 'is its parent missing or read-only?';
    return new AppError('DATA_DIR_UNUSABLE', `data directory ${dir} does not exist and cannot be created (${why})`, { cause: err });
  }
  const reason =
    fault?.kind === 'read-only' ? 'is on a read-only file system'
    : fault?.kind === 'disk-full' ? 'is on a full disk'
    : fault?.kind === 'permission' ? 'is not writable by this user (permission denied)'
    : fault?.kind === 'missing' ? 'does not exist'
    : `cannot be used (${(err as Error).message})`;
  return new AppError('DATA_DIR_UNUSABLE', `data directory ${dir} ${reason}: ${what} failed`, { cause: err });
}

/**
 * Checks that the data directory can be used (created if missing, writable, not full) and that no
 * other instance runs with it, before anything is opened or bound. Returns a release function.
 * Throws ALREADY_RUNNING (another live pid holds the lock) or DATA_DIR_UNUSABLE (says why, with the path).
 */
export function acquireInstanceLock(dataDir: string): () => void {
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (err) {
    throw dataDirError(dataDir, 'creating it', err);
  }
  // A write probe: a read-only mount or a full disk shows here, not later as "disk I/O error".
  const probe = path.join(dataDir, `.write-test-${process.pid}`);
  try {
    const fd = openSync(probe, 'w');
    try {
      writeSync(fd, Buffer.alloc(4096));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw dataDirError(dataDir, 'writing a file', err);
  } finally {
    rmSync(probe, { force: true });
  }
  const file = path.join(dataDir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw dataDirError(dataDir, `creating ${LOCK_FILE}`, err);
      let pid = NaN;
      try {
        pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
      } catch {
        // gone in between: try again
      }
      if (pid !== process.pid && alive(pid)) {
        throw new AppError(
          'ALREADY_RUNNING',
          `another capture-daemon instance runs with data directory ${dataDir} (pid ${pid}, lock file ${file}): stop it first, or give this one another dataDir`,
        );
      }
      if (attempt >= 2) throw new AppError('ALREADY_RUNNING', `cannot take the lock file ${file}: another instance keeps creating it`);
      rmSync(file, { force: true }); // left by an instance that died (kill -9, crash)
    }
  }
  return () => {
    try {
      if (Number.parseInt(readFileSync(file, 'utf8'), 10) === process.pid) unlinkSync(file);
    } catch {
      // already gone
    }
  };
}
