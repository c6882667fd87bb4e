import { afterEach, describe, expect, it } from 'vitest';
import type { ForwardedCapture, ForwardedSighting } from '../../../src/cluster/ports.js';
import { openPgStore, type PgStore } from '../../../src/store/pg/pg-store.js';
import { freshPgSchema } from '../../helpers/pg-test-schema.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function central(): Promise<PgStore> {
  const s = await freshPgSchema('ingest');
  cleanups.push(() => s.drop());
  const st = await openPgStore({ url: s.url, schema: s.schema, max: 4 });
  cleanups.push(() => st.close());
  return st;
}

const IH = 'cd'.repeat(20);
function capture(uid: string, i: number, crawlerId = 'c1'): ForwardedCapture {
  return {
    uid,
    crawlerId,
    capture: {
      foundAt: 1_700_000_000_000 + i,
      ip: `10.1.0.${i}`,
      port: 6000 + i,
      infohash: IH,
      filters: ['watch'],
      ...(i % 2 === 0
        ? { report: { date: 1_700_000_001_000 + i, totalPiecesInTorrent: 10, hasPieces: i % 10, hasTotal: false, clientName: 'qB', hostIdentifier: '' } }
        : { error: 'connection refused' }),
    },
  };
}

async function listed(st: PgStore): Promise<string[]> {
  const page = await st.captures.page({ filter: 'watch', from: 0, to: 2_000_000_000_000, pageSize: 10_000 });
  return page.peers.map((r) => r[2]).sort();
}

async function count(st: PgStore, sql: string): Promise<unknown> {
  return Object.values((await st.pool.query(sql)).rows[0] as object)[0];
}

describe('PgCentralIngestStore (the ingest port on PostgreSQL)', () => {
  it('stores a batch once: a redelivery, a repeat within a batch and an overlapping batch add nothing', async () => {
    const st = await central();
    const batch = [capture('u1', 1), capture('u2', 2), capture('u3', 3)];
    expect(await st.ingest.ingestCaptures(batch)).toEqual({ inserted: 3, duplicates: 0 });
    expect(await st.ingest.ingestCaptures(batch)).toEqual({ inserted: 0, duplicates: 3 });
    expect(await st.ingest.ingestCaptures([capture('u3', 3), capture('u4', 4), capture('u4', 4)])).toEqual({ inserted: 1, duplicates: 2 });
    expect(await listed(st)).toEqual(['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4']);
    // The same peer captured twice (two uids) is two captures: only a redelivery is a duplicate.
    expect(await st.ingest.ingestCaptures([capture('u5', 4, 'c2')])).toEqual({ inserted: 1, duplicates: 0 });
    expect(await count(st, 'SELECT count(*) FROM captures')).toBe(5);
    const origin = (await st.pool.query<{ id: number; crawler_id: string }>("SELECT id, crawler_id FROM captures WHERE uid = 'u5'")).rows[0];
    expect(origin?.crawler_id).toBe('c2');
    expect(await st.captures.get(origin?.id as number)).toMatchObject({ ip: '10.1.0.4', report: { hasPieces: 4 } });
    expect(await st.captures.filtersOf(origin?.id as number)).toEqual(['watch']);
  });

  it('a failing batch commits nothing (not even its good items)', async () => {
    const st = await central();
    const bad = capture('bad', 9);
    (bad.capture as { port: unknown }).port = null;
    await expect(st.ingest.ingestCaptures([capture('ok', 1), bad])).rejects.toThrow(/null/);
    expect(await count(st, 'SELECT count(*) FROM captures')).toBe(0);
    expect(await count(st, 'SELECT count(*) FROM capture_filters')).toBe(0);
    expect(await st.ingest.ingestCaptures([capture('ok', 1)])).toEqual({ inserted: 1, duplicates: 0 });
    expect(await listed(st)).toEqual(['10.1.0.1']);
  });

  it('sightings: upserted by (ip, port, infohash), a redelivery changes nothing, several ingesters at once count each once', async () => {
    const st = await central();
    const s = (uid: string, seenAt: number, port = 7000): ForwardedSighting => ({ uid, crawlerId: 'c1', ip: '10.2.0.1', port, infohash: IH, seenAt });
    expect(await st.ingest.ingestSightings([s('s1', 2000), s('s2', 1000)])).toEqual({ inserted: 2, duplicates: 0 });
    expect(await st.ingest.ingestSightings([s('s1', 2000), s('s3', 3000), s('s3', 3000)])).toEqual({ inserted: 1, duplicates: 2 });
    expect((await st.pool.query('SELECT first_seen, last_seen, seen_count FROM peers')).rows).toEqual([{ first_seen: 1000, last_seen: 3000, seen_count: 3 }]);
    const many = Array.from({ length: 500 }, (_, i) => s(`m${i}`, 10_000 + i, 8000 + (i % 50)));
    const results = await Promise.all([st.ingest.ingestSightings(many), st.ingest.ingestSightings([...many].reverse()), st.ingest.ingestSightings(many.slice(100))]);
    expect(results.reduce((n, r) => n + r.inserted, 0)).toBe(500);
    expect(await count(st, 'SELECT sum(seen_count)::int FROM peers WHERE port >= 8000')).toBe(500);
    expect(await count(st, 'SELECT count(*)::int FROM peers WHERE port >= 8000')).toBe(50);
    expect(await st.ingest.ingestSightings([])).toEqual({ inserted: 0, duplicates: 0 });
  });
});
