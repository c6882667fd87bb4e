import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createServer } from 'node:net';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { ProgressBar } from '../../../src/cli/progress-bar.js';
import { loadConfig } from '../../../src/config/load-config.js';
import type { NewCapture } from '../../../src/model/capture.js';
import { backupDatabase, checkIntegrity, restoreDatabase } from '../../../src/store/backup.js';
import { SqliteCaptureRepository } from '../../../src/store/capture-repository.js';
import { openDatabase } from '../../../src/store/open-database.js';
import { tempDir } from '../../helpers/temp-dir.js';

const IH = 'ef'.repeat(20);
const T0 = Date.UTC(2026, 0, 1);
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function capture(i: number): NewCapture {
  return { foundAt: T0 + i, ip: `10.2.${(i >> 8) & 255}.${i & 255}`, port: 1 + (i % 60_000), infohash: IH, filters: ['a'], error: 'connect timeout', city: 'y'.repeat(300) };
}

describe('db backup and restore', () => {
  it('copies a database that another connection keeps writing to, consistently, without restarting, and the copy restores', async () => {
    const t = tempDir('cd-backup-');
    cleanups.push(t.cleanup);
    const file = path.join(t.dir, 'capture.db');
    const db = openDatabase(file);
    cleanups.push(() => db.close());
    const repo = new SqliteCaptureRepository(db);
    let n = 0;
    for (let b = 0; b < 40; b++) repo.insertMany(Array.from({ length: 500 }, () => capture(n++)));
    // The "daemon": commits a batch every few milliseconds during the whole backup.
    const writer = setInterval(() => repo.insertMany(Array.from({ length: 50 }, () => capture(n++))), 2);
    cleanups.push(() => clearInterval(writer));
    const progress: Array<{ totalPages: number; remainingPages: number }> = [];
    const out = path.join(t.dir, 'backup.db');
    const result = await backupDatabase(file, out, { busyTimeoutMs: 5000, pagesPerStep: 16, onProgress: (p) => progress.push({ ...p }) });
    clearInterval(writer);
    const written = n;

    expect(result.integrity).toBe('ok');
    expect(progress.length).toBeGreaterThan(20); // many small steps, with commits in between…
    for (let i = 1; i < progress.length; i++) {
      // …and never a restart: remaining pages only go down.
      expect((progress[i] as { remainingPages: number }).remainingPages).toBeLessThanOrEqual((progress[i - 1] as { remainingPages: number }).remainingPages);
    }
    expect(existsSync(`${out}.partial`)).toBe(false);
    const copy = new Database(out, { readonly: true });
    const copied = copy.prepare('SELECT count(*) FROM captures').pluck().get() as number;
    const listed = copy.prepare('SELECT count(*) FROM capture_filters').pluck().get() as number;
    copy.close();
    expect(copied).toBeGreaterThanOrEqual(20_000);
    expect(copied).toBeLessThan(written); // the daemon went on writing after the snapshot
    expect(listed).toBe(copied); // one snapshot: every capture with its listing, nothing torn
    expect(checkIntegrity(out).schemaVersion).toBe(result.schemaVersion);

    // An existing file is not overwritten.
    await expect(backupDatabase(file, out, { busyTimeoutMs: 5000 })).rejects.toThrow(/exists/);

    // Restore into a fresh place: the daemon's repository reads the captures of the snapshot.
    const target = path.join(t.dir, 'restored', 'capture.db');
    openDatabase(target).close();
    writeFileSync(`${target}-wal`, 'stale');
    restoreDatabase(out, target);
    expect(existsSync(`${target}-wal`)).toBe(false);
    const restored = openDatabase(target);
    cleanups.push(() => restored.close());
    const page = new SqliteCaptureRepository(restored).page({ filter: 'a', from: 0, to: T0 + n, pageSize: 100_000 });
    expect(page.peers.length).toBe(copied);
  });

  it('refuses to restore a corrupt file', () => {
    const t = tempDir('cd-backup-');
    cleanups.push(t.cleanup);
    const bad = path.join(t.dir, 'bad.db');
    writeFileSync(bad, Buffer.alloc(8192, 7));
    expect(() => restoreDatabase(bad, path.join(t.dir, 'capture.db'))).toThrow();
    expect(existsSync(path.join(t.dir, 'capture.db'))).toBe(false);
  });

  it('the CLI backs up and restores with the config’s database, and restore refuses while a daemon runs', async () => {
    const t = tempDir('cd-backup-cli-');
    cleanups.push(t.cleanup);
    const config = path.join(t.dir, 'config.yaml');
    writeFileSync(config, `dataDir: ${t.dir}\n`);
    const db = openDatabase(path.join(t.dir, 'capture.db'));
    new SqliteCaptureRepository(db).insertMany(Array.from({ length: 100 }, (_, i) => capture(i)));
    db.close();
    const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const cli = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, ['--import', TSX, path.resolve('src/cli/run.ts'), ...args, '--config', config], { cwd: t.dir });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const backup = await cli(['db', 'backup', path.join(t.dir, 'b.db'), '--json']);
    expect(backup.stderr).toBe('');
    expect(JSON.parse(backup.stdout)).toMatchObject({ integrity: 'ok', file: path.join(t.dir, 'b.db') });
    // Something answers on the admin socket (a running daemon): restore refuses.
    const socket = loadConfig({ file: config, env: {} }).config.admin.socket;
    const daemon = createServer((c) => c.end());
    await new Promise<void>((r) => daemon.listen(socket, r));
    const refused = await cli(['db', 'restore', path.join(t.dir, 'b.db')]);
    await new Promise<void>((r) => daemon.close(() => r()));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/a daemon is running .*stop it before restoring/);
    const restore = await cli(['db', 'restore', path.join(t.dir, 'b.db')]);
    expect(restore.code).toBe(0);
    expect(restore.stdout).toMatch(/restored from .*b\.db/);
  }, 120_000);
});

describe('ProgressBar', () => {
  it('draws in place on a terminal and stays silent otherwise', () => {
    const written: string[] = [];
    const stream = { isTTY: true, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
    const bar = new ProgressBar('backup', stream);
    bar.update(5, 10);
    bar.update(10, 10, '10/10 pages');
    bar.done();
    expect(written[0]).toMatch(/^\rbackup █{15}░{15} {2}50%/);
    expect(written[1]).toMatch(/100% 10\/10 pages/);
    expect(written[2]).toBe('\n');
    const quiet: string[] = [];
    const pipe = { isTTY: false, write: (s: string) => quiet.push(s) } as unknown as NodeJS.WriteStream;
    const silent = new ProgressBar('backup', pipe);
    silent.update(1, 2);
    silent.done();
    expect(quiet).toEqual([]);
  });
});
