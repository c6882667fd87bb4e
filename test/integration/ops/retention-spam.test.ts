import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Retention } from '../../../src/ops/retention.js';
import { openDatabase } from '../../../src/store/open-database.js';
import { SqliteOpsRepository } from '../../../src/store/ops-repository.js';
import { RetentionWorker } from '../../../src/store/retention-worker.js';
import { SqliteSpamRepository } from '../../../src/store/spam-repository.js';
import { silentLogger } from '../../../src/util/logger.js';
import { tempDir } from '../../helpers/temp-dir.js';

const DAY_S = 86_400;
const NOW_S = Date.UTC(2026, 5, 1) / 1000;
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('retention of spam reports (real SQLite)', () => {
  it.each(['event loop', 'retention thread'])('takes expired reports off their torrents\' counts and unlists a torrent left without reports (on the %s)', async (where) => {
    const t = tempDir('cd-retention-spam-');
    const db = openDatabase(path.join(t.dir, 'capture.db'));
    cleanups.push(t.cleanup, () => db.close());
    const spam = new SqliteSpamRepository(db);
    const report = (ih: string, reporter: string, ageDays: number, weight = 1): void => {
      spam.report({ infohash: ih, name: `name ${ih.slice(0, 4)}`, category: 'Movies', reporter, site: 'site', creator: reporter, weight, at: NOW_S - ageDays * DAY_S });
    };
    const OLD = 'aa'.repeat(20); // every report expired: leaves the list
    const MIXED = 'bb'.repeat(20); // 3 of 5 expired (one evidence report of weight 5)
    const FRESH = 'cc'.repeat(20);
    for (let i = 0; i < 12; i++) report(OLD, `r${i}`, 100 + i);
    for (let i = 0; i < 2; i++) report(MIXED, `r${i}`, 120);
    report(MIXED, 'evidence', 95, 5);
    for (let i = 2; i < 4; i++) report(MIXED, `r${i}`, 10);
    report(FRESH, 'r0', 1);
    expect(spam.byHash(MIXED)?.count).toBe(9);

    const ops = new SqliteOpsRepository(db);
    const onThread = where === 'retention thread';
    const steps = new RetentionWorker({ db, local: ops, logger: silentLogger() }, { thread: onThread, walMaxBytes: 64 * 2 ** 20 });
    cleanups.push(() => steps.close());
    const retention = new Retention(
      { store: ops, logger: silentLogger(), now: () => NOW_S * 1000, steps },
      { enabled: true, intervalMs: 60_000, maxAgeDays: { spamReports: 90 }, maxDatabaseBytes: 0, batchSize: 5, maxBatchMs: 50, pauseMs: 0, vacuumPagesPerStep: 64, pcapDir: t.dir },
    );
    // As the daemon registers it (roles/api-side.ts): on the thread, this the fallback.
    retention.register({ name: 'spamReports', deleteOlderThan: (before, limit) => spam.deleteReportsOlderThan(before, limit), onThread: true });
    const run = await retention.runOnce();
    expect(run.stepsOnThread).toBe(onThread ? run.batches : 0);
    expect(steps.status().threadFailures).toBe(0);

    expect(run.deleted.spamReports).toBe(15);
    expect(spam.byHash(OLD)).toBeUndefined();
    expect(spam.byHash(MIXED)?.count).toBe(2);
    expect(spam.reportsOf(MIXED).map((r) => r.reporter).sort()).toEqual(['r2', 'r3']);
    expect(spam.byHash(FRESH)?.count).toBe(1);
    // An operator's removal is an audit event; expiry is not.
    expect(spam.removals()).toEqual([]);
    // A second pass finds nothing more.
    expect((await retention.runOnce()).deleted.spamReports).toBeUndefined();
  });
});
