import { afterEach, describe, expect, it } from 'vitest';
import type { NewCapture } from '../../../src/model/capture.js';
import { type StableCapture } from '../../../src/store/pg/pg-capture-repository.js';
import { PG_MIGRATIONS, migratePg, pgSchemaVersion } from '../../../src/store/pg/pg-migrations.js';
import { monthOf } from '../../../src/store/pg/pg-partitions.js';
import { openPgPool } from '../../../src/store/pg/pg-pool.js';
import { openPgStore, type PgStore } from '../../../src/store/pg/pg-store.js';
import { checkListings, follow, IH, randomCaptures, T0 } from '../../helpers/capture-samples.js';
import { freshPgSchema, PG_TEST_URL, type PgTestSchema } from '../../helpers/pg-test-schema.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function schema(): Promise<PgTestSchema> {
  const s = await freshPgSchema('pgstore');
  cleanups.push(() => s.drop());
  return s;
}

async function store(s: PgTestSchema, now = T0): Promise<PgStore> {
  const st = await openPgStore({ url: s.url, schema: s.schema, max: 4, now });
  cleanups.push(() => st.close());
  return st;
}

function stable(batch: readonly NewCapture[], prefix: string): StableCapture[] {
  return batch.map((c, i) => ({ ...c, uid: `${prefix}:${i}` }));
}

describe('PostgreSQL migrations', () => {
  it('several processes starting at once: one migrates, the others find nothing to do', async () => {
    const s = await schema();
    const pools = await Promise.all([1, 2, 3, 4].map(() => openPgPool(s.url, { schema: s.schema, max: 1 })));
    cleanups.push(async () => {
      for (const p of pools) await p.end();
    });
    const applied = await Promise.all(pools.map((p) => migratePg(p)));
    expect(applied.flat().sort()).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
    expect(await pgSchemaVersion(pools[0] as (typeof pools)[0])).toBe(PG_MIGRATIONS.length);
    expect(await migratePg(pools[1] as (typeof pools)[0])).toEqual([]);
    // A database migrated by a newer daemon is refused.
    await pools[0]?.query('INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)');
    await expect(migratePg(pools[2] as (typeof pools)[0])).rejects.toMatchObject({ code: 'DB_TOO_NEW' });
  });

  it('a fresh schema is at version 0; a wrong URL fails with a clear error and no password', async () => {
    const s = await schema();
    const pool = await openPgPool(s.url, { schema: s.schema, max: 1 });
    cleanups.push(() => pool.end());
    expect(await pgSchemaVersion(pool)).toBe(0);
    await expect(openPgPool('postgres://someone:secret@127.0.0.1:1/test', { connectTimeoutMs: 2000 })).rejects.toMatchObject({
      code: 'DB_OPEN_FAILED',
      message: expect.stringMatching(/^cannot connect to PostgreSQL postgres:\/\/someone:\*\*\*@127\.0\.0\.1:1\/test: /) as unknown,
    });
    await expect(openPgPool(PG_TEST_URL, { schema: 'x; DROP TABLE y' })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});

describe('PostgreSQL captures: partitions', () => {
  it('makes the month of now and two ahead at open, more months on demand, and retention drops whole months', async () => {
    const s = await schema();
    const st = await store(s, Date.UTC(2024, 10, 15));
    expect((await st.partitions.list()).map((p) => p.suffix)).toEqual(['p202411', 'p202412', 'p202501']);
    // Captures in three months, two of them older than any partition.
    const months = [Date.UTC(2024, 7, 31, 23, 59, 59, 999), Date.UTC(2024, 8, 1), Date.UTC(2024, 10, 2)];
    const batch = months.flatMap((t0, m) => randomCaptures(50, 10 + m, t0, { notify: false }));
    const ids = await st.captures.insertMany(batch);
    expect((await st.partitions.list()).map((p) => p.suffix)).toEqual(['p202408', 'p202409', 'p202411', 'p202412', 'p202501']);
    // Each row sits in its month's partition (listings too).
    const per = await st.pool.query<{ t: string; n: number }>(
      `SELECT tableoid::regclass::text AS t, count(*)::int AS n FROM captures GROUP BY 1 ORDER BY 1`,
    );
    expect(per.rows.map((r) => r.t.replace(/^.*\./, ''))).toEqual(['captures_p202408', 'captures_p202409', 'captures_p202411']);
    const all = await follow(st.captures, 'a', undefined, 0, Date.UTC(2025, 0, 1), 30);
    const want = batch.filter((c) => c.filters.includes('a')).length;
    expect(all.flatMap((p) => p.peers)).toHaveLength(want);

    // Retention: everything found before 2024-09-15 goes, but only whole months: August.
    const dropped = await st.partitions.dropEndingBy(Date.UTC(2024, 8, 15));
    expect(dropped.map((p) => p.suffix)).toEqual(['p202408']);
    expect(await st.pool.query(`SELECT to_regclass('captures_p202408') AS t, to_regclass('capture_filters_p202408') AS f`)).toMatchObject({
      rows: [{ t: null, f: null }],
    });
    const keptIds = ids.filter((_, i) => (batch[i] as NewCapture).foundAt >= Date.UTC(2024, 8, 1));
    const left = (await follow(st.captures, 'a', undefined, 0, Date.UTC(2025, 0, 1), 30)).flatMap((p) => p.peers.map((r) => r[0]));
    expect(left).toEqual(expect.arrayContaining([]));
    expect(left.every((id) => keptIds.includes(id))).toBe(true);
    expect(left).toHaveLength(batch.filter((c, i) => c.filters.includes('a') && keptIds.includes(ids[i] as number)).length);
    const august = batch.findIndex((c) => c.foundAt < Date.UTC(2024, 8, 1));
    expect(august).toBeGreaterThanOrEqual(0);
    expect(await st.captures.get(ids[august] as number)).toBeUndefined();
    expect(await st.captures.get(keptIds[0] as number)).toBeDefined();

    // Another process that still believes August exists writes there: the partition is made again.
    const other = await store(s, Date.UTC(2024, 10, 15));
    await other.partitions.ensureFor([Date.UTC(2024, 9, 1)]);
    await other.captures.insertMany(randomCaptures(3, 1, Date.UTC(2024, 9, 3), { notify: false }));
    await st.partitions.dropEndingBy(Date.UTC(2024, 10, 1));
    await other.captures.insertMany(randomCaptures(3, 2, Date.UTC(2024, 9, 4), { notify: false }));
    expect(await other.pool.query('SELECT count(*)::int AS n FROM captures_p202410')).toMatchObject({ rows: [{ n: 3 }] });
    expect(monthOf(Date.UTC(2024, 11, 31, 23, 59, 59, 999))).toEqual({ suffix: 'p202412', startMs: Date.UTC(2024, 11, 1), endMs: Date.UTC(2025, 0, 1) });
  });
});

describe('PostgreSQL captures: idempotent ingest (a capture\'s stable id)', () => {
  it('a redelivered batch, a batch overlapping an earlier one, and a uid twice in one batch are stored once', async () => {
    const s = await schema();
    const st = await store(s);
    const first = stable(randomCaptures(300, 21, T0, { notify: false }), 'crawler-1');
    expect(await st.captures.ingestCaptures(first)).toEqual({ inserted: 300, duplicates: 0 });
    expect(st.captures.counters).toEqual({ fastBatches: 1, stagedBatches: 0 });
    expect(await st.captures.ingestCaptures(first)).toEqual({ inserted: 0, duplicates: 300 });
    // The direct COPY met stored uids: its transaction rolled back, the batch went through staging.
    expect(st.captures.counters).toEqual({ fastBatches: 1, stagedBatches: 1 });
    const second = stable(randomCaptures(200, 22, T0 + 500, { notify: false }), 'crawler-2');
    const overlap = [...first.slice(250), ...second, second[0] as StableCapture];
    expect(await st.captures.ingestCaptures(overlap)).toEqual({ inserted: 200, duplicates: 51 });
    // A capture in no filter counts as stored too.
    expect(await st.captures.ingestCaptures([{ ...(first[0] as StableCapture), uid: 'lonely', filters: [] }])).toEqual({ inserted: 1, duplicates: 0 });
    const count = async (sql: string): Promise<number> => Number((await st.pool.query<{ n: string }>(sql)).rows[0]?.n);
    expect(await count('SELECT count(*) AS n FROM captures')).toBe(501);
    expect(await count('SELECT count(DISTINCT uid) AS n FROM captures')).toBe(501);
    const listings = [...first, ...second].reduce((n, c) => n + new Set(c.filters).size, 0);
    expect(await count('SELECT count(*) AS n FROM capture_filters')).toBe(listings);
    // The pages hold each capture once, in found order (ids assigned by the store, in batch order).
    const idsByUid = new Map((await st.pool.query<{ uid: string; id: number }>('SELECT uid, id FROM captures')).rows.map((r) => [r.uid, r.id]));
    const all = [...first, ...second];
    await checkListings(st.captures, all, all.map((c) => idsByUid.get(c.uid) as number), 45, T0);
  });

  it('two ingesters given the same captures at the same time store them once', async () => {
    const s = await schema();
    const a = await store(s);
    const b = await store(s);
    const batch = stable(randomCaptures(2000, 31, T0, { notify: false }), 'c');
    const results = await Promise.all([a.captures.ingestCaptures(batch), b.captures.ingestCaptures([...batch].reverse())]);
    expect(results[0].inserted + results[1].inserted).toBe(2000);
    expect(results[0].duplicates + results[1].duplicates).toBe(2000);
    expect(await a.pool.query('SELECT count(*)::int AS n FROM captures')).toMatchObject({ rows: [{ n: 2000 }] });
    const listings = batch.reduce((n, c) => n + new Set(c.filters).size, 0);
    expect(await a.pool.query('SELECT count(*)::int AS n FROM capture_filters')).toMatchObject({ rows: [{ n: listings }] });
  });

  it('a batch of many COPY chunks meeting a stored uid at its end goes through staging, and the connections stay usable', async () => {
    const s = await schema();
    const st = await store(s);
    // 12,000 captures (~3 MB of COPY data, ~50 chunks sent while the rest is encoded).
    const big = stable(randomCaptures(12_000, 41, T0, { notify: false }), 'big');
    const last = big.reduce((a, c) => (c.foundAt > a.foundAt || (c.foundAt === a.foundAt && c.uid > a.uid) ? c : a));
    // Stored before: the capture that sorts last in the batch (the COPY fails on its last rows).
    expect(await st.captures.ingestCaptures([last])).toEqual({ inserted: 1, duplicates: 0 });
    expect(await st.captures.ingestCaptures(big)).toEqual({ inserted: 11_999, duplicates: 1 });
    expect(st.captures.counters).toEqual({ fastBatches: 1, stagedBatches: 1 });
    const n = async (sql: string): Promise<number> => Number((await st.pool.query<{ n: string }>(sql)).rows[0]?.n);
    expect(await n('SELECT count(*) AS n FROM captures')).toBe(12_000);
    expect(await n('SELECT count(*) AS n FROM capture_filters')).toBe(big.reduce((k, c) => k + new Set(c.filters).size, 0));
    // Every pooled connection is out of COPY mode and out of the transaction: four writes at once work.
    const more = [1, 2, 3, 4].map((k) => stable(randomCaptures(2_000, 50 + k, T0, { notify: false }), `more${k}`));
    expect(await Promise.all(more.map((b) => st.captures.ingestCaptures(b)))).toEqual(more.map(() => ({ inserted: 2_000, duplicates: 0 })));
    expect(await n('SELECT count(*) AS n FROM captures')).toBe(20_000);
  });

  it('a batch whose listings fail after its captures were copied stores nothing, and the next batch is stored', async () => {
    const s = await schema();
    const st = await store(s);
    const batch = stable(randomCaptures(3_000, 61, T0, { notify: false }), 'l');
    const doomed = batch[2_500] as StableCapture;
    // A trigger refuses one listing row: the captures' COPY went through, the listings' COPY fails.
    await st.pool.query(`CREATE FUNCTION refuse_listing() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.found_at = ${doomed.foundAt} THEN RAISE EXCEPTION 'listing refused'; END IF; RETURN NEW; END $$`);
    await st.pool.query('CREATE TRIGGER refuse BEFORE INSERT ON capture_filters FOR EACH ROW EXECUTE FUNCTION refuse_listing()');
    await expect(st.captures.ingestCaptures(batch)).rejects.toThrow(/listing refused/);
    await expect(st.captures.insertMany(batch.map(({ uid, ...c }) => (void uid, c)))).rejects.toThrow(/listing refused/);
    expect(await st.pool.query('SELECT count(*)::int AS n FROM captures')).toMatchObject({ rows: [{ n: 0 }] });
    await st.pool.query('DROP TRIGGER refuse ON capture_filters');
    expect(await st.captures.ingestCaptures(batch)).toEqual({ inserted: 3_000, duplicates: 0 });
    expect(await st.pool.query('SELECT count(*)::int AS n FROM captures')).toMatchObject({ rows: [{ n: 3_000 }] });
  });

  it('refuses captures asking for notifications (the PostgreSQL store keeps no outbox)', async () => {
    const s = await schema();
    const st = await store(s);
    const c: NewCapture = { foundAt: T0, ip: '192.0.2.1', port: 1, infohash: IH, filters: ['a'], error: 'e', notify: [{ filter: 'a', target: 'amqp' }] };
    await expect(st.captures.insertMany([c])).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    expect(await st.pool.query('SELECT count(*)::int AS n FROM captures')).toMatchObject({ rows: [{ n: 0 }] });
  });
});

describe('PostgreSQL captures: the page query plan', () => {
  it('reads the listing key in order (index scans merged, no sort of the listing, no sequential scan of it)', async () => {
    const s = await schema();
    const st = await store(s);
    for (let b = 0; b < 10; b++) await st.captures.insertMany(randomCaptures(2000, 40 + b, T0 + b * 400, { notify: false }));
    await st.pool.query('ANALYZE');
    for (const success of [undefined, true, false]) {
      const lines = await st.captures.explainPage(success, 'a', T0, T0 + 4000, 1001);
      const plan = lines.join('\n');
      expect(plan).toMatch(/Index (Only )?Scan using capture_filters_p\d+_pkey/);
      expect(plan).not.toMatch(/Seq Scan on capture_filters/);
      // At most one sort: of the page's ≤ 1,001 rows after the join, never of the listing.
      const sorts = lines.flatMap((l, i) => (/^\s*(->\s*)?Sort\s+\(cost/.test(l) ? [i] : []));
      expect(sorts.every((i) => i === 0)).toBe(true);
      if (success === undefined) expect(plan).toMatch(/Merge Append/);
    }
  });
});
