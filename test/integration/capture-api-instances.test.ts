import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PeerJson } from '../../src/api-shape/peer-json.js';
import type { NewCapture } from '../../src/model/capture.js';
import { apiGet, startApi, type ApiFixture } from '../helpers/api-fixture.js';
import { freshPgSchema, type PgTestSchema } from '../helpers/pg-test-schema.js';
import { prng } from '../helpers/prng.js';

// Stateless API servers behind a load balancer: two servers on one PostgreSQL database, a client
// following hasMore lands on either at each page, while an ingester keeps writing.

const KEY = 'key-all-0123456789abcdef';
const IH = 'ab'.repeat(20);
const PAGE = 50;
const FROM = 1_650_000_000_000;
const TO = FROM + 2000;

interface PeersPage {
  from: number;
  to: number;
  hasMore: boolean;
  peers: PeerJson[];
}

describe('two API servers on one PostgreSQL store', () => {
  let schema: PgTestSchema;
  let servers: ApiFixture[];
  const expected: string[] = [];

  beforeAll(async () => {
    schema = await freshPgSchema('instances');
    const options = { apiKeys: [{ name: 'all', key: KEY }], filters: [{ name: 'p' }, { name: 'q' }], pageSize: () => PAGE, store: 'postgres' as const, pgSchema: schema };
    servers = [await startApi(options), await startApi(options)];
    const rnd = prng(7);
    const rows: NewCapture[] = [];
    for (let i = 0; i < 3000; i++) {
      // Skewed over 2 s: many captures share a millisecond, a few milliseconds hold more than a page.
      const foundAt = i < 180 ? FROM + 777 : FROM + Math.floor(rnd() ** 3 * 2000);
      rows.push({ foundAt, ip: `10.0.${i >> 8}.${i & 255}`, port: 1000 + i, infohash: IH, filters: ['p'], error: 'refused' });
    }
    for (let i = 0; i < rows.length; i += 500) await (servers[i % 2] as ApiFixture).insertCaptures(rows.slice(i, i + 500));
    rows.sort((a, b) => a.foundAt - b.foundAt);
    expected.push(...rows.map((r) => `${r.ip}:${r.port}`));
  });
  afterAll(async () => {
    for (const s of servers ?? []) await s.close();
    await schema?.drop();
  });

  it('following hasMore across both servers returns every peer once, in date order, while captures keep arriving', async () => {
    let writing = true;
    let written = 0;
    // The ingester: later captures (at or after TO) and captures under another filter, all the time.
    const writer = (async () => {
      const rnd = prng(99);
      while (writing) {
        const batch: NewCapture[] = Array.from({ length: 100 }, (_, i) => ({
          foundAt: TO + Math.floor(rnd() * 5000),
          ip: `10.9.${written >> 8 & 255}.${(written + i) & 255}`,
          port: 2000 + i,
          infohash: IH,
          filters: rnd() < 0.5 ? ['p'] : ['q', 'p'],
          error: 'late',
        }));
        batch.push({ foundAt: FROM + 5, ip: '10.8.0.1', port: written, infohash: IH, filters: ['q'], error: 'other filter' });
        await (servers[1] as ApiFixture).insertCaptures(batch);
        written += batch.length;
      }
    })();
    try {
      const got: string[] = [];
      let cursor = FROM;
      let pages = 0;
      for (let guard = 0; guard < 1000; guard++) {
        const server = servers[pages % 2] as ApiFixture;
        const res = await apiGet<PeersPage>(server.url, '/capture/peers/all/', { key: KEY, filter: 'p', from: cursor, to: TO });
        expect(res.status).toBe(200);
        // The other server gives the same page.
        const again = await apiGet<PeersPage>((servers[(pages + 1) % 2] as ApiFixture).url, '/capture/peers/all/', { key: KEY, filter: 'p', from: cursor, to: TO });
        expect(again.body).toEqual(res.body);
        pages++;
        got.push(...res.body.peers.map((p) => `${p.ip}:${p.port}`));
        const dates = res.body.peers.map((p) => Date.parse(p.date.replace('+0000', 'Z')));
        expect(dates).toEqual([...dates].sort((a, b) => a - b));
        if (!res.body.hasMore) break;
        expect(res.body.to).toBeGreaterThan(cursor);
        cursor = res.body.to;
      }
      // Pages of about PAGE rows (one oversized millisecond of 180): many round trips across both servers.
      expect(pages).toBeGreaterThan(40);
      expect(new Set(got).size).toBe(got.length);
      expect([...got].sort()).toEqual([...expected].sort());
    } finally {
      writing = false;
      await writer;
    }
    expect(written).toBeGreaterThan(0);
  });
});
