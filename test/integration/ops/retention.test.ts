import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NewCapture } from '../../../src/model/capture.js';
import { Retention, type RetentionOptions } from '../../../src/ops/retention.js';
import { SqliteCaptureRepository } from '../../../src/store/capture-repository.js';
import { openDatabase, type Db } from '../../../src/store/open-database.js';
import { SqliteOpsRepository } from '../../../src/store/ops-repository.js';
import { silentLogger } from '../../../src/util/logger.js';
import { prng } from '../../helpers/prng.js';
import { tempDir } from '../../helpers/temp-dir.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);
const IH = 'cd'.repeat(20);

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function setup(): { db: Db; dir: string; file: string; captures: SqliteCaptureRepository; ops: SqliteOpsRepository } {
  const t = tempDir('cd-retention-');
  const file = path.join(t.dir, 'capture.db');
  const db = openDatabase(file);
  cleanups.push(t.cleanup, () => db.close());
  return { db, dir: t.dir, file, captures: new SqliteCaptureRepository(db), ops: new SqliteOpsRepository(db) };
}

/** n captures spread evenly over [from, to), 1–2 filters each, some with pcap files and outbox rows. */
function captures(n: number, from: number, to: number, pcapDir: string | undefined, seed: number): NewCapture[] {
  const rnd = prng(seed);
  const out: NewCapture[] = [];
  for (let i = 0; i < n; i++) {
    const foundAt = Math.floor(from + ((to - from) * i) / n);
    const filters = rnd() < 0.5 ? ['a'] : ['a', 'b'];
    const c: NewCapture = { foundAt, ip: `10.1.${(i >> 8) & 255}.${i & 255}`, port: 1000 + (i % 60_000), infohash: IH, filters, city: 'x'.repeat(200) };
    if (i % 2 === 0) c.report = { date: foundAt, totalPiecesInTorrent: 10, hasPieces: 5, hasTotal: false, clientName: 'c', hostIdentifier: '' };
    else c.error = 'connect timeout';
    if (pcapDir && i % 10 === 0) {
      c.pcapPath = path.join(pcapDir, `${i}-${seed}.pcap`);
      writeFileSync(c.pcapPath, 'pcap');
    }
    if (i % 7 === 0) c.notify = [{ filter: 'a', target: 'amqp' }];
    out.push(c);
  }
  return out;
}

function options(o: Partial<RetentionOptions> & { pcapDir: string }): RetentionOptions {
  return {
    enabled: true, intervalMs: 60_000, maxAgeDays: { captures: 30, sightings: 30, outbox: 30 }, maxDatabaseBytes: 0,
    batchSize: 100, maxBatchMs: 10, pauseMs: 0, vacuumPagesPerStep: 64, ...o,
  };
}

const count = (db: Db, sql: string): number => db.prepare(sql).pluck().get() as number;

describe('retention', () => {
  it('deletes captures past their age with their listings, outbox rows and pcap files, in batches, and gives the pages back', async () => {
    const { db, dir, file, captures: repo, ops } = setup();
    const pcapDir = path.join(dir, 'pcap');
    mkdirSync(pcapDir);
    const old = captures(2_000, NOW - 60 * DAY, NOW - 31 * DAY, pcapDir, 1);
    const fresh = captures(1_000, NOW - 29 * DAY, NOW, pcapDir, 2);
    for (let i = 0; i < old.length; i += 500) repo.insertMany(old.slice(i, i + 500));
    repo.insertMany(fresh);
    // A sighting and a parked notification past their age, and one of each that is recent.
    db.prepare('INSERT INTO peers (ip, port, infohash, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)').run('10.9.9.9', 1, IH, NOW - 40 * DAY, NOW - 40 * DAY);
    db.prepare('INSERT INTO peers (ip, port, infohash, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)').run('10.9.9.8', 1, IH, NOW - 40 * DAY, NOW - DAY);
    const freshId = count(db, 'SELECT max(id) FROM captures');
    db.prepare("INSERT INTO outbox (capture_id, filter, target, created_at, parked_reason) VALUES (?, 'a', 'email', ?, 'poison')").run(freshId, NOW - 40 * DAY);
    db.prepare("INSERT INTO outbox (capture_id, filter, target, created_at, parked_reason) VALUES (?, 'a', 'email', ?, 'poison')").run(freshId, NOW - DAY);
    const oldPcaps = old.filter((c) => c.pcapPath).map((c) => c.pcapPath as string);
    const freshPcaps = fresh.filter((c) => c.pcapPath).map((c) => c.pcapPath as string);
    const outboxOfFresh = count(db, `SELECT count(*) FROM outbox o JOIN captures c ON c.id = o.capture_id WHERE c.found_at >= ${NOW - 30 * DAY} AND o.parked_reason IS NULL`);
    const listingsOfFresh = fresh.reduce((s, c) => s + c.filters.length, 0);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const sizeBefore = statSync(file).size;

    const retention = new Retention({ store: ops, logger: silentLogger(), now: () => NOW }, options({ pcapDir }));
    const run = await retention.runOnce();

    expect(run.error).toBeUndefined();
    expect(run.deleted.captures).toBe(2_000);
    expect(run.deleted.capture_listings).toBe(old.reduce((s, c) => s + c.filters.length, 0));
    expect(run.deleted.outbox).toBe(old.filter((c) => c.notify).length);
    expect(run.deleted.pcap_files).toBe(oldPcaps.length);
    expect(run.deleted.sightings).toBe(1);
    expect(run.deleted.outbox_parked).toBe(1);
    expect(count(db, 'SELECT count(*) FROM captures')).toBe(1_000);
    expect(count(db, `SELECT min(found_at) FROM captures`)).toBe(fresh[0]?.foundAt);
    expect(count(db, 'SELECT count(*) FROM capture_filters')).toBe(listingsOfFresh);
    expect(count(db, 'SELECT count(*) FROM outbox WHERE parked_reason IS NULL')).toBe(outboxOfFresh);
    expect(count(db, 'SELECT count(*) FROM peers')).toBe(1);
    expect(oldPcaps.every((p) => !existsSync(p))).toBe(true);
    expect(freshPcaps.every((p) => existsSync(p))).toBe(true);
    // The API still pages through the rest, every capture once.
    const page = repo.page({ filter: 'a', from: 0, to: NOW + 1, pageSize: 5_000 });
    expect(page.peers.length).toBe(1_000);
    // New file: auto_vacuum = INCREMENTAL, so the freed pages went back to the file system.
    expect(run.vacuumedPages).toBeGreaterThan(0);
    expect(ops.space().freelistCount).toBe(0);
    db.pragma('wal_checkpoint(TRUNCATE)');
    expect(statSync(file).size).toBeLessThan(sizeBefore);
    expect(retention.status().deletedSinceStart.captures).toBe(2_000);

    // A second pass has nothing to do.
    const again = await retention.runOnce();
    expect(again.deleted).toEqual({});
  });

  it('keeps the database under its size cap by deleting the oldest captures first, whatever their age', async () => {
    const { dir, captures: repo, ops } = setup();
    for (let d = 10; d > 0; d--) repo.insertMany(captures(1_000, NOW - d * DAY, NOW - (d - 1) * DAY, undefined, d));
    const used = ops.space().usedBytes;
    const cap = Math.floor(used * 0.6);
    const retention = new Retention({ store: ops, logger: silentLogger(), now: () => NOW }, options({ pcapDir: dir, maxDatabaseBytes: cap }));
    const run = await retention.runOnce();
    expect(run.overCap).toBe(true);
    expect(run.usedBytesAfter).toBeLessThanOrEqual(cap * 0.95 + 64 * 1024);
    expect(run.deleted.captures).toBeGreaterThan(3_000);
    expect(run.deleted.captures).toBeLessThan(10_000);
    // Oldest first: what is left is one contiguous, newest range.
    const left = repo.page({ filter: 'a', from: 0, to: NOW + 1, pageSize: 20_000 }).peers.map((r) => r[1]);
    const all = Array.from({ length: 10 }, (_, k) => captures(1_000, NOW - (10 - k) * DAY, NOW - (9 - k) * DAY, undefined, 10 - k)).flat();
    const keptFoundAt = all.filter((c) => c.filters.includes('a')).map((c) => c.foundAt).slice(-left.length);
    expect(left).toEqual(keptFoundAt);
  });

  it('keeps room for the next interval: deletes before the cap is reached when the last growth would cross it', async () => {
    const { dir, captures: repo, ops } = setup();
    repo.insertMany(captures(2_000, NOW - 3 * DAY, NOW - 2 * DAY, undefined, 1));
    const first = ops.space().usedBytes;
    repo.insertMany(captures(2_000, NOW - 2 * DAY, NOW - DAY, undefined, 2));
    const grown = ops.space().usedBytes;
    const growth = grown - first;
    // Room for 2.2 more intervals' growth now; after one more interval, room for 1.2 only.
    const cap = Math.round(grown + 2.2 * growth);
    const retention = new Retention({ store: ops, logger: silentLogger(), now: () => NOW }, options({ pcapDir: dir, maxDatabaseBytes: cap }));
    // The first pass has seen no growth yet: under the cap, nothing to do.
    const r1 = await retention.runOnce();
    expect(r1.overCap).toBe(false);
    // One interval later the database grew by about `growth` again: still under the cap, but the next
    // interval (with the 1.5× margin) would cross it.
    repo.insertMany(captures(2_000, NOW - DAY, NOW, undefined, 3));
    const r2 = await retention.runOnce();
    expect(r2.usedBytesBefore).toBeLessThan(cap);
    expect(r2.overCap).toBe(true);
    expect(r2.deleted.captures).toBeGreaterThan(0);
    expect(r2.usedBytesAfter + growth).toBeLessThanOrEqual(cap);
  });

  it('ages registered tables of other modules (BTN submissions, spam reports) by their own limit', async () => {
    const { dir, ops } = setup();
    const calls: Array<[number, number]> = [];
    let left = 250;
    const retention = new Retention(
      { store: ops, logger: silentLogger(), now: () => NOW },
      options({ pcapDir: dir, maxAgeDays: { captures: 0, btnSubmissions: 7, spamReports: 0 } }),
    );
    retention.register({
      name: 'btnSubmissions',
      deleteOlderThan: (before, limit) => {
        calls.push([before, limit]);
        const n = Math.min(limit, left);
        left -= n;
        return n;
      },
    });
    retention.register({ name: 'spamReports', deleteOlderThan: () => expect.fail('spamReports is kept forever (0 days)') });
    const run = await retention.runOnce();
    // A slow start (32 rows), growing by half while batches are fast, up to batchSize (100): 32 + 48 + 72 + 98.
    expect(calls.map((c) => c[1])).toEqual([32, 48, 72, 100]);
    expect(calls[0]?.[0]).toBe(NOW - 7 * DAY);
    expect(run.deleted.btnSubmissions).toBe(250);
  });

  it('shrinks the batches of a slow table to its time budget, pauses at least twice a batch, and keeps the size for the next pass', async () => {
    const { dir, ops } = setup();
    const limits: number[] = [];
    const gaps: number[] = [];
    let left = 100;
    let lastEnd = 0;
    const retention = new Retention(
      { store: ops, logger: silentLogger(), now: () => NOW },
      options({ pcapDir: dir, maxAgeDays: { captures: 0, spamReports: 1 }, maxBatchMs: 10 }),
    );
    retention.register({
      name: 'spamReports',
      deleteOlderThan: (_before, limit) => {
        if (lastEnd > 0) gaps.push(performance.now() - lastEnd);
        limits.push(limit);
        // 2 ms of blocking work per row: the first batch (32 rows) takes 64 ms, 6 times the budget.
        const until = performance.now() + limit * 2;
        while (performance.now() < until);
        lastEnd = performance.now();
        const n = Math.min(limit, left);
        left -= n;
        return n;
      },
    });
    const run = await retention.runOnce();
    expect(run.deleted.spamReports).toBe(100);
    expect(limits[0]).toBe(32);
    // 32 rows took ≥ 64 ms against a 10 ms budget: the next batches hold at most 32 × 10/64 × 0.8 = 4 rows.
    for (const l of limits.slice(1)) expect(l).toBeLessThanOrEqual(4);
    // The pause after a batch of ≥ 64 ms is ≥ 128 ms (not the 0 ms pauseMs).
    expect(gaps[0]).toBeGreaterThanOrEqual(120);
    // status shows how long the event loop was held: every batch counted, the first (≥ 64 ms) the longest.
    expect(run.batches).toBeGreaterThanOrEqual(limits.length); // and any vacuum steps
    expect(run.longestBatchMs).toBeGreaterThanOrEqual(64);
    // The next pass starts at the size it learned, not at 32 again.
    left = 3;
    limits.length = 0;
    lastEnd = 0;
    await retention.runOnce();
    expect(limits[0]).toBeLessThanOrEqual(4);
  });
});
