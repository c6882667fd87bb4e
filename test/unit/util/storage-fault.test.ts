import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { explainStorageError, probeWritable } from '../../../src/util/storage-fault.js';
import { tempDir } from '../../helpers/temp-dir.js';

const { dir, cleanup } = tempDir('storage-fault-');
afterAll(() => cleanup());

const sqliteError = (code: string, message: string): Error => Object.assign(new Error(message), { code });

describe('probeWritable / explainStorageError', () => {
  it('a writable dir: no fault, and the probe file is gone', () => {
    expect(probeWritable(dir)).toBeUndefined();
    expect(probeWritable(dir)).toBeUndefined();
  });

  it('names what a probe finds behind "disk I/O error", with the path', () => {
    const gone = path.join(dir, 'missing');
    expect(probeWritable(gone)).toEqual({ kind: 'missing', reason: 'no such file or directory' });
    expect(explainStorageError(sqliteError('SQLITE_IOERR_WRITE', 'disk I/O error'), gone)).toBe(`no such file or directory: ${gone} (disk I/O error)`);
    // The probe finds nothing wrong: still an I/O error, with the path.
    expect(explainStorageError(sqliteError('SQLITE_IOERR_WRITE', 'disk I/O error'), dir)).toBe(`I/O error: ${dir} (disk I/O error)`);
  });

  it('a fault that names itself is not probed; anything else is its message', () => {
    expect(explainStorageError(sqliteError('SQLITE_FULL', 'database or disk is full'), '/nonexistent')).toBe('disk full: /nonexistent (database or disk is full)');
    expect(explainStorageError(sqliteError('SQLITE_BUSY', 'database is locked'), dir)).toBe(`database locked by another process: ${dir} (database is locked)`);
    expect(explainStorageError(new Error('boom'), dir)).toBe('boom');
  });
});
