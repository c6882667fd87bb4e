import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FilterConfig } from '../../../src/config/config-schema.js';
import { FilterRegistry } from '../../../src/filter/filter-registry.js';
import { ApiKeyRing } from '../../../src/http/api-keys.js';
import { createApiServer } from '../../../src/http/api-server.js';
import type { NewCapture } from '../../../src/model/capture.js';
import { Retention, type RetentionOptions } from '../../../src/ops/retention.js';
import { SqliteCaptureRepository } from '../../../src/store/capture-repository.js';
import { ROLLUP_KEEP_MS } from '../../../src/store/capture-rollups.js';
import { SqliteFilterOverlayRepository } from '../../../src/store/filter-overlay-repository.js';
import { openDatabase, type Db } from '../../../src/store/open-database.js';
import { SqliteOpsRepository } from '../../../src/store/ops-repository.js';
import { RetentionWorker } from '../../../src/store/retention-worker.js';
import { SqliteTorrentRepository } from '../../../src/store/torrent-repository.js';
import { writeTurnOf } from '../../../src/store/write-turn.js';
import { silentLogger } from '../../../src/util/logger.js';
import { tempDir } from '../../helpers/temp-dir.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 5, 1);
const IH = 'ab'.repeat(20);
const KEY = 'retention-thread-key-0123';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(): { db: Db; dir: string; file: string; repo: SqliteCaptureRepository; ops: SqliteOpsRepository } {
  const t = tempDir('cd-retention-thread-');
  const file = path.join(t.dir, 'capture.db');
  const db = openDatabase(file);
  cleanups.push(t.cleanup, () => db.close());
  return { db, dir: t.dir, file, repo: new SqliteCaptureRepository(db), ops: new SqliteOpsRepository(db) };
}

function worker(db: Db, ops: SqliteOpsRepository, o: Partial<ConstructorParameters<typeof RetentionWorker>[1]> = {}): RetentionWorker {
  const w = new RetentionWorker({ db, local: ops, logger: silentLogger() }, { thread: true, walMaxBytes: 64 * 2 ** 20, ...o });
  cleanups.push(() => w.close());
  return w;
}

/** n captures over [from, to), under filter a (and b for every other one), every 10th with a pcap file. */
function captures(n: number, from: number, to: number, pcapDir: string | undefined, tag: number): NewCapture[] {
  return Array.from({ length: n }, (_, i): NewCapture => {
    const foundAt = Math.floor(from + ((to - from) * i) / n);
    const c: NewCapture = { foundAt, ip: `10.${tag}.${(i >> 8) & 255}.${i & 255}`, port: 1000 + i, infohash: IH, filters: i % 2 ? ['a', 'b'] : ['a'], city: 'y'.repeat(100) };
    if (i % 3) c.report = { date: foundAt, totalPiecesInTorrent: 10, hasPieces: 10, hasTotal: true, clientName: `client ${i % 4}`, hostIdentifier: '' };
    else c.error = 'connect timeout';
    if (pcapDir && i % 10 === 0) {
      c.pcapPath = path.join(pcapDir, `${tag}-${i}.pcap`);
      writeFileSync(c.pcapPath, 'pcap');
    }
    return c;
  });
}

function options(pcapDir: string, o: Partial<RetentionOptions> = {}): RetentionOptions {
  return { enabled: true, intervalMs: 60_000, maxAgeDays: { captures: 30 }, maxDatabaseBytes: 0, batchSize: 200, maxBatchMs: 50, pauseMs: 0, vacuumPagesPerStep: 256, pcapDir, ...o };
}

const count = (db: Db, sql: string): number => db.prepare(sql).pluck().get() as number;

function filterConfig(name: string): FilterConfig {
  return { name, description: '', infohashes: [], subnets: [], countryCodes: [], storeTCPDumpFile: false, storeTCPDumpAttempt: false, enabled: true, notify: { amqp: false, email: [] } };
}

describe('retention on its thread', () => {
  it('deletes on the thread (listings, pcap files, vacuum as on the event loop) while the API answers over HTTP, and waits for the write turn', async () => {
    const { db, dir, repo, ops } = setup();
    const pcapDir = path.join(dir, 'pcap');
    mkdirSync(pcapDir);
    const old = captures(3_000, NOW - 90 * DAY, NOW - 31 * DAY, pcapDir, 1);
    const fresh = captures(600, NOW - 10 * DAY, NOW, pcapDir, 2);
    for (let i = 0; i < old.length; i += 500) repo.insertMany(old.slice(i, i + 500), NOW);
    repo.insertMany(fresh, NOW);
    const registry = new FilterRegistry({ overlay: new SqliteFilterOverlayRepository(db), torrents: new SqliteTorrentRepository(db) }, ['a', 'b'].map(filterConfig));
    const app = await createApiServer(
      {
        keys: () => new ApiKeyRing([{ name: 't', key: KEY, state: 'active', methods: ['*'], filters: ['*'] }]), pageSize: () => 5_000, filters: registry,
        captures: repo, torrents: new SqliteTorrentRepository(db), logger: silentLogger(),
      },
      { bodyLimitBytes: 1e6, requestTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, trustProxy: false },
    );
    cleanups.push(() => app.close());
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/capture/peers/all/?key=${KEY}&filter=a&from=${NOW - 10 * DAY}&to=${NOW + 1}`;
    const steps = worker(db, ops);
    const retention = new Retention({ store: ops, logger: silentLogger(), now: () => NOW, steps }, options(pcapDir));

    // The event loop holds the write turn (as the capture writer does while it writes): the thread waits for it.
    const turn = writeTurnOf(db);
    expect(turn.tryTake()).toBe(true);
    const pass = retention.runOnce();
    // Meanwhile the event loop is free: requests over HTTP are answered, nothing is deleted yet.
    for (let i = 0; i < 5; i++) {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { peers: unknown[] }).peers.length).toBe(600);
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(count(db, 'SELECT count(*) FROM captures')).toBe(3_600);
    turn.release();
    // Once it has the turn it deletes; the API keeps answering with every recent capture.
    let done = false;
    void pass.then(() => (done = true));
    let requests = 0;
    while (!done) {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { peers: unknown[] }).peers.length).toBe(600);
      requests++;
    }
    const run = await pass;
    expect(requests).toBeGreaterThan(0);
    expect(run.error).toBeUndefined();
    expect(run.deleted.captures).toBe(3_000);
    expect(run.deleted.capture_listings).toBe(4_500);
    expect(run.deleted.pcap_files).toBe(300);
    expect(old.filter((c) => c.pcapPath).every((c) => !existsSync(c.pcapPath as string))).toBe(true);
    expect(fresh.filter((c) => c.pcapPath).every((c) => existsSync(c.pcapPath as string))).toBe(true);
    expect(count(db, 'SELECT count(*) FROM captures')).toBe(600);
    expect(count(db, 'SELECT count(*) FROM capture_filters')).toBe(900);
    expect(run.vacuumedPages).toBeGreaterThan(0);
    expect(ops.space().freelistCount).toBe(0);
    // Every step ran on the thread; status says so.
    expect(run.stepsOnThread).toBe(run.batches);
    const s = steps.status();
    expect(s).toMatchObject({ mode: 'thread', running: true, stepsOnEventLoop: 0, threadsStarted: 1, threadFailures: 0 });
    expect(s.stepsOnThread).toBe(run.batches);
    expect(retention.status().thread).toMatchObject({ mode: 'thread', stepsOnThread: run.batches });
    // The turn is free again for the capture writer.
    expect(turn.tryTake()).toBe(true);
    turn.release();
  });

  it('with thread: false every step runs on the event loop (the fallback), with the same result', async () => {
    const { db, dir, repo, ops } = setup();
    repo.insertMany(captures(1_000, NOW - 60 * DAY, NOW - 31 * DAY, undefined, 1), NOW);
    repo.insertMany(captures(200, NOW - 5 * DAY, NOW, undefined, 2), NOW);
    const steps = worker(db, ops, { thread: false });
    const run = await new Retention({ store: ops, logger: silentLogger(), now: () => NOW, steps }, options(dir)).runOnce();
    expect(run.deleted.captures).toBe(1_000);
    expect(run.stepsOnThread).toBe(0);
    expect(steps.status()).toMatchObject({ mode: 'event-loop', running: false, stepsOnThread: 0, threadsStarted: 0 });
    expect(steps.status().stepsOnEventLoop).toBe(run.batches);
    expect(count(db, 'SELECT count(*) FROM captures')).toBe(200);
  });

  it('a thread that dies inside a step: the step is rolled back and done again on the event loop, nothing is lost or deleted twice', async () => {
    const { db, dir, repo, ops } = setup();
    repo.insertMany(captures(1_500, NOW - 60 * DAY, NOW - 31 * DAY, undefined, 1), NOW);
    repo.insertMany(captures(300, NOW - 5 * DAY, NOW, undefined, 2), NOW);
    const steps = worker(db, ops, { exitInStep: 3, restartDelayMs: 60_000 });
    const run = await new Retention({ store: ops, logger: silentLogger(), now: () => NOW, steps }, options(dir)).runOnce();
    expect(run.error).toBeUndefined();
    // The dying step's transaction (which had deleted a capture) was rolled back: exact counts.
    expect(run.deleted.captures).toBe(1_500);
    expect(count(db, 'SELECT count(*) FROM captures')).toBe(300);
    expect(count(db, `SELECT min(found_at) FROM captures`)).toBeGreaterThanOrEqual(NOW - 5 * DAY);
    const s = steps.status();
    expect(s.threadFailures).toBe(1);
    expect(s.lastError).toContain('exit code 70');
    expect(s.stepsOnThread).toBe(2);
    expect(s.stepsOnEventLoop).toBe(run.batches - 2);
    // The turn the dead thread held is free.
    const turn = writeTurnOf(db);
    expect(turn.tryTake()).toBe(true);
    turn.release();
  });

  it('a step that comes as the idle thread ends waits for it and starts a new one (no failure, nothing on the event loop)', async () => {
    const { db, ops } = setup();
    const steps = worker(db, ops, { idleMs: 40 });
    for (let i = 0; i < 12; i++) {
      const r = await steps.deleteOldSightings(0, 10);
      expect(r.onThread).toBe(true);
      // Around the idle time: some steps come while the thread closes, some after.
      await new Promise((res) => setTimeout(res, 30 + (i % 4) * 10));
    }
    const s = steps.status();
    expect(s).toMatchObject({ threadFailures: 0, stepsOnEventLoop: 0, stepsOnThread: 12, lastError: null });
    expect(s.threadsStarted).toBeGreaterThan(1);
  });

  it('checkpoints the WAL after its steps: deleting 24,000 captures leaves a WAL a fraction of what they wrote into it', async () => {
    const sizes: number[] = [];
    for (const thread of [true, false]) {
      const { db, dir, file, repo, ops } = setup();
      for (let k = 0; k < 24; k++) repo.insertMany(captures(1_000, NOW - (60 - k) * DAY, NOW - (59 - k) * DAY, undefined, k), NOW);
      db.pragma('wal_checkpoint(TRUNCATE)');
      // No checkpoints by the daemon's connection (as with the checkpoint worker, here not running).
      ops.setAutoCheckpoint(0);
      const steps = worker(db, ops, { thread });
      const run = await new Retention({ store: ops, logger: silentLogger(), now: () => NOW, steps }, options(dir, { batchSize: 500, pauseMs: 5 })).runOnce();
      expect(run.deleted.captures).toBe(24_000);
      sizes.push(statSync(`${file}-wal`).size);
      if (thread) {
        expect(run.walMaxBytes).toBeGreaterThan(0);
        expect(run.walMaxBytes).toBeLessThanOrEqual(statSync(`${file}-wal`).size);
      }
    }
    const [withThread, without] = sizes as [number, number];
    // Measured: 2.0-3.3 MiB with the thread (it checkpoints at most every 250 ms), 12.6 MiB without.
    expect(without).toBeGreaterThan(8 * 2 ** 20);
    expect(withThread).toBeLessThan(without / 2);
  });

  it('keeps the WAL near walMaxBytes while readers are always on it (the API under load): it makes the WAL start over', async () => {
    const { db, dir, file, repo, ops } = setup();
    for (let k = 0; k < 48; k++) repo.insertMany(captures(1_000, NOW - (90 - k) * DAY, NOW - (89 - k) * DAY, undefined, k), NOW);
    db.pragma('wal_checkpoint(TRUNCATE)');
    ops.setAutoCheckpoint(0);
    // Another connection always has a read transaction open (20 ms each, the next at once), as
    // back-to-back API requests do: a WAL only starts over when no reader is on it.
    const reader = openDatabase(file, { migrate: false });
    cleanups.push(() => reader.close());
    let reading = true;
    const reads = (async () => {
      while (reading) {
        reader.exec('BEGIN');
        reader.prepare('SELECT count(*) FROM captures').get();
        await new Promise((r) => setTimeout(r, 20));
        reader.exec('COMMIT');
      }
    })();
    const steps = worker(db, ops, { walMaxBytes: 2 ** 20 });
    const run = await new Retention({ store: ops, logger: silentLogger(), now: () => NOW, steps }, options(dir, { batchSize: 500, pauseMs: 5 })).runOnce();
    reading = false;
    await reads;
    expect(run.deleted.captures).toBe(48_000);
    // Deleting them writes ~25 MiB into the WAL (twice the test above); it started over at half of
    // 1 MiB each time, so it never held much more than that and one interval's steps (measured 2.5-4.2
    // MiB; without the RESTART 9.5 MiB).
    expect(statSync(`${file}-wal`).size).toBeLessThan(6 * 2 ** 20);
  });

  it('trims the dashboard rollups past what it shows (8 days), when the capture writer no longer does, and keeps the recent ones', async () => {
    const { db, dir, repo, ops } = setup();
    // Recent captures (rollups kept), then older ones written when they were new (the writer's hourly
    // prune ran then, at their time), then the writer is idle: their rows stay.
    for (let d = 3; d >= 1; d--) repo.insertMany(captures(200, NOW - d * DAY, NOW - (d - 1) * DAY, undefined, 10 + d), NOW - (d - 1) * DAY);
    for (let d = 20; d >= 10; d--) repo.insertMany(captures(200, NOW - d * DAY, NOW - (d - 1) * DAY, undefined, 30 + d), NOW - (d - 1) * DAY);
    const tables: Array<[string, string, number]> = [
      ['capture_minutes', 'minute', 60_000], ['capture_hours', 'hour', HOUR], ['capture_hour_counts', 'hour', HOUR],
      ['capture_day_counts', 'day', DAY], ['capture_hour_torrents', 'hour', HOUR], ['capture_day_torrents', 'day', DAY],
    ];
    const cutoff = NOW - ROLLUP_KEEP_MS;
    const stale = (t: string, k: string, unit: number): number => count(db, `SELECT count(*) FROM ${t} WHERE ${k} < ${Math.floor(cutoff / unit)}`);
    const recent = (t: string, k: string, unit: number): number => count(db, `SELECT count(*) FROM ${t} WHERE ${k} >= ${Math.floor(cutoff / unit)}`);
    const staleBefore = tables.map(([t, k, u]) => stale(t, k, u));
    const recentBefore = tables.map(([t, k, u]) => recent(t, k, u));
    for (const n of staleBefore) expect(n).toBeGreaterThan(0);
    const steps = worker(db, ops);
    const run = await new Retention({ store: ops, logger: silentLogger(), now: () => NOW, steps }, options(dir, { maxAgeDays: { captures: 0 }, batchSize: 100 })).runOnce();
    expect(run.deleted.dashboard_rollups).toBe(staleBefore.reduce((a, b) => a + b, 0));
    expect(tables.map(([t, k, u]) => stale(t, k, u))).toEqual(tables.map(() => 0));
    expect(tables.map(([t, k, u]) => recent(t, k, u))).toEqual(recentBefore);
    // Captures themselves are not touched (no age limit here).
    expect(count(db, 'SELECT count(*) FROM captures')).toBe(14 * 200);
  });
});
