import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { swarmRow } from '../../../src/btn/normalize.js';
import type { SwarmRow } from '../../../src/btn/ports.js';
import { backupDatabase, checkIntegrity } from '../../../src/store/backup.js';
import { SqliteBtnAppRepository } from '../../../src/store/btn-app-repository.js';
import { BtnWriteWorker } from '../../../src/store/btn-write-worker.js';
import { openDatabase, type Db } from '../../../src/store/open-database.js';
import { SqliteOpsRepository } from '../../../src/store/ops-repository.js';
import { WalCheckpointer } from '../../../src/store/wal-checkpointer.js';
import { writeTurnOf } from '../../../src/store/write-turn.js';
import { silentLogger } from '../../../src/util/logger.js';
import { swarm } from '../../helpers/btn-rows.js';
import { tempDir } from '../../helpers/temp-dir.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const walSize = (file: string): number => (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);

/** The WAL's length in pages (mxFrame of the wal-index header in the -shm file; sqlite.org/walformat.html), sampled as it goes. */
function walWatch(file: string): { sample(): void; largest: number; restarts: number; close(): void } {
  const fd = openSync(`${file}-shm`, 'r');
  const b = Buffer.alloc(20);
  let last = 0;
  const w = {
    largest: 0,
    restarts: 0,
    sample(): void {
      readSync(fd, b, 0, 20, 0);
      const frames = b.readUInt32LE(16);
      if (frames < last) w.restarts++;
      last = frames;
      w.largest = Math.max(w.largest, frames);
    },
    close: () => closeSync(fd),
  };
  return w;
}

async function until(ok: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A database with a table of 1 KiB rows, the ops repository, and a running checkpoint worker. */
async function setup(intervalMs = 50, walMaxBytes = 64 * 2 ** 20): Promise<{ db: Db; file: string; ops: SqliteOpsRepository; cp: WalCheckpointer; insert: (n: number) => void }> {
  const t = tempDir('cd-checkpoint-');
  const file = path.join(t.dir, 'capture.db');
  const db = openDatabase(file);
  db.exec('CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)');
  const ops = new SqliteOpsRepository(db);
  const cp = new WalCheckpointer({ file, main: ops, logger: silentLogger() }, { worker: true, intervalMs, walMaxBytes });
  cp.start();
  cleanups.push(t.cleanup, () => {
    if (db.open) db.close();
  }, () => cp.stop());
  const ins = db.prepare('INSERT INTO blobs (body) VALUES (randomblob(1000))');
  const insert = db.transaction((n: number) => {
    for (let i = 0; i < n; i++) ins.run();
  });
  await until(() => cp.status().running, 'the worker to start');
  return { db, file, ops, cp, insert };
}

describe('WAL checkpoint worker', () => {
  it('keeps the WAL bounded under steady writes, without SQLite checkpointing on the event loop', async () => {
    const { db, file, cp, insert } = await setup(50);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    // 200 commits of ~25 pages, one every ~20 ms (as the capture writer commits its batches): ~5,000 pages.
    const wal = walWatch(file);
    cleanups.push(() => wal.close());
    for (let i = 0; i < 200; i++) {
      insert(100);
      wal.sample();
      await sleep(20);
    }
    const s = cp.status();
    expect(s.checkpoints).toBeGreaterThan(10);
    expect(s.failures).toBe(0);
    // Without a checkpoint the WAL would hold all ~5,000 pages; with the worker it starts over again and again.
    expect(wal.restarts).toBeGreaterThanOrEqual(5);
    expect(wal.largest).toBeLessThan(2500);
    expect(db.prepare('SELECT count(*) FROM blobs').pluck().get()).toBe(20_000);
  });

  it('lets a background writer that settles between batches (retention) keep the WAL short even back to back', async () => {
    const { file, cp, insert } = await setup(20);
    const wal = walWatch(file);
    cleanups.push(() => wal.close());
    for (let i = 0; i < 200; i++) {
      insert(100);
      wal.sample();
      await cp.settle();
    }
    // ~5,000 pages written with no pause but the settles: the WAL starts over after each settle's checkpoint.
    expect(wal.restarts).toBeGreaterThanOrEqual(3);
    expect(wal.largest).toBeLessThan(2500);
    expect(cp.status().fallbacks).toBe(0);
  });

  it('checkpoints on the event loop again when the WAL reaches walMaxBytes without a full checkpoint', async () => {
    // An open read transaction pins the WAL (as a backup does): the worker cannot complete.
    const { db, file, cp, insert } = await setup(20, 2 * 2 ** 20);
    const reader = openDatabase(file, { migrate: false });
    cleanups.push(() => {
      reader.close();
    });
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM blobs').get();
    for (let i = 0; i < 40; i++) {
      insert(100);
      await sleep(30);
      if (cp.status().fallbackActive) break;
    }
    expect(cp.status()).toMatchObject({ fallbacks: 1, fallbackActive: true });
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    reader.exec('COMMIT');
    // The reader gone, the daemon's own checkpoint completes and the WAL starts over: the worker takes over again.
    for (let i = 0; i < 100 && cp.status().fallbackActive; i++) {
      insert(10);
      await cp.checkpointNow();
    }
    expect(cp.status().fallbackActive).toBe(false);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
  });

  it('stop() runs a last checkpoint and joins the worker: the daemon connection, the last one, removes the WAL on close', async () => {
    const { db, file, cp, insert } = await setup(60_000);
    insert(500);
    expect(walSize(file)).toBeGreaterThan(500_000);
    await cp.stop();
    expect(cp.status().running).toBe(false);
    expect(cp.status().checkpoints).toBe(1); // the last one, at stop
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    db.close();
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it('gives space back after an incremental vacuum (the checkpoint truncates the file)', async () => {
    const { db, file, ops, cp, insert } = await setup(60_000);
    insert(5000);
    await cp.checkpointNow();
    insert(1); // starts the WAL over
    await cp.checkpointNow();
    const big = statSync(file).size;
    db.exec('DELETE FROM blobs WHERE id > 100');
    while (ops.incrementalVacuum(1000) > 0);
    await cp.checkpointNow();
    expect(statSync(file).size).toBeLessThan(big / 4);
    expect(checkIntegrity(file)).toMatchObject({});
  });

  it('does not get in the way of an online backup taken while it checkpoints and the daemon writes', async () => {
    const { file, insert } = await setup(20);
    insert(2000);
    const writing = (async () => {
      for (let i = 0; i < 50; i++) {
        insert(50);
        await sleep(5);
      }
    })();
    const target = path.join(path.dirname(file), 'backup.db');
    const r = await backupDatabase(file, target, { busyTimeoutMs: 5000, pagesPerStep: 64 });
    await writing;
    expect(r.integrity).toBe('ok');
    expect(checkIntegrity(target).pages).toBeGreaterThan(400);
  });

  it('survives a kill -9 of the process with the worker running: every commit is there after recovery', async () => {
    const t = tempDir('cd-checkpoint-kill-');
    cleanups.push(t.cleanup);
    const file = path.join(t.dir, 'capture.db');
    const root = path.resolve(import.meta.dirname, '../../..');
    const script = `
      import { openDatabase } from ${JSON.stringify(path.join(root, 'src/store/open-database.ts'))};
      import { SqliteOpsRepository } from ${JSON.stringify(path.join(root, 'src/store/ops-repository.ts'))};
      import { WalCheckpointer } from ${JSON.stringify(path.join(root, 'src/store/wal-checkpointer.ts'))};
      import { silentLogger } from ${JSON.stringify(path.join(root, 'src/util/logger.ts'))};
      const db = openDatabase(${JSON.stringify(file)});
      db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)');
      const cp = new WalCheckpointer({ file: ${JSON.stringify(file)}, main: new SqliteOpsRepository(db), logger: silentLogger() }, { worker: true, intervalMs: 5, walMaxBytes: 64 * 2 ** 20 });
      cp.start();
      const ins = db.prepare('INSERT INTO blobs (body) VALUES (randomblob(1000))');
      const tx = db.transaction(() => { for (let i = 0; i < 100; i++) ins.run(); });
      let n = 0;
      const tick = () => { tx(); n += 100; process.stdout.write(n + '\\n'); setTimeout(tick, 1); };
      setTimeout(tick, 200);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let last = 0;
    child.stdout.on('data', (b: Buffer) => {
      const lines = b.toString().trim().split('\n');
      last = Number(lines[lines.length - 1]);
    });
    await until(() => last >= 20_000, 'the child to commit 20,000 rows', 60_000);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const db = openDatabase(file, { migrate: false });
    try {
      expect(db.prepare('SELECT count(*) FROM blobs').pluck().get()).toBeGreaterThanOrEqual(last);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
  }, 90_000);
});

describe('WAL checkpoint worker with a write thread committing back to back (the BTN write thread)', () => {
  const batch = (from: number, now: number): SwarmRow[] => Array.from({ length: 1000 }, (_, i) => swarmRow(swarm(from + i, now), now) as SwarmRow);

  async function btnWriter(db: Db): Promise<{ w: BtnWriteWorker; app: number }> {
    const app = new SqliteBtnAppRepository(db).create({ appId: 'w', secretSha256: Buffer.alloc(32), comment: '', owner: null }).ref;
    const w = new BtnWriteWorker(db);
    cleanups.push(() => w.close());
    await w.start();
    return { w, app };
  }

  it("the thread's connection checkpoints in its commits only when the daemon's does (write turn's setting)", async () => {
    const t = tempDir('cd-checkpoint-btn-');
    const file = path.join(t.dir, 'capture.db');
    const db = openDatabase(file);
    cleanups.push(t.cleanup, () => {
      if (db.open) db.close();
    });
    const ops = new SqliteOpsRepository(db);
    const { w, app } = await btnWriter(db);
    const wal = walWatch(file);
    cleanups.push(() => wal.close());
    const now = Date.now();
    ops.setAutoCheckpoint(0); // as while the checkpoint worker runs
    for (let b = 0; b < 15; b++) {
      await w.putSwarm(app, `off${b}`, batch(b * 1000, now), now);
      wal.sample();
    }
    // Past SQLite's 1,000 pages and never started over: no checkpoint ran in the thread's commits.
    expect(wal.restarts).toBe(0);
    expect(wal.largest).toBeGreaterThan(1100);
    ops.setAutoCheckpoint(1000); // the worker stopped or fell back: SQLite's own again, on the thread too
    for (let b = 15; b < 30; b++) {
      await w.putSwarm(app, `on${b}`, batch(b * 1000, now), now);
      wal.sample();
    }
    expect(wal.restarts).toBeGreaterThanOrEqual(1);
    expect(db.prepare('SELECT count(*) FROM btn_swarm').pluck().get()).toBe(30_000);
  });

  it('ends a checkpoint of a long WAL with a round in the write turn that starts the WAL over; writers wait for that round only', async () => {
    const { db, file, cp, insert } = await setup(60_000);
    const wal = walWatch(file);
    cleanups.push(() => wal.close());
    insert(5000); // ~1,300 pages: over the 1,000 from which the last round runs in the turn
    const turn = writeTurnOf(db);
    expect(turn.tryTake()).toBe(true); // a writer is in its transaction
    let done = false;
    const checkpointing = cp.checkpointNow().then(() => (done = true));
    await sleep(300);
    expect(done).toBe(false); // its passive rounds ran; the last waits for the turn
    wal.sample();
    turn.release();
    await checkpointing;
    expect(cp.status()).toMatchObject({ turnRounds: 1, walFramesPending: 0 });
    insert(1);
    wal.sample();
    expect(wal.restarts).toBe(1); // RESTART: the next commit wrote from the WAL's start
  });

  it('keeps the WAL bounded while the write thread commits back to back, its own checkpoints off', async () => {
    const { db, file, cp } = await setup(50);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    const { w, app } = await btnWriter(db);
    const wal = walWatch(file);
    cleanups.push(() => wal.close());
    const now = Date.now();
    // 60 batches of 1,000 rows, each sent as soon as the last is stored: ~5,500 pages written.
    for (let b = 0; b < 60; b++) {
      await w.putSwarm(app, `s${b}`, batch(b * 1000, now), now);
      wal.sample();
    }
    expect(db.prepare('SELECT count(*) FROM btn_swarm').pluck().get()).toBe(60_000);
    // The thread's commits finish while the worker's rounds copy, so only the rounds in the turn start it over.
    expect(cp.status().turnRounds).toBeGreaterThanOrEqual(1);
    expect(cp.status().fallbacks).toBe(0);
    expect(wal.restarts).toBeGreaterThanOrEqual(1);
    expect(wal.largest).toBeLessThan(4000);
  });
});
