import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { swarmRow } from '../../src/btn/normalize.js';
import type { SwarmRow } from '../../src/btn/ports.js';
import { SqliteBtnAppRepository } from '../../src/store/btn-app-repository.js';
import { SqliteBtnSubmissionRepository } from '../../src/store/btn-submission-repository.js';
import { BtnWriteWorker } from '../../src/store/btn-write-worker.js';
import { openDatabase, type Db } from '../../src/store/open-database.js';
import { startBtn, type BtnFixture } from '../helpers/btn-fixture.js';
import { swarm } from '../helpers/btn-rows.js';
import { gson, pbhHeaders, pbhRequest } from '../helpers/pbh-client.js';
import { tempDir } from '../helpers/temp-dir.js';

type Obj = Record<string, unknown>;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function rows(from: number, n: number, now: number): SwarmRow[] {
  return Array.from({ length: n }, (_, i) => swarmRow(swarm(from + i, now), now) as SwarmRow);
}

function openFile(): { db: Db; app: number } {
  const { dir, cleanup } = tempDir('btn-write-');
  const db = openDatabase(path.join(dir, 'capture.db'));
  cleanups.push(() => {
    db.close();
    cleanup();
  });
  const app = new SqliteBtnAppRepository(db).create({ appId: 'w', secretSha256: Buffer.alloc(32), comment: '', owner: null });
  return { db, app: app.ref };
}

const count = (db: Db, sql: string): number => db.prepare(sql).pluck().get() as number;

describe('BTN write thread: submissions written on a worker thread with its own connection', () => {
  it('answers each call after its commit; calls that wait while one is written share a commit', async () => {
    const { db, app } = openFile();
    const w = new BtnWriteWorker(db);
    cleanups.push(() => w.close());
    const now = Date.now();
    const results = await Promise.all(Array.from({ length: 8 }, (_, b) => w.putSwarm(app, `s${b}`, rows(b * 100, 100, now), now)));
    expect(results.map((r) => r.inserted)).toEqual(new Array(8).fill(100));
    // Committed when answered: the daemon's own connection sees every row, and the count is kept.
    expect(count(db, 'SELECT count(*) FROM btn_swarm')).toBe(800);
    expect(count(db, "SELECT n FROM btn_counts WHERE name = 'swarm'")).toBe(800);
    const s = w.status();
    expect(s.calls).toBe(8);
    expect(s.commits).toBeGreaterThanOrEqual(1);
    expect(s.commits).toBeLessThanOrEqual(8);
    // A resent batch changes nothing, through the thread as in-process.
    expect(await w.putSwarm(app, 'again', rows(0, 100, now), now)).toEqual({ inserted: 0, updated: 0, unchanged: 100 });
  });

  it('one failing batch fails alone: the others of its group are stored', async () => {
    const { db, app } = openFile();
    const w = new BtnWriteWorker(db);
    cleanups.push(() => w.close());
    const now = Date.now();
    const bad = rows(5000, 10, now).map((r, i) => (i === 5 ? { ...r, downloader: { not: 'bindable' } as unknown as string } : r));
    const settled = await Promise.allSettled([
      w.putSwarm(app, 'a', rows(0, 50, now), now),
      w.putSwarm(app, 'bad', bad, now),
      w.putSwarm(app, 'b', rows(100, 50, now), now),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(count(db, 'SELECT count(*) FROM btn_swarm')).toBe(100);
    expect(count(db, "SELECT count(*) FROM btn_swarm WHERE submit_id = 'bad'")).toBe(0);
    expect(count(db, "SELECT n FROM btn_counts WHERE name = 'swarm'")).toBe(100);
  });

  it('a group rolled back leaves no torrent id in the cache (the next batch of that torrent is stored whole)', () => {
    const { db, app } = openFile();
    const repo = new SqliteBtnSubmissionRepository(db);
    const now = Date.now();
    expect(() =>
      repo.group(() => {
        repo.putSwarm(app, 'x', rows(0, 10, now), now);
        throw new Error('rolled back');
      }),
    ).toThrow('rolled back');
    expect(count(db, 'SELECT count(*) FROM btn_torrents')).toBe(0);
    expect(repo.putSwarm(app, 'y', rows(0, 10, now), now).inserted).toBe(10);
    expect(count(db, 'SELECT count(*) FROM btn_swarm x JOIN btn_torrents t ON t.id = x.torrent')).toBe(10);
  });
});

describe('BTN write thread dies inside its transaction', () => {
  let f: BtnFixture;
  afterEach(async () => {
    await f.close();
  });

  it('the request gets a clear 503, nothing is half-written, the resent batch is stored by a new thread', async () => {
    f = await startBtn({}, { writeThread: { faults: { exitInTransaction: true } } });
    const a = f.createApp('crash');
    const h = pbhHeaders(a.appId, a.appSecret);
    const now = Date.now();
    const body = gson({ swarms: Array.from({ length: 300 }, (_, i) => swarm(i, now)) });
    const post = () => pbhRequest(`${f.url}/ping/syncSwarm`, { method: 'POST', headers: h, body });

    const r = await post();
    expect(r.status).toBe(503);
    const err = r.json() as Obj;
    expect(err.success).toBe(false);
    expect(String(err.message)).toMatch(/BTN write thread stopped.*resending it is safe/);
    // The thread's transaction was rolled back when its connection closed: no row, no torrent, no count,
    // and the write lock is free (the daemon's connection writes at once).
    expect(count(f.db, 'SELECT count(*) FROM btn_swarm')).toBe(0);
    expect(count(f.db, 'SELECT count(*) FROM btn_torrents')).toBe(0);
    expect(count(f.db, "SELECT n FROM btn_counts WHERE name = 'swarm'")).toBe(0);
    f.db.prepare('BEGIN IMMEDIATE').run();
    f.db.prepare('ROLLBACK').run();

    const again = await post();
    expect(again.status).toBe(200);
    expect((again.json() as { data: Obj }).data).toMatchObject({ received: 300, inserted: 300 });
    expect(count(f.db, 'SELECT count(*) FROM btn_swarm')).toBe(300);
  });
});
