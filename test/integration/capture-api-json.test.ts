import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowToPeerJson, toPeerJson } from '../../src/api-shape/peer-json.js';
import type { NewCapture } from '../../src/model/capture.js';
import { formatApiDate } from '../../src/model/api-date.js';
import { captureRowToRecord, type CaptureRow } from '../../src/store/capture-repository.js';
import { apiGet, startApi, type ApiFixture } from '../helpers/api-fixture.js';
import { prng } from '../helpers/prng.js';

// The peers page is built from raw rows (rowToPeerJson) and dates without a Date per call
// (formatApiDate): both must give exactly the text the API gave before, for any stored value.

const KEY = 'key-json-0123456789abcdef';
const IH = 'd059053fd7122a95408346147b1edc0193432a0c';


const reference = (ms: number): string => new Date(ms).toISOString().replace('Z', '+0000');

/** Strings that need JSON escaping, or look like they might. */
const NASTY = [
  '',
  'plain',
  'quote " inside',
  'back\\slash',
  'tab\there',
  'new\nline\r\n',
  '\u0000\u0001\u001f\u007f',
  '\b\f',
  'µTorrent 3.6 — São Paulo',
  'emoji 🦀 pair',
  'lone \ud800 high',
  'lone \udc00 low',
  'line sep \u2028 para \u2029',
  '</script>',
  '{"json":true}',
  'x'.repeat(300),
];

describe('formatApiDate', () => {
  it('equals toISOString with +0000 at the edges', () => {
    const DAY = 86_400_000;
    const cases = [
      0, 1, -1, 999, 1000, DAY - 1, DAY, -DAY, -DAY - 1, -DAY + 1, 951_782_400_000 /* 2000-02-29 */, 1_709_251_199_999,
      -62_167_219_200_000 /* 0000-01-01 */, -62_167_219_200_001, 253_402_300_799_999 /* 9999-12-31T23:59:59.999 */,
      253_402_300_800_000, 8.64e15, -8.64e15, 1.5, -0.5, 1_529_215_116_123.9,
    ];
    for (const ms of cases) expect(formatApiDate(ms), String(ms)).toBe(reference(ms));
    // Alternating days (the one-day cache must not hand out a stale prefix).
    for (let i = 0; i < 50; i++) {
      const ms = (i % 2 === 0 ? 0 : 20 * DAY) + i * 1234;
      expect(formatApiDate(ms)).toBe(reference(ms));
    }
  });

  it('equals toISOString with +0000 on 200,000 random times', () => {
    const rnd = prng(99);
    for (let i = 0; i < 200_000; i++) {
      const ms =
        i % 4 === 0
          ? Math.floor((rnd() * 2 - 1) * 8.64e15)
          : i % 4 === 1
            ? Math.floor((rnd() * 2 - 1) * 253_402_300_800_000)
            : Math.floor(rnd() * 4e12);
      const got = formatApiDate(ms);
      if (got !== reference(ms)) expect(got, String(ms)).toBe(reference(ms));
    }
  });

  it('throws the same RangeError for times a Date cannot hold', () => {
    for (const ms of [Number.NaN, 8.64e15 + 1, -8.64e15 - 1, Number.POSITIVE_INFINITY]) {
      expect(() => formatApiDate(ms)).toThrow(RangeError);
    }
  });
});

describe('rowToPeerJson', () => {
  it('gives the same JSON as CaptureRecord + toPeerJson for 20,000 random rows', () => {
    const rnd = prng(5);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    const maybe = (): string | null => (rnd() < 0.3 ? null : pick(NASTY));
    for (let i = 0; i < 20_000; i++) {
      const report = rnd() < 0.5;
      const row: CaptureRow = [
        1 + Math.floor(rnd() * 1e9),
        Math.floor(rnd() * 4e12),
        pick(NASTY),
        Math.floor(rnd() * 65536),
        pick(NASTY),
        maybe(),
        maybe(),
        maybe(),
        report ? Math.floor(rnd() * 4e12) : null,
        report && rnd() < 0.9 ? Math.floor(rnd() * 1e5) : null,
        report && rnd() < 0.9 ? Math.floor(rnd() * 1e5) : null,
        report ? pick([0, 1, null]) : null,
        report ? maybe() : null,
        report ? maybe() : null,
        report ? null : maybe(),
        rnd() < 0.2 ? pick(NASTY) : null,
        report && rnd() < 0.3 ? pick(NASTY) : null,
      ];
      const want = JSON.stringify(toPeerJson(captureRowToRecord(row)));
      const got = JSON.stringify(rowToPeerJson(row));
      if (got !== want) expect(got).toBe(want);
    }
  });
});

describe('GET /capture/peers/all/ body text', () => {
  let api: ApiFixture;
  let ids: number[] = [];
  const T = 1_529_215_116_123;

  beforeAll(async () => {
    api = await startApi({ apiKeys: [{ name: 'all', key: KEY }], filters: [{ name: 'a' }], pageSize: () => 10 });
    const rnd = prng(11);
    const pick = (): string => NASTY[Math.floor(rnd() * NASTY.length)] as string;
    const captures: NewCapture[] = [];
    for (let i = 0; i < 60; i++) {
      const c: NewCapture = { foundAt: T + Math.floor(i / 3), ip: `192.0.2.${i}`, port: 1000 + i, infohash: IH, filters: ['a'] };
      if (i % 4 !== 0) c.countryCode = pick();
      if (i % 3 !== 0) c.city = pick();
      if (i % 5 !== 0) c.isp = pick();
      if (i % 2 === 0) c.report = { date: T + 5000 + i, totalPiecesInTorrent: 100 + i, hasPieces: i, hasTotal: i % 4 === 0, clientName: pick(), hostIdentifier: pick() };
      else c.error = pick();
      if (c.report !== undefined && i % 3 === 0) c.report.note = pick();
      if (i % 7 === 0) c.pcapPath = `/tmp/${i}.pcap`;
      captures.push(c);
    }
    ids = api.repos.captures.insertMany(captures);
  });
  afterAll(() => api.close());

  it('is byte for byte JSON.stringify of the toPeerJson objects of the stored records, page after page', async () => {
    let from = T - 1;
    let seen = 0;
    for (let guard = 0; guard < 100; guard++) {
      const res = await apiGet(api.url, '/capture/peers/all/', { key: KEY, filter: 'a', from, to: T + 100 });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      const page = res.body as { from: number; to: number; hasMore: boolean; peers: Array<{ ip: string }> };
      // The stored records (as get() reads them back) in page order, serialized the way the API did before.
      const records = page.peers.map((p) => api.repos.captures.get(ids[Number(p.ip.split('.')[3])] as number));
      const want = JSON.stringify({ from: page.from, to: page.to, hasMore: page.hasMore, peers: records.map((r) => toPeerJson(r!)) });
      expect(res.text).toBe(want);
      expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(want)));
      seen += page.peers.length;
      if (!page.hasMore) break;
      from = page.to;
    }
    expect(seen).toBe(60);
  });
});
