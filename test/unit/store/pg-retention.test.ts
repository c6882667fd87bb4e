import { afterEach, describe, expect, it } from 'vitest';
import { PgRetention, pgRetentionPass } from '../../../src/store/pg/pg-retention.js';
import { openPgStore, type PgStore } from '../../../src/store/pg/pg-store.js';
import { silentLogger } from '../../../src/util/logger.js';
import { randomCaptures } from '../../helpers/capture-samples.js';
import { freshPgSchema } from '../../helpers/pg-test-schema.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function store(now: number): Promise<PgStore> {
  const s = await freshPgSchema('retention');
  cleanups.push(() => s.drop());
  const st = await openPgStore({ url: s.url, schema: s.schema, max: 4, now });
  cleanups.push(() => st.close());
  return st;
}

const DAY = 86_400_000;
const count = async (st: PgStore, sql: string): Promise<number> => Number(Object.values((await st.pool.query(sql)).rows[0] as object)[0]);

describe('PostgreSQL retention', () => {
  it('drops only months wholly older than the limit, makes the coming months, deletes old peers and sighting uids', async () => {
    const now = Date.UTC(2025, 4, 20); // 2025-05-20
    const st = await store(Date.UTC(2025, 0, 10));
    // Captures in January, February, March and May.
    for (const [m, seed] of [[0, 1], [1, 2], [2, 3], [4, 4]] as const) await st.captures.insertMany(randomCaptures(40, seed, Date.UTC(2025, m, 10), { notify: false }));
    await st.ingest.ingestSightings([
      { uid: 'old', crawlerId: 'c', ip: '10.0.0.1', port: 1, infohash: 'ab'.repeat(20), seenAt: now - 40 * DAY },
      { uid: 'new', crawlerId: 'c', ip: '10.0.0.2', port: 2, infohash: 'ab'.repeat(20), seenAt: now - DAY },
    ]);
    await st.pool.query(`UPDATE ingested_sightings SET ingested_at = $1 WHERE uid = 'old'`, [now - 40 * DAY]);

    // 90 days before 2025-05-20 is 2025-02-19: January ends before it, February does not.
    const pass = await pgRetentionPass(st, { captures: 90, sightings: 30 }, now);
    expect(pass.droppedMonths).toEqual(['p202501']);
    expect(pass.peersDeleted).toBe(1);
    expect(pass.sightingUidsDeleted).toBe(1);
    const months = (await st.partitions.list()).map((p) => p.suffix);
    // February and March kept, April never needed, May (now) and the two months after it made.
    expect(months).toEqual(['p202502', 'p202503', 'p202505', 'p202506', 'p202507']);
    expect(await count(st, `SELECT count(*) FROM captures WHERE found_at < ${Date.UTC(2025, 1, 1)}`)).toBe(0);
    expect(await count(st, 'SELECT count(*) FROM captures')).toBe(120);
    expect(await count(st, 'SELECT count(*) FROM peers')).toBe(1);
    // A sighting whose uid is still remembered stays a duplicate.
    expect(await st.ingest.ingestSightings([{ uid: 'new', crawlerId: 'c', ip: '10.0.0.2', port: 2, infohash: 'ab'.repeat(20), seenAt: now - DAY }])).toEqual({ inserted: 0, duplicates: 1 });

    // The uid window has its own limit (ingestedUids): 0 keeps the uids while peers go.
    await st.pool.query(`UPDATE ingested_sightings SET ingested_at = $1`, [now - 100 * DAY]);
    expect(await pgRetentionPass(st, { captures: 0, sightings: 30, ingestedUids: 0 }, now)).toMatchObject({ sightingUidsDeleted: 0 });
    expect(await pgRetentionPass(st, { captures: 0, sightings: 0, ingestedUids: 99 }, now)).toMatchObject({ peersDeleted: 0, sightingUidsDeleted: 1 });
    expect(await count(st, 'SELECT count(*) FROM ingested_sightings')).toBe(0);

    // Limits of 0 keep everything.
    const keep = await pgRetentionPass(st, { captures: 0, sightings: 0 }, now + 365 * DAY);
    expect(keep).toMatchObject({ droppedMonths: [], peersDeleted: 0, sightingUidsDeleted: 0 });
    expect(await count(st, 'SELECT count(*) FROM captures')).toBe(120);
  });

  it('PgRetention runs a pass at start and counts it; a failing pass is counted and does not throw', async () => {
    const now = Date.UTC(2025, 4, 20);
    const st = await store(now);
    await st.captures.insertMany(randomCaptures(10, 1, Date.UTC(2024, 0, 5), { notify: false }));
    const r = new PgRetention(st, () => ({ captures: 30, sightings: 0 }), silentLogger(), () => now);
    r.start(3_600_000);
    await expect.poll(() => r.stats().passes, { timeout: 20_000 }).toBe(1);
    expect(r.stats()).toMatchObject({ failures: 0, monthsDropped: 1, last: { droppedMonths: ['p202401'] } });
    await r.stop();
    await st.pool.query('DROP TABLE capture_partitions CASCADE');
    await r.runOnce();
    expect(r.stats()).toMatchObject({ passes: 1, failures: 1 });
  });
});
