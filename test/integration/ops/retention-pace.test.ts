import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NewCapture } from '../../../src/model/capture.js';
import type { OpsStore } from '../../../src/ops/ports.js';
import { Retention, type RetentionOptions } from '../../../src/ops/retention.js';
import { SqliteCaptureRepository } from '../../../src/store/capture-repository.js';
import { openDatabase } from '../../../src/store/open-database.js';
import { SqliteOpsRepository } from '../../../src/store/ops-repository.js';
import { silentLogger } from '../../../src/util/logger.js';
import { tempDir } from '../../helpers/temp-dir.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function setup(): { dir: string; captures: SqliteCaptureRepository; ops: SqliteOpsRepository } {
  const t = tempDir('cd-retention-pace-');
  const db = openDatabase(path.join(t.dir, 'capture.db'));
  cleanups.push(t.cleanup, () => db.close());
  return { dir: t.dir, captures: new SqliteCaptureRepository(db), ops: new SqliteOpsRepository(db) };
}

/** n captures spread evenly over [from, to). */
function captures(n: number, from: number, to: number): NewCapture[] {
  return Array.from({ length: n }, (_, i) => ({
    foundAt: Math.floor(from + ((to - from) * i) / n),
    ip: `10.2.${(i >> 8) & 255}.${i & 255}`,
    port: 1000 + i,
    infohash: 'ef'.repeat(20),
    filters: ['a'],
    error: 'connect timeout',
  }));
}

function options(o: Partial<RetentionOptions> & { pcapDir: string }): RetentionOptions {
  return {
    enabled: true, intervalMs: 60_000, maxAgeDays: { captures: 30 }, maxDatabaseBytes: 0,
    batchSize: 100, maxBatchMs: 50, pauseMs: 0, vacuumPagesPerStep: 64, ...o,
  };
}

describe('retention pace', () => {
  it('deletes at most paceRowsPerSecond: 600 old captures at 1,000/s take about 0.6 s (unpaced: a fraction of it), and says so', async () => {
    const { dir, captures: repo, ops } = setup();
    repo.insertMany(captures(600, NOW - 60 * DAY, NOW - 40 * DAY));
    repo.insertMany(captures(600, NOW - 60 * DAY, NOW - 40 * DAY).map((c) => ({ ...c, port: c.port + 10_000 })));
    const unpaced = new Retention({ store: ops, logger: silentLogger(), now: () => NOW - 50 * DAY + 30 * DAY }, options({ pcapDir: dir }));
    // Half of them (those older than 50 days) unpaced, the other half at 1,000 rows/s.
    const fast = await unpaced.runOnce();
    expect(fast.deleted.captures).toBe(600);
    expect(fast.pacedMs).toBe(0);
    const retention = new Retention({ store: ops, logger: silentLogger(), now: () => NOW }, options({ pcapDir: dir, paceRowsPerSecond: 1_000 }));
    const t0 = performance.now();
    const run = await retention.runOnce();
    const ms = performance.now() - t0;
    expect(run.deleted.captures).toBe(600);
    // 600 rows at 1,000/s: the last batch's share needs no pause after it, so ≥ 600 − 100 (a batch) ms.
    expect(ms).toBeGreaterThanOrEqual(450);
    expect(ms).toBeLessThan(5_000);
    expect(run.pacedMs).toBeGreaterThan(300);
    expect(run.unpaced).toBe(false);
    expect(fast.durationMs).toBeLessThan(ms / 2);
    const s = retention.status().pace;
    expect(s).toMatchObject({ rowsPerSecond: 1_000, factor: 1, raises: 0 });
    // The newest capture deleted was found 40 days ago (less one spacing, 48 min): 10 days past the 30-day limit.
    expect(s.lagMs).toBeGreaterThanOrEqual(10 * DAY);
    expect(s.lagMs).toBeLessThan(10 * DAY + 3_600_000);
  });

  it('a size-cap breach overrides the pace: the oldest captures go at once, at 1 row/s configured', async () => {
    const { dir, captures: repo, ops } = setup();
    repo.insertMany(captures(2_000, NOW - 10 * DAY, NOW));
    const cap = Math.floor(ops.space().usedBytes * 0.6);
    const retention = new Retention({ store: ops, logger: silentLogger(), now: () => NOW }, options({ pcapDir: dir, maxDatabaseBytes: cap, paceRowsPerSecond: 1, paceVacuumPagesPerSecond: 1 }));
    const t0 = performance.now();
    const run = await retention.runOnce();
    expect(run.overCap).toBe(true);
    expect(run.unpaced).toBe(true);
    expect(run.pacedMs).toBe(0);
    expect(run.deleted.captures).toBeGreaterThan(500);
    expect(run.usedBytesAfter).toBeLessThanOrEqual(cap);
    // At 1 row/s this would take many minutes.
    expect(performance.now() - t0).toBeLessThan(10_000);
  });

  it('a paced pass that crosses the cap goes unpaced from then on, and deletes down under the cap in the same pass', async () => {
    const { dir, captures: repo, ops } = setup();
    repo.insertMany(captures(1_000, NOW - 60 * DAY, NOW - 31 * DAY));
    repo.insertMany(captures(1_000, NOW - 10 * DAY, NOW).map((c) => ({ ...c, port: c.port + 10_000 })));
    const real = ops.space().usedBytes;
    // A store whose bytes in use jump over the cap after the third delete (say, a burst of captures).
    let deletes = 0;
    const store: OpsStore = Object.assign(Object.create(ops) as OpsStore, {
      space: () => ({ ...ops.space(), usedBytes: deletes >= 3 ? ops.space().usedBytes * 4 : ops.space().usedBytes }),
      deleteOldestCaptures: (before: number, limit: number) => (deletes++, ops.deleteOldestCaptures(before, limit)),
    });
    const retention = new Retention({ store, logger: silentLogger(), now: () => NOW }, options({ pcapDir: dir, maxDatabaseBytes: real * 2, paceRowsPerSecond: 20 }));
    const t0 = performance.now();
    const run = await retention.runOnce();
    // The first batches were paced (20 rows/s: a batch of 20 then ~1 s), then none.
    expect(run.pacedMs).toBeGreaterThan(500);
    expect(run.unpaced).toBe(true);
    expect(run.overCap).toBe(true);
    // All the old ones, then recent ones for the cap, in the same pass.
    expect(run.deleted.captures).toBeGreaterThan(1_000);
    expect(performance.now() - t0).toBeLessThan(15_000);
  });

  it('raises the pace while the captures fall further behind their age limit (time outruns the deletes), back to the configured pace once caught up', async () => {
    const { dir, captures: repo, ops } = setup();
    repo.insertMany(captures(700, NOW - 36 * DAY, NOW - 30 * DAY));
    const t0 = performance.now();
    // The clock runs a million times faster than the wall clock (11.6 days per second): the lag grows
    // faster than deleting 300 captures/s (~2.6 days of them per second) shrinks it.
    const now = (): number => NOW + (performance.now() - t0) * 1e6;
    const retention = new Retention({ store: ops, logger: silentLogger(), now }, options({ pcapDir: dir, intervalMs: 1_000, paceRowsPerSecond: 300 }));
    const run = await retention.runOnce();
    expect(run.deleted.captures).toBeGreaterThanOrEqual(700);
    const s = retention.status().pace;
    expect(s.raises).toBeGreaterThanOrEqual(1);
    expect(s.factor).toBe(1);
  });
});
