import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PeerJson } from '../../src/api-shape/peer-json.js';
import type { NewCapture } from '../../src/model/capture.js';
import { parseTorrentFile } from '../../src/protocol/metainfo.js';
import {
  apiGet,
  apiPost,
  apiPostForm,
  startApi,
  type ApiFixture,
  type ApiFixtureOptions,
  type ApiResponse,
  type RequestBody,
} from '../helpers/api-fixture.js';
import { tempDir } from '../helpers/temp-dir.js';
import { makeTorrent } from '../helpers/torrent-fixture.js';
import { prng } from '../helpers/prng.js';

// ---------------------------------------------------------------------------------------------
// Keys and filters shared by most tests
// ---------------------------------------------------------------------------------------------

/** The stores the read side of the API is tested on (PostgreSQL: a fresh schema per server). */
const STORES = ['sqlite', 'postgres'] as const;

const KEY_ALL = 'key-all-0123456789abcdef';
const KEY_A = 'key-a-only-0123456789ab';
const KEY_SUSPENDED = 'key-suspended-012345678';
const KEY_FILTERS_ONLY = 'key-filters-only-0123456';
const KEY_HASHED = 'key-hashed-0123456789abcd';
const KEY_UNKNOWN = 'key-nobody-has-this-0123';

const sha256hex = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

const API_KEYS: NonNullable<ApiFixtureOptions['apiKeys']> = [
  { name: 'all', key: KEY_ALL },
  { name: 'a-only', key: KEY_A, filters: ['a'] },
  { name: 'suspended', key: KEY_SUSPENDED, state: 'suspended' },
  { name: 'filters-only', key: KEY_FILTERS_ONLY, methods: ['filters'] },
  { name: 'hashed', keySha256: sha256hex(KEY_HASHED).toUpperCase() },
];

const IH_A = 'd059053fd7122a95408346147b1edc0193432a0c';
const IH_B = '503c73b73405f950ae9f63555df9c6255acafcd0';

const FILTERS: NonNullable<ApiFixtureOptions['filters']> = [
  { name: 'a', description: 'filter a', infohashes: [IH_A.toUpperCase()], subnets: ['46.19.0.0/16', '2001:db8::/32'], countryCodes: ['ru', 'DE'] },
  { name: 'b', infohashes: [IH_A, IH_B], storeTCPDumpFile: true, storeTCPDumpAttempt: true },
  { name: 'c', enabled: false },
];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

interface ErrorBody {
  error: string;
  message: string;
}

interface PeersPage {
  from: number;
  to: number;
  hasMore: boolean;
  peers: PeerJson[];
}

interface FilterJson {
  name: string;
  description: string;
  infohashes: string[];
  subnets: string[];
  countryCodes: string[];
  storeTCPDumpFile: boolean;
  storeTCPDumpAttempt: boolean;
  enabled: boolean;
}

/** An error response: exact status, JSON `{error, message}` and nothing else, no stack trace. */
function expectApiError(res: ApiResponse<unknown>, status: number, code: string): void {
  expect({ status: res.status, body: res.body }).toMatchObject({ status, body: { error: code } });
  expect(res.headers.get('content-type') ?? '').toMatch(/^application\/json/);
  const body = res.body as ErrorBody;
  expect(Object.keys(body).sort()).toEqual(['error', 'message']);
  expect(typeof body.message).toBe('string');
  expect(body.message.length).toBeGreaterThan(0);
  expect(res.text).not.toMatch(/\n\s+at |\.[jt]s:\d+|node_modules/);
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$/;
const parseApiDate = (s: string): number => Date.parse(s.replace('+0000', 'Z'));

function capture(c: Partial<NewCapture> & Pick<NewCapture, 'foundAt' | 'filters'>): NewCapture {
  return { ip: '192.0.2.1', port: 6881, infohash: IH_A, error: 'connection refused', ...c };
}

function peers(base: string, params: Record<string, string | number | boolean | undefined> | string): Promise<ApiResponse<PeersPage>> {
  return apiGet<PeersPage>(base, '/capture/peers/all/', params);
}

function filtersOf(base: string, key: string): Promise<ApiResponse<{ filters: FilterJson[] }>> {
  return apiGet<{ filters: FilterJson[] }>(base, '/capture/filters/', { key });
}


// ---------------------------------------------------------------------------------------------
// Authentication and authorisation
// ---------------------------------------------------------------------------------------------

describe('authentication and authorisation', () => {
  let api: ApiFixture;
  let captureId: number;
  const torrent = makeTorrent({ pieceCount: 3 });

  beforeAll(async () => {
    api = await startApi({ apiKeys: API_KEYS, filters: FILTERS });
    [captureId] = api.repos.captures.insertMany([capture({ foundAt: 1000, filters: ['a'] })]) as [number];
  });
  afterAll(() => api.close());

  /** One call per endpoint, with every other parameter valid, so only the key decides. */
  const endpoints: Array<[string, (key: string | undefined) => Promise<ApiResponse<unknown>>]> = [
    ['GET /capture/peers/all/', (key) => peers(api.url, { key, filter: 'a', from: 0, to: 5000 })],
    ['GET /capture/filters/', (key) => apiGet(api.url, '/capture/filters/', { key })],
    ['POST /capture/filters/addInfohash/', (key) => apiPostForm(api.url, '/capture/filters/addInfohash/', { ...(key === undefined ? {} : { key }), filter: 'a', infohash: IH_A })],
    ['POST /capture/filters/deleteInfohash/', (key) => apiPostForm(api.url, '/capture/filters/deleteInfohash/', { ...(key === undefined ? {} : { key }), filter: 'b', infohash: IH_B })],
    ['POST /torrents/addTorrent/', (key) => apiPost(api.url, '/torrents/addTorrent/', { body: torrent.buffer, contentType: 'application/x-bittorrent', query: { key } })],
    ['POST /torrents/addInfohash/', (key) => apiPostForm(api.url, '/torrents/addInfohash/', { ...(key === undefined ? {} : { key }), infohash: IH_B })],
    ['GET /torrents/state/', (key) => apiGet(api.url, '/torrents/state/', { key, infohash: IH_A })],
    ['GET /capture/pcap/', (key) => apiGet(api.url, '/capture/pcap/', { key, id: captureId })],
  ];

  it.each(endpoints)('%s: missing key → 401 API_KEY_UNKNOWN', async (_name, call) => {
    expectApiError(await call(undefined), 401, 'API_KEY_UNKNOWN');
  });

  it.each(endpoints)('%s: empty key → 401 API_KEY_UNKNOWN', async (_name, call) => {
    expectApiError(await call(''), 401, 'API_KEY_UNKNOWN');
  });

  it.each(endpoints)('%s: unknown key → 401 API_KEY_UNKNOWN', async (_name, call) => {
    expectApiError(await call(KEY_UNKNOWN), 401, 'API_KEY_UNKNOWN');
  });

  it.each(endpoints)('%s: suspended key → 403 API_KEY_SUSPENDED', async (_name, call) => {
    expectApiError(await call(KEY_SUSPENDED), 403, 'API_KEY_SUSPENDED');
  });

  it.each(endpoints.filter(([name]) => name !== 'GET /capture/filters/'))(
    '%s: key without this method → 403 ACCESS_FORBIDDEN',
    async (_name, call) => {
      expectApiError(await call(KEY_FILTERS_ONLY), 403, 'ACCESS_FORBIDDEN');
    },
  );

  it('a key limited to some methods may use those', async () => {
    const res = await filtersOf(api.url, KEY_FILTERS_ONLY);
    expect(res.status).toBe(200);
    expect(res.body.filters.map((f) => f.name)).toEqual(['a', 'b', 'c']);
  });

  it('the configured digest itself is not a key, nor is a key in another case', async () => {
    expectApiError(await apiGet(api.url, '/capture/filters/', { key: sha256hex(KEY_HASHED) }), 401, 'API_KEY_UNKNOWN');
    expectApiError(await apiGet(api.url, '/capture/filters/', { key: KEY_ALL.toUpperCase() }), 401, 'API_KEY_UNKNOWN');
  });

  it('a key configured by keySha256 works', async () => {
    const res = await filtersOf(api.url, KEY_HASHED);
    expect(res.status).toBe(200);
    expect(res.body.filters.map((f) => f.name)).toEqual(['a', 'b', 'c']);
    const page = await peers(api.url, { key: KEY_HASHED, filter: 'a', from: 0, to: 5000 });
    expect(page.status).toBe(200);
    expect(page.body.peers).toHaveLength(1);
  });

  it('a key limited to filter "a" may not use filter "b" (peers, addInfohash, deleteInfohash)', async () => {
    expectApiError(await peers(api.url, { key: KEY_A, filter: 'b', from: 0, to: 5000 }), 403, 'ACCESS_FORBIDDEN');
    expectApiError(
      await apiPostForm(api.url, '/capture/filters/addInfohash/', { key: KEY_A, filter: 'b', infohash: IH_A }),
      403,
      'ACCESS_FORBIDDEN',
    );
    expectApiError(
      await apiPostForm(api.url, '/capture/filters/deleteInfohash/', { key: KEY_A, filter: 'b', infohash: IH_B }),
      403,
      'ACCESS_FORBIDDEN',
    );
    // Not even learning whether a filter exists: an unknown name is forbidden too.
    expectApiError(await peers(api.url, { key: KEY_A, filter: 'nope', from: 0, to: 5000 }), 403, 'ACCESS_FORBIDDEN');
    const ok = await peers(api.url, { key: KEY_A, filter: 'a', from: 0, to: 5000 });
    expect(ok.status).toBe(200);
  });

  it('GET /capture/filters/ lists only the filters the key may use', async () => {
    const res = await filtersOf(api.url, KEY_A);
    expect(res.status).toBe(200);
    expect(res.body.filters.map((f) => f.name)).toEqual(['a']);
  });

  it('a POST takes the key from the query string when the form has none', async () => {
    const res = await apiPostForm(api.url, '/capture/filters/addInfohash/', { filter: 'a', infohash: 'x' }, { key: KEY_ALL });
    expectApiError(res, 400, 'INVALID_INFOHASH');
  });
});

// ---------------------------------------------------------------------------------------------
// GET /capture/peers/all/
// ---------------------------------------------------------------------------------------------

describe.each(STORES)('GET /capture/peers/all/ (store: %s)', (store) => {
  let api: ApiFixture;
  const T = 1529215116123; // 2018-06-17T05:58:36.123Z
  const ids: number[] = [];

  beforeAll(async () => {
    api = await startApi({ apiKeys: API_KEYS, filters: FILTERS, store });
    ids.push(
      ...(await api.insertCaptures([
        {
          foundAt: T,
          ip: '46.19.68.144',
          port: 39716,
          infohash: IH_A,
          countryCode: 'RU',
          city: 'Vladivostok',
          isp: 'Example Telecom',
          report: {
            date: T + 25_000,
            totalPiecesInTorrent: 3053,
            hasPieces: 3053,
            hasTotal: true,
            clientName: 'BitTorrent 7.10',
            hostIdentifier: 'ipn-46-19-68-144.example.ru',
          },
          filters: ['a', 'b'],
        },
        { foundAt: T + 1000, ip: '2001:db8::1', port: 51777, infohash: IH_A, error: 'connection timed out', filters: ['a'] },
        {
          foundAt: T + 2000,
          ip: '10.0.0.3',
          port: 1,
          infohash: IH_B,
          countryCode: 'DE',
          report: { date: T + 3000, totalPiecesInTorrent: 100, hasPieces: 10, hasTotal: false, clientName: 'qBittorrent 4.6.0', hostIdentifier: '' },
          filters: ['a'],
        },
        { foundAt: T + 3000, ip: '10.0.0.4', port: 2, infohash: IH_B, error: 'handshake failed', filters: ['b'] },
        { foundAt: T + 4000, ip: '10.0.0.5', port: 3, infohash: IH_B, error: 'refused', filters: ['c'] },
      ])),
    );
  });
  afterAll(() => api.close());

  const q = (extra: Record<string, string | number | boolean | undefined>) => ({ key: KEY_ALL, filter: 'a', from: T - 10_000, to: T + 10_000, ...extra });

  it('returns exactly {from, to, hasMore, peers} with exact peer objects', async () => {
    const res = await peers(api.url, q({}));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body).toStrictEqual({
      from: T - 10_000,
      to: T + 10_000,
      hasMore: false,
      peers: [
        {
          date: '2018-06-17T05:58:36.123+0000',
          ip: '46.19.68.144',
          port: 39716,
          infohash: IH_A,
          countryCode: 'RU',
          city: 'Vladivostok',
          isp: 'Example Telecom',
          captureReport: {
            date: '2018-06-17T05:59:01.123+0000',
            totalPiecesInTorrent: 3053,
            hasTotal: true,
            hasPieces: 3053,
            clientName: 'BitTorrent 7.10',
            hostIdentifier: 'ipn-46-19-68-144.example.ru',
          },
        },
        {
          date: '2018-06-17T05:58:37.123+0000',
          ip: '2001:db8::1',
          port: 51777,
          infohash: IH_A,
          countryCode: '',
          city: '',
          isp: '',
          error: 'connection timed out',
        },
        {
          date: '2018-06-17T05:58:38.123+0000',
          ip: '10.0.0.3',
          port: 1,
          infohash: IH_B,
          countryCode: 'DE',
          city: '',
          isp: '',
          captureReport: {
            date: '2018-06-17T05:58:39.123+0000',
            totalPiecesInTorrent: 100,
            hasTotal: false,
            hasPieces: 10,
            clientName: 'qBittorrent 4.6.0',
            hostIdentifier: '',
          },
        },
      ],
    });
    expect(res.text).not.toContain('null');
  });

  it('works with and without the trailing slash, and with duplicate slashes', async () => {
    const withSlash = await peers(api.url, q({}));
    const without = await apiGet<PeersPage>(api.url, '/capture/peers/all', q({}));
    const doubled = await apiGet<PeersPage>(api.url, '//capture//peers/all/', q({}));
    expect(without.status).toBe(200);
    expect(without.body).toStrictEqual(withSlash.body);
    expect(doubled.status).toBe(200);
    expect(doubled.body).toStrictEqual(withSlash.body);
  });

  it('peer objects: field set, date format, lowercase infohash, no nulls', async () => {
    const res = await peers(api.url, q({ filter: 'b' }));
    expect(res.status).toBe(200);
    expect(res.body.peers).toHaveLength(2);
    for (const p of res.body.peers) {
      expect(p.date).toMatch(DATE_RE);
      expect(p.infohash).toMatch(/^[0-9a-f]{40}$/);
      const allowed = ['date', 'ip', 'port', 'infohash', 'countryCode', 'city', 'isp', 'captureReport', 'error', 'pcap'];
      for (const k of Object.keys(p)) expect(allowed).toContain(k);
      // The seed's peer always carries these (a client reads peer.city without checking).
      for (const k of ['date', 'ip', 'port', 'infohash', 'countryCode', 'city', 'isp']) expect(p).toHaveProperty(k);
      for (const v of Object.values(p)) expect(v).not.toBeNull();
      if (p.captureReport) {
        expect(p).not.toHaveProperty('error');
        expect(Object.keys(p.captureReport).sort()).toEqual(
          ['clientName', 'date', 'hasPieces', 'hasTotal', 'hostIdentifier', 'totalPiecesInTorrent'].sort(),
        );
        expect(p.captureReport.date).toMatch(DATE_RE);
      } else {
        expect(typeof p.error).toBe('string');
        expect(p).not.toHaveProperty('captureReport');
      }
    }
    // No GeoIP facts: "" (as hostIdentifier), never null, never left out.
    const noGeo = res.body.peers.find((p) => p.ip === '10.0.0.4');
    expect(noGeo).toStrictEqual({
      date: '2018-06-17T05:58:39.123+0000',
      ip: '10.0.0.4',
      port: 2,
      infohash: IH_B,
      countryCode: '',
      city: '',
      isp: '',
      error: 'handshake failed',
    });
  });

  it('formats dates as UTC with milliseconds and +0000, including edge values', async () => {
    const api2 = await startApi({ apiKeys: API_KEYS, filters: FILTERS, store });
    try {
      const cases: Array<[number, string]> = [
        [0, '1970-01-01T00:00:00.000+0000'],
        [1, '1970-01-01T00:00:00.001+0000'],
        [1529182800000, '2018-06-16T21:00:00.000+0000'],
        [1709251199999, '2024-02-29T23:59:59.999+0000'],
      ];
      await api2.insertCaptures(cases.map(([ms], i) => capture({ foundAt: ms, port: i + 1, filters: ['a'] })));
      const res = await peers(api2.url, { key: KEY_ALL, filter: 'a', from: 0, to: 1_800_000_000_000 });
      expect(res.body.peers.map((p) => p.date)).toEqual(cases.map(([, s]) => s));
    } finally {
      await api2.close();
    }
  });

  it('success=true returns only reports, success=false only failed attempts', async () => {
    const ok = await peers(api.url, q({ success: 'true' }));
    expect(ok.status).toBe(200);
    expect(ok.body.peers.map((p) => p.ip)).toEqual(['46.19.68.144', '10.0.0.3']);
    expect(ok.body.peers.every((p) => p.captureReport !== undefined && p.error === undefined)).toBe(true);
    const failed = await peers(api.url, q({ success: 'false' }));
    expect(failed.status).toBe(200);
    expect(failed.body.peers.map((p) => p.ip)).toEqual(['2001:db8::1']);
    expect(failed.body.peers.every((p) => p.captureReport === undefined && typeof p.error === 'string')).toBe(true);
  });

  it('a capture matching two filters is listed under each', async () => {
    const a = await peers(api.url, q({ filter: 'a' }));
    const b = await peers(api.url, q({ filter: 'b' }));
    const inA = a.body.peers.find((p) => p.ip === '46.19.68.144');
    const inB = b.body.peers.find((p) => p.ip === '46.19.68.144');
    expect(inA).toBeDefined();
    expect(inB).toStrictEqual(inA);
    expect(b.body.peers.map((p) => p.ip)).toEqual(['46.19.68.144', '10.0.0.4']);
  });

  it('from is inclusive, to is exclusive', async () => {
    const exact = await peers(api.url, q({ from: T, to: T + 1 }));
    expect(exact.body).toMatchObject({ from: T, to: T + 1, hasMore: false });
    expect(exact.body.peers.map((p) => p.ip)).toEqual(['46.19.68.144']);
    const afterFirst = await peers(api.url, q({ from: T + 1, to: T + 1000 }));
    expect(afterFirst.body.peers).toEqual([]);
    const second = await peers(api.url, q({ from: T + 1, to: T + 1001 }));
    expect(second.body.peers.map((p) => p.ip)).toEqual(['2001:db8::1']);
    const empty = await peers(api.url, q({ from: T, to: T }));
    expect(empty.status).toBe(200);
    expect(empty.body).toStrictEqual({ from: T, to: T, hasMore: false, peers: [] });
  });

  it('a filter with no captures yet (or a disabled one) answers with an empty page', async () => {
    const c = await peers(api.url, q({ filter: 'c', from: 0, to: T + 10_000 }));
    expect(c.status).toBe(200);
    expect(c.body.peers.map((p) => p.ip)).toEqual(['10.0.0.5']);
    const api2 = await startApi({ apiKeys: API_KEYS, filters: FILTERS, store });
    try {
      const res = await peers(api2.url, { key: KEY_ALL, filter: 'b', from: 0, to: 10 });
      expect(res.status).toBe(200);
      expect(res.body).toStrictEqual({ from: 0, to: 10, hasMore: false, peers: [] });
    } finally {
      await api2.close();
    }
  });

  it('lists the pcap download path only for captures that have one', async () => {
    const api2 = await startApi({ apiKeys: API_KEYS, filters: FILTERS, store });
    try {
      const [withPcap, without] = await api2.insertCaptures([
        capture({ foundAt: 10, port: 1, filters: ['a'], pcapPath: path.join(api2.dir, 'x.pcap') }),
        capture({ foundAt: 11, port: 2, filters: ['a'] }),
      ]) as [number, number];
      const res = await peers(api2.url, { key: KEY_ALL, filter: 'a', from: 0, to: 100 });
      expect(res.body.peers[0]?.pcap).toBe(`/capture/pcap/?id=${withPcap}`);
      expect(res.body.peers[1]).not.toHaveProperty('pcap');
      expect(without).toBeGreaterThan(withPcap);
    } finally {
      await api2.close();
    }
  });

  describe('parameter errors', () => {
    const bad: Array<[string, string]> = [
      ['missing from', `filter=a&to=2000`],
      ['empty from', `filter=a&from=&to=2000`],
      ['non-numeric from', `filter=a&from=abc&to=2000`],
      ['negative from', `filter=a&from=-1&to=2000`],
      ['fractional from', `filter=a&from=1.5&to=2000`],
      ['exponent from', `filter=a&from=1e3&to=2000`],
      ['hex from', `filter=a&from=0x10&to=2000`],
      ['from with spaces', `filter=a&from=%201&to=2000`],
      ['huge from', `filter=a&from=99999999999999999999&to=2000`],
      ['non-numeric to', `filter=a&from=1&to=tomorrow`],
      // An empty value is a malformed value, never a silent default ("to=" is not "now", "success=" not "all").
      ['empty to', `filter=a&from=1&to=`],
      ['empty success', `filter=a&from=1&to=2000&success=`],
      ['from > to', `filter=a&from=2001&to=2000`],
      ['success=maybe', `filter=a&from=1&to=2000&success=maybe`],
      ['success=TRUE', `filter=a&from=1&to=2000&success=TRUE`],
      ['success=1', `filter=a&from=1&to=2000&success=1`],
      ['repeated from', `filter=a&from=1&from=2&to=2000`],
      ['repeated to', `filter=a&from=1&to=2000&to=3000`],
      ['repeated filter', `filter=a&filter=b&from=1&to=2000`],
      ['repeated success', `filter=a&from=1&to=2000&success=true&success=false`],
      ['missing filter', `from=1&to=2000`],
      ['empty filter', `filter=&from=1&to=2000`],
    ];
    it.each(bad)('%s → 400 INVALID_PARAMETER', async (_name, query) => {
      expectApiError(await peers(api.url, `key=${KEY_ALL}&${query}`), 400, 'INVALID_PARAMETER');
      expectApiError(await apiGet(api.url, '/capture/peers/all', `key=${KEY_ALL}&${query}`), 400, 'INVALID_PARAMETER');
    });

    it('unknown filter → 404 FILTER_NOT_FOUND', async () => {
      expectApiError(await peers(api.url, q({ filter: 'nope' })), 404, 'FILTER_NOT_FOUND');
      expectApiError(await peers(api.url, q({ filter: 'A' })), 404, 'FILTER_NOT_FOUND');
    });

    it('from = to is allowed (an empty page)', async () => {
      const res = await peers(api.url, q({ from: 5, to: 5 }));
      expect(res.status).toBe(200);
      expect(res.body).toStrictEqual({ from: 5, to: 5, hasMore: false, peers: [] });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Paging: following hasMore returns every peer once, never splits a millisecond
// ---------------------------------------------------------------------------------------------

describe.each(STORES)('paging of GET /capture/peers/all/ (store: %s)', (store) => {
  const PAGE = 100;
  const FROM = 1_600_000_000_000;
  const TO = FROM + 1000;
  const BIG_MS = FROM + 500;
  let api: ApiFixture;
  /** Captures listed under filter "p" within [FROM, TO): ip:port → {foundAt, success}. */
  const expected = new Map<string, { foundAt: number; success: boolean }>();
  const countPerMs = new Map<number, number>();

  beforeAll(async () => {
    api = await startApi({
      apiKeys: [{ name: 'all', key: KEY_ALL }],
      filters: [{ name: 'p' }, { name: 'other' }],
      http: { pageSize: 1000 },
      pageSize: () => PAGE,
      store,
    });
    const rnd = prng(42);
    const rows: NewCapture[] = [];
    let n = 0;
    const add = (foundAt: number, filters: string[], inRange = true): void => {
      const i = n++;
      const success = rnd() < 0.6;
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const port = 1024 + (i % 60_000);
      const base = { foundAt, ip, port, infohash: IH_A, filters };
      rows.push(
        success
          ? { ...base, report: { date: foundAt + 5, totalPiecesInTorrent: 10, hasPieces: i % 11, hasTotal: i % 11 === 10, clientName: 'x', hostIdentifier: '' } }
          : { ...base, error: 'connection refused' },
      );
      if (inRange && filters.includes('p')) {
        expected.set(`${ip}:${port}`, { foundAt, success });
        countPerMs.set(foundAt, (countPerMs.get(foundAt) ?? 0) + 1);
      }
    };
    // 2,500 peers in ONE millisecond.
    for (let i = 0; i < 2500; i++) add(BIG_MS, ['p']);
    // Boundary cases: exactly a page, one less, one more (a second oversized millisecond).
    for (let i = 0; i < PAGE; i++) add(FROM + 100, ['p']);
    for (let i = 0; i < PAGE - 1; i++) add(FROM + 200, ['p']);
    for (let i = 0; i < PAGE + 1; i++) add(FROM + 300, ['p']);
    // The rest spread over ~250 milliseconds with many duplicates per millisecond (skewed).
    while (expected.size < 5000) {
      let ms = FROM + Math.floor(rnd() ** 2 * 1000);
      if ([BIG_MS, FROM + 100, FROM + 200, FROM + 300].includes(ms)) ms += 1;
      ms = FROM + (Math.floor((ms - FROM) / 4) * 4) + 1; // ~250 distinct values: duplicates
      add(ms, rnd() < 0.1 ? ['p', 'other'] : ['p']);
    }
    // Noise: other filters in the same range, and "p" just outside the range.
    for (let i = 0; i < 700; i++) add(FROM + Math.floor(rnd() * 1000), ['other']);
    for (let i = 0; i < 30; i++) add(FROM - 1, ['p'], false);
    for (let i = 0; i < 30; i++) add(TO, ['p'], false);
    // Insert in random order so capture ids do not follow dates.
    for (let i = rows.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [rows[i], rows[j]] = [rows[j] as NewCapture, rows[i] as NewCapture];
    }
    for (let i = 0; i < rows.length; i += 1000) await api.insertCaptures(rows.slice(i, i + 1000));
  });
  afterAll(() => api.close());

  async function follow(success?: boolean, from = FROM, to = TO): Promise<PeersPage[]> {
    const pages: PeersPage[] = [];
    let cursor = from;
    for (let guard = 0; guard < 10_000; guard++) {
      const res = await peers(api.url, { key: KEY_ALL, filter: 'p', from: cursor, to, success });
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['from', 'hasMore', 'peers', 'to']);
      expect(res.body.from).toBe(cursor);
      pages.push(res.body);
      if (!res.body.hasMore) return pages;
      expect(res.body.to).toBeGreaterThan(cursor);
      expect(res.body.to).toBeLessThan(to);
      cursor = res.body.to;
    }
    throw new Error('hasMore never became false');
  }

  function check(pages: PeersPage[], success: boolean | undefined): void {
    const want = new Map([...expected].filter(([, v]) => success === undefined || v.success === success));
    const perMs = new Map<number, number>();
    for (const v of want.values()) perMs.set(v.foundAt, (perMs.get(v.foundAt) ?? 0) + 1);
    const last = pages[pages.length - 1] as PeersPage;
    expect(last.hasMore).toBe(false);
    expect(last.to).toBe(TO);
    for (const p of pages.slice(0, -1)) expect(p.hasMore).toBe(true);

    const seen = new Set<string>();
    const pageOfMs = new Map<number, number>();
    let prev = -Infinity;
    pages.forEach((page, idx) => {
      if (page.hasMore) expect(page.peers.length).toBeGreaterThan(0);
      const msInPage = new Set<number>();
      for (const peer of page.peers) {
        const id = `${peer.ip}:${peer.port}`;
        expect(seen.has(id), `${id} returned twice`).toBe(false);
        seen.add(id);
        const ms = parseApiDate(peer.date);
        expect(ms).toBe(want.get(id)?.foundAt);
        expect(ms).toBeGreaterThanOrEqual(page.from);
        expect(ms).toBeLessThan(page.to);
        expect(ms).toBeGreaterThanOrEqual(prev);
        prev = ms;
        msInPage.add(ms);
        const where = pageOfMs.get(ms);
        expect(where === undefined || where === idx, `millisecond ${ms} split across pages ${where} and ${idx}`).toBe(true);
        pageOfMs.set(ms, idx);
        if (success !== undefined) expect(peer.captureReport !== undefined).toBe(success);
      }
      if (page.peers.length > PAGE) {
        // Only allowed for a millisecond that alone holds more than a page: then the page is that millisecond.
        expect(msInPage.size).toBe(1);
        const ms = [...msInPage][0] as number;
        expect(perMs.get(ms)).toBeGreaterThan(PAGE);
        expect(page.peers.length).toBe(perMs.get(ms));
      }
    });
    expect(seen.size).toBe(want.size);
    for (const id of want.keys()) expect(seen.has(id), `${id} never returned`).toBe(true);
    // Pages are not needlessly small: two consecutive pages always hold more than a page.
    expect(pages.length).toBeLessThanOrEqual(Math.ceil((2 * want.size) / PAGE) + 1);
  }

  it('follows hasMore from `from` to `to`: every peer once, in date order, no millisecond split', async () => {
    expect(expected.size).toBe(5000);
    expect(countPerMs.get(BIG_MS)).toBe(2500);
    const pages = await follow();
    check(pages, undefined);
    const big = pages.find((p) => p.peers.some((peer) => parseApiDate(peer.date) === BIG_MS));
    expect(big?.peers).toHaveLength(2500);
    expect(big?.hasMore).toBe(true);
    expect(big?.to).toBe(BIG_MS + 1);
  });

  it('with success=true and success=false', async () => {
    const ok = await follow(true);
    check(ok, true);
    const failed = await follow(false);
    check(failed, false);
    const total = ok.reduce((s, p) => s + p.peers.length, 0) + failed.reduce((s, p) => s + p.peers.length, 0);
    expect(total).toBe(5000);
  });

  it('a page starting at the oversized millisecond holds all of it', async () => {
    const res = await peers(api.url, { key: KEY_ALL, filter: 'p', from: BIG_MS, to: TO });
    expect(res.body.peers).toHaveLength(2500);
    expect(res.body).toMatchObject({ from: BIG_MS, to: BIG_MS + 1, hasMore: true });
    const only = await peers(api.url, { key: KEY_ALL, filter: 'p', from: BIG_MS, to: BIG_MS + 1 });
    expect(only.body.peers).toHaveLength(2500);
    expect(only.body).toMatchObject({ from: BIG_MS, to: BIG_MS + 1, hasMore: false });
  });

  it('the oversized millisecond as the last one of the range ends the listing', async () => {
    const pages = await follow(undefined, BIG_MS - 50, BIG_MS + 1);
    const last = pages[pages.length - 1] as PeersPage;
    expect(last).toMatchObject({ to: BIG_MS + 1, hasMore: false });
    expect(last.peers.length).toBeGreaterThanOrEqual(2500);
    const n = pages.reduce((s, p) => s + p.peers.length, 0);
    const want = [...expected.values()].filter((v) => v.foundAt >= BIG_MS - 50 && v.foundAt < BIG_MS + 1).length;
    expect(n).toBe(want);
  });

  it('a millisecond holding exactly one page is not split either', async () => {
    const res = await peers(api.url, { key: KEY_ALL, filter: 'p', from: FROM + 100, to: TO });
    expect(res.body.peers.length).toBeGreaterThanOrEqual(countPerMs.get(FROM + 100) as number);
    expect(res.body.peers.length).toBeLessThanOrEqual(PAGE);
    expect(res.body.hasMore).toBe(true);
  });

  it('a listing under another filter is independent', async () => {
    const res = await peers(api.url, { key: KEY_ALL, filter: 'other', from: FROM, to: TO });
    expect(res.status).toBe(200);
    expect(res.body.peers.length).toBeLessThanOrEqual(PAGE);
    for (const p of res.body.peers) expect(parseApiDate(p.date)).toBeGreaterThanOrEqual(FROM);
  });
});

// ---------------------------------------------------------------------------------------------
// GET /capture/filters/
// ---------------------------------------------------------------------------------------------

describe('GET /capture/filters/', () => {
  let api: ApiFixture;
  beforeEach(async () => {
    api = await startApi({ apiKeys: API_KEYS, filters: FILTERS });
  });
  afterEach(() => api.close());

  it('returns the exact shape of each filter (config defaults applied, normalised case)', async () => {
    const res = await filtersOf(api.url, KEY_ALL);
    expect(res.status).toBe(200);
    expect(res.body).toStrictEqual({
      filters: [
        {
          name: 'a',
          description: 'filter a',
          infohashes: [IH_A],
          subnets: ['46.19.0.0/16', '2001:db8::/32'],
          countryCodes: ['RU', 'DE'],
          storeTCPDumpFile: false,
          storeTCPDumpAttempt: false,
          enabled: true,
        },
        {
          name: 'b',
          description: '',
          infohashes: [IH_B, IH_A].sort(),
          subnets: [],
          countryCodes: [],
          storeTCPDumpFile: true,
          storeTCPDumpAttempt: true,
          enabled: true,
        },
        {
          name: 'c',
          description: '',
          infohashes: [],
          subnets: [],
          countryCodes: [],
          storeTCPDumpFile: false,
          storeTCPDumpAttempt: false,
          enabled: false,
        },
      ],
    });
    expect(res.text).not.toContain('notify');
    const without = await apiGet(api.url, '/capture/filters', { key: KEY_ALL });
    expect(without.body).toStrictEqual(res.body);
  });

  it('shows the current infohashes after add and delete', async () => {
    const t = makeTorrent();
    api.repos.torrents.putMetadata(parseTorrentFile(t.buffer), 'test');
    expect((await apiPostForm(api.url, '/capture/filters/addInfohash/', { key: KEY_ALL, filter: 'a', infohash: t.infohash })).status).toBe(200);
    let res = await filtersOf(api.url, KEY_ALL);
    expect(res.body.filters.find((f) => f.name === 'a')?.infohashes).toEqual([IH_A, t.infohash].sort());
    expect((await apiPostForm(api.url, '/capture/filters/deleteInfohash/', { key: KEY_ALL, filter: 'a', infohash: IH_A })).status).toBe(200);
    res = await filtersOf(api.url, KEY_ALL);
    expect(res.body.filters.find((f) => f.name === 'a')?.infohashes).toEqual([t.infohash]);
    expect(res.body.filters.find((f) => f.name === 'b')?.infohashes).toEqual([IH_B, IH_A].sort());
  });

  it('a repeated key parameter is not accepted → 401 API_KEY_UNKNOWN', async () => {
    expectApiError(await apiGet(api.url, '/capture/filters/', `key=${KEY_ALL}&key=${KEY_ALL}`), 401, 'API_KEY_UNKNOWN');
  });
});

// ---------------------------------------------------------------------------------------------
// POST /capture/filters/addInfohash/ and deleteInfohash/
// ---------------------------------------------------------------------------------------------

describe('POST /capture/filters/addInfohash/ and deleteInfohash/', () => {
  let api: ApiFixture;
  beforeEach(async () => {
    api = await startApi({ apiKeys: API_KEYS, filters: FILTERS });
  });
  afterEach(() => api.close());

  const add = (form: Record<string, string>) => apiPostForm(api.url, '/capture/filters/addInfohash/', { key: KEY_ALL, ...form });
  const del = (form: Record<string, string>) => apiPostForm(api.url, '/capture/filters/deleteInfohash/', { key: KEY_ALL, ...form });
  const known = (): string => {
    const t = makeTorrent();
    api.repos.torrents.putMetadata(parseTorrentFile(t.buffer), 'test');
    return t.infohash;
  };
  const infohashesOf = async (name: string): Promise<string[] | undefined> =>
    (await filtersOf(api.url, KEY_ALL)).body.filters.find((f) => f.name === name)?.infohashes;

  it('adds a known torrent: 200 {} (form-urlencoded, like curl --data)', async () => {
    const ih = known();
    const res = await apiPostForm(api.url, '/capture/filters/addInfohash/', `key=${KEY_ALL}&filter=a&infohash=${ih}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body).toStrictEqual({});
    expect(await infohashesOf('a')).toEqual([IH_A, ih].sort());
    expect(api.registry.compiled.wantsInfohash(ih)).toBe(true);
  });

  it('works without the trailing slash', async () => {
    const ih = known();
    const res = await apiPostForm(api.url, '/capture/filters/addInfohash', { key: KEY_ALL, filter: 'a', infohash: ih });
    expect(res.status).toBe(200);
    const res2 = await apiPostForm(api.url, '/capture/filters/deleteInfohash', { key: KEY_ALL, filter: 'a', infohash: ih });
    expect(res2.status).toBe(200);
  });

  it('adding one already there is fine', async () => {
    const ih = known();
    expect((await add({ filter: 'a', infohash: ih })).status).toBe(200);
    const again = await add({ filter: 'a', infohash: ih });
    expect(again.status).toBe(200);
    expect(again.body).toStrictEqual({});
    expect(await infohashesOf('a')).toEqual([IH_A, ih].sort());
  });

  it.each([
    ['short', 'abc123'],
    ['empty (infohash=)', ''],
    ['39 chars', 'a'.repeat(39)],
    ['41 chars', 'a'.repeat(41)],
    ['non-hex', 'g'.repeat(40)],
    ['hex with spaces', ` ${'a'.repeat(38)} `],
    ['base32', 'MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43UOV3HO6DZ'],
    ['0x prefix', `0x${'a'.repeat(38)}`],
  ])('INVALID_INFOHASH (%s) on add and delete', async (_name, ih) => {
    expectApiError(await add({ filter: 'a', infohash: ih }), 400, 'INVALID_INFOHASH');
    expectApiError(await del({ filter: 'b', infohash: ih }), 400, 'INVALID_INFOHASH');
  });

  it('missing or repeated parameters → INVALID_PARAMETER', async () => {
    expectApiError(await add({ filter: 'a' }), 400, 'INVALID_PARAMETER');
    expectApiError(await add({ infohash: IH_A }), 400, 'INVALID_PARAMETER');
    expectApiError(await apiPostForm(api.url, '/capture/filters/addInfohash/', `key=${KEY_ALL}&filter=a&filter=b&infohash=${IH_A}`), 400, 'INVALID_PARAMETER');
    expectApiError(await apiPostForm(api.url, '/capture/filters/deleteInfohash/', `key=${KEY_ALL}&filter=b&infohash=${IH_A}&infohash=${IH_B}`), 400, 'INVALID_PARAMETER');
  });

  it('INFOHASH_NOT_FOUND for a torrent the daemon never heard of', async () => {
    expectApiError(await add({ filter: 'a', infohash: randomBytes(20).toString('hex') }), 404, 'INFOHASH_NOT_FOUND');
    expect(await infohashesOf('a')).toEqual([IH_A]);
  });

  it('INFOHASH_NOT_FOUND when deleting an infohash the filter does not have', async () => {
    expectApiError(await del({ filter: 'b', infohash: randomBytes(20).toString('hex') }), 404, 'INFOHASH_NOT_FOUND');
  });

  it('TORRENT_FILE_NOT_FOUND while the metadata is pending, success once it arrives (putMetadata)', async () => {
    const t = makeTorrent({ pieceCount: 7 });
    const pending = await apiPostForm(api.url, '/torrents/addInfohash/', { key: KEY_ALL, infohash: t.infohash });
    expect(pending.status).toBe(200);
    expect(pending.body).toMatchObject({ infohash: t.infohash, state: 'pending' });
    expectApiError(await add({ filter: 'a', infohash: t.infohash }), 409, 'TORRENT_FILE_NOT_FOUND');
    expect(await infohashesOf('a')).toEqual([IH_A]);
    api.repos.torrents.putMetadata(parseTorrentFile(t.buffer), 'test');
    const ok = await add({ filter: 'a', infohash: t.infohash });
    expect(ok.status).toBe(200);
    expect(await infohashesOf('a')).toEqual([IH_A, t.infohash].sort());
  });

  it('TORRENT_FILE_NOT_FOUND, then success after uploading the .torrent', async () => {
    const t = makeTorrent({ files: [['a.bin'], ['sub', 'b.bin']] });
    await apiPostForm(api.url, '/torrents/addInfohash/', { key: KEY_ALL, infohash: t.infohash });
    expectApiError(await add({ filter: 'b', infohash: t.infohash }), 409, 'TORRENT_FILE_NOT_FOUND');
    const up = await apiPost(api.url, '/torrents/addTorrent/', { body: t.buffer, contentType: 'application/x-bittorrent', query: { key: KEY_ALL } });
    expect(up.status).toBe(200);
    expect((await add({ filter: 'b', infohash: t.infohash })).status).toBe(200);
    expect(await infohashesOf('b')).toEqual([IH_A, IH_B, t.infohash].sort());
  });

  it('FILTER_NOT_FOUND for an unknown filter (add and delete)', async () => {
    const ih = known();
    expectApiError(await add({ filter: 'nope', infohash: ih }), 404, 'FILTER_NOT_FOUND');
    expectApiError(await del({ filter: 'nope', infohash: ih }), 404, 'FILTER_NOT_FOUND');
  });

  it('FILTER_WITHOUT_INFOHASHES_NOT_ALLOWED when deleting the last infohash', async () => {
    expectApiError(await del({ filter: 'a', infohash: IH_A }), 409, 'FILTER_WITHOUT_INFOHASHES_NOT_ALLOWED');
    expect(await infohashesOf('a')).toEqual([IH_A]);
    // b has two: deleting one works, the last one stays.
    expect((await del({ filter: 'b', infohash: IH_B })).status).toBe(200);
    expectApiError(await del({ filter: 'b', infohash: IH_A }), 409, 'FILTER_WITHOUT_INFOHASHES_NOT_ALLOWED');
    expect(await infohashesOf('b')).toEqual([IH_A]);
  });

  it('delete: 200 {} and the filter no longer has it', async () => {
    const res = await del({ filter: 'b', infohash: IH_B });
    expect(res.status).toBe(200);
    expect(res.body).toStrictEqual({});
    expect(await infohashesOf('b')).toEqual([IH_A]);
    expect(api.registry.compiled.wantsInfohash(IH_B)).toBe(false);
  });

  it('accepts an uppercase infohash and normalises it', async () => {
    const ih = known();
    expect((await add({ filter: 'a', infohash: ih.toUpperCase() })).status).toBe(200);
    expect(await infohashesOf('a')).toEqual([IH_A, ih].sort());
    expect((await del({ filter: 'a', infohash: ih.toUpperCase() })).status).toBe(200);
    expect(await infohashesOf('a')).toEqual([IH_A]);
    expect((await del({ filter: 'b', infohash: IH_B.toUpperCase() })).status).toBe(200);
    expect(await infohashesOf('b')).toEqual([IH_A]);
  });

  it('a key limited to filter "a" may change "a"', async () => {
    const ih = known();
    const res = await apiPostForm(api.url, '/capture/filters/addInfohash/', { key: KEY_A, filter: 'a', infohash: ih });
    expect(res.status).toBe(200);
  });

  it('changes persist: a new server on the same database file with the same config sees them', async () => {
    const t = tempDir('capture-api-persist-');
    const dbFile = path.join(t.dir, 'capture.db');
    try {
      const first = await startApi({ apiKeys: API_KEYS, filters: FILTERS, dbFile });
      const tor = makeTorrent();
      first.repos.torrents.putMetadata(parseTorrentFile(tor.buffer), 'test');
      expect((await apiPostForm(first.url, '/capture/filters/addInfohash/', { key: KEY_ALL, filter: 'a', infohash: tor.infohash })).status).toBe(200);
      expect((await apiPostForm(first.url, '/capture/filters/deleteInfohash/', { key: KEY_ALL, filter: 'b', infohash: IH_B })).status).toBe(200);
      await first.close();

      const second = await startApi({ apiKeys: API_KEYS, filters: FILTERS, dbFile });
      try {
        const res = await filtersOf(second.url, KEY_ALL);
        expect(res.body.filters.find((f) => f.name === 'a')?.infohashes).toEqual([IH_A, tor.infohash].sort());
        expect(res.body.filters.find((f) => f.name === 'b')?.infohashes).toEqual([IH_A]);
        expect(second.registry.compiled.wantsInfohash(tor.infohash)).toBe(true);
        expect(second.registry.compiled.wantsInfohash(IH_B)).toBe(false);
        // The torrent is still known too.
        const state = await apiGet(second.url, '/torrents/state/', { key: KEY_ALL, infohash: tor.infohash });
        expect(state.body).toMatchObject({ state: 'known' });
      } finally {
        await second.close();
      }
    } finally {
      t.cleanup();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Torrents
// ---------------------------------------------------------------------------------------------

describe('torrents', () => {
  let api: ApiFixture;
  beforeAll(async () => {
    api = await startApi({ apiKeys: API_KEYS, filters: FILTERS });
  });
  afterAll(() => api.close());

  interface TorrentJson {
    infohash: string;
    state: string;
    name?: string;
    pieceCount?: number;
    pieceLength?: number;
    totalSize?: number;
    files?: Array<{ path: string; length: number }>;
  }

  it('POST /torrents/addTorrent/ as multipart (fields "torrent" and "key") → known, with metadata', async () => {
    const t = makeTorrent({ name: 'single.iso', pieceLength: 32768, pieceCount: 5 });
    const form = new FormData();
    form.append('key', KEY_ALL);
    form.append('torrent', new Blob([t.buffer], { type: 'application/x-bittorrent' }), 'single.torrent');
    const res = await apiPost<TorrentJson>(api.url, '/torrents/addTorrent/', { body: form });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      infohash: t.infohash,
      state: 'known',
      name: 'single.iso',
      pieceCount: 5,
      pieceLength: 32768,
      totalSize: t.totalSize,
      files: [{ path: 'single.iso', length: t.totalSize }],
    });
    expect(res.text).not.toContain('null');
  });

  it('multipart with the file part before the key field works too', async () => {
    const t = makeTorrent();
    const form = new FormData();
    form.append('torrent', new Blob([t.buffer]), 'x.torrent');
    form.append('key', KEY_ALL);
    const res = await apiPost<TorrentJson>(api.url, '/torrents/addTorrent', { body: form });
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('known');
  });

  it('POST /torrents/addTorrent/ as raw application/x-bittorrent with the key in the query (multi-file)', async () => {
    const t = makeTorrent({ name: 'album', pieceLength: 16384, pieceCount: 9, files: [['01.flac'], ['cover', 'front.jpg'], ['notes.txt']] });
    const res = await apiPost<TorrentJson>(api.url, '/torrents/addTorrent/', {
      body: t.buffer,
      contentType: 'application/x-bittorrent',
      query: { key: KEY_ALL },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ infohash: t.infohash, state: 'known', name: 'album', pieceCount: 9, pieceLength: 16384, totalSize: t.totalSize });
    expect(res.body.files).toEqual(t.files);
    expect(res.body.files?.map((f) => f.path)).toEqual(['album/01.flac', 'album/cover/front.jpg', 'album/notes.txt']);
    const state = await apiGet<TorrentJson>(api.url, '/torrents/state/', { key: KEY_ALL, infohash: t.infohash });
    expect(state.body).toMatchObject({ infohash: t.infohash, state: 'known', name: 'album', pieceCount: 9 });
  });

  it.each([
    ['random bytes', randomBytes(300)],
    ['empty', Buffer.alloc(0)],
    ['bencoded list', Buffer.from('l4:spame')],
    ['dictionary without info', Buffer.from('d8:announce3:urle')],
    ['truncated torrent', makeTorrent().buffer.subarray(0, 100)],
    ['pieces not a multiple of 20', Buffer.from('d4:infod6:lengthi10e4:name1:x12:piece lengthi16384e6:pieces3:abcee')],
    ['piece count does not match size', Buffer.from(`d4:infod6:lengthi100000e4:name1:x12:piece lengthi16384e6:pieces20:${'a'.repeat(20)}ee`)],
  ])('garbage upload (%s) → 400 INVALID_TORRENT', async (_name, body) => {
    const raw = await apiPost(api.url, '/torrents/addTorrent/', { body, contentType: 'application/x-bittorrent', query: { key: KEY_ALL } });
    if (body.length === 0) {
      // An empty raw body is not an upload at all.
      expect(raw.status).toBe(400);
      expect(['INVALID_TORRENT', 'INVALID_PARAMETER']).toContain((raw.body as ErrorBody).error);
    } else {
      expectApiError(raw, 400, 'INVALID_TORRENT');
    }
    const form = new FormData();
    form.append('key', KEY_ALL);
    form.append('torrent', new Blob([body]), 'bad.torrent');
    expectApiError(await apiPost(api.url, '/torrents/addTorrent/', { body: form }), 400, 'INVALID_TORRENT');
  });

  it('multipart without a file part → 400 INVALID_PARAMETER; form-urlencoded → 400 INVALID_PARAMETER', async () => {
    const form = new FormData();
    form.append('key', KEY_ALL);
    expectApiError(await apiPost(api.url, '/torrents/addTorrent/', { body: form }), 400, 'INVALID_PARAMETER');
    expectApiError(await apiPostForm(api.url, '/torrents/addTorrent/', { key: KEY_ALL, torrent: 'x' }), 400, 'INVALID_PARAMETER');
  });

  it('POST /torrents/addInfohash/ → pending (metadata wanted at each add while pending, not once known); state is unknown → pending → known', async () => {
    const t = makeTorrent();
    const before = await apiGet<TorrentJson>(api.url, '/torrents/state/', { key: KEY_ALL, infohash: t.infohash });
    expect(before.status).toBe(200);
    expect(before.body).toStrictEqual({ infohash: t.infohash, state: 'unknown' });

    const res = await apiPostForm<TorrentJson>(api.url, '/torrents/addInfohash/', { key: KEY_ALL, infohash: t.infohash.toUpperCase() });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ infohash: t.infohash, state: 'pending' });
    expect(res.body).not.toHaveProperty('name');
    expect(api.wanted).toContain(t.infohash);
    const again = await apiPostForm<TorrentJson>(api.url, '/torrents/addInfohash/', { key: KEY_ALL, infohash: t.infohash });
    expect(again.body.state).toBe('pending');
    // Still pending: asked again (the metadata is fetched from the peers already seen).
    expect(api.wanted.filter((ih) => ih === t.infohash)).toHaveLength(2);

    const pending = await apiGet<TorrentJson>(api.url, '/torrents/state', { key: KEY_ALL, infohash: t.infohash });
    expect(pending.body).toMatchObject({ infohash: t.infohash, state: 'pending' });

    api.repos.torrents.putMetadata(parseTorrentFile(t.buffer), 'test');
    const known = await apiGet<TorrentJson>(api.url, '/torrents/state/', { key: KEY_ALL, infohash: t.infohash.toUpperCase() });
    expect(known.body).toMatchObject({ infohash: t.infohash, state: 'known', name: t.name, pieceCount: t.pieceCount, totalSize: t.totalSize });
    // Adding the infohash of a known torrent keeps it known.
    const third = await apiPostForm<TorrentJson>(api.url, '/torrents/addInfohash/', { key: KEY_ALL, infohash: t.infohash });
    expect(third.body.state).toBe('known');
    expect(api.wanted.filter((ih) => ih === t.infohash)).toHaveLength(2);
  });

  it('INVALID_INFOHASH on /torrents/addInfohash/ and /torrents/state/', async () => {
    expectApiError(await apiPostForm(api.url, '/torrents/addInfohash/', { key: KEY_ALL, infohash: 'xyz' }), 400, 'INVALID_INFOHASH');
    expectApiError(await apiGet(api.url, '/torrents/state/', { key: KEY_ALL, infohash: 'a'.repeat(41) }), 400, 'INVALID_INFOHASH');
    // An empty value is a value that is not 40 hex digits, not a missing parameter.
    expectApiError(await apiPostForm(api.url, '/torrents/addInfohash/', `key=${KEY_ALL}&infohash=`), 400, 'INVALID_INFOHASH');
    expectApiError(await apiGet(api.url, '/torrents/state/', `key=${KEY_ALL}&infohash=`), 400, 'INVALID_INFOHASH');
    expectApiError(await apiGet(api.url, '/torrents/state/', { key: KEY_ALL }), 400, 'INVALID_PARAMETER');
  });

  describe('with a small body limit', () => {
    let small: ApiFixture;
    beforeAll(async () => {
      small = await startApi({ apiKeys: API_KEYS, filters: FILTERS, http: { bodyLimitBytes: 2048 } });
    });
    afterAll(() => small.close());

    it('a raw upload over the limit → 413 PAYLOAD_TOO_LARGE', async () => {
      const t = makeTorrent({ pieceCount: 200 }); // ~4 KB
      expect(t.buffer.length).toBeGreaterThan(2048);
      const res = await apiPost(small.url, '/torrents/addTorrent/', { body: t.buffer, contentType: 'application/x-bittorrent', query: { key: KEY_ALL } });
      expectApiError(res, 413, 'PAYLOAD_TOO_LARGE');
      const state = await apiGet<TorrentJson>(small.url, '/torrents/state/', { key: KEY_ALL, infohash: t.infohash });
      expect(state.body.state).toBe('unknown');
    });

    it('a multipart upload over the limit → 413 PAYLOAD_TOO_LARGE', async () => {
      const t = makeTorrent({ pieceCount: 200 });
      const form = new FormData();
      form.append('key', KEY_ALL);
      form.append('torrent', new Blob([t.buffer]), 'big.torrent');
      expectApiError(await apiPost(small.url, '/torrents/addTorrent/', { body: form }), 413, 'PAYLOAD_TOO_LARGE');
      const state = await apiGet<TorrentJson>(small.url, '/torrents/state/', { key: KEY_ALL, infohash: t.infohash });
      expect(state.body.state).toBe('unknown');
    });

    it('a form body over the limit → 413 PAYLOAD_TOO_LARGE', async () => {
      const res = await apiPostForm(small.url, '/capture/filters/addInfohash/', { key: KEY_ALL, filter: 'a', infohash: IH_A, pad: 'x'.repeat(100_000) });
      expectApiError(res, 413, 'PAYLOAD_TOO_LARGE');
    });

    it('an upload under the limit still works', async () => {
      const t = makeTorrent({ pieceCount: 2 });
      expect(t.buffer.length).toBeLessThan(1024);
      const res = await apiPost<TorrentJson>(small.url, '/torrents/addTorrent/', { body: t.buffer, contentType: 'application/x-bittorrent', query: { key: KEY_ALL } });
      expect(res.status).toBe(200);
      expect(res.body.state).toBe('known');
    });
  });
});

// ---------------------------------------------------------------------------------------------
// GET /capture/pcap/
// ---------------------------------------------------------------------------------------------

describe.each(STORES)('GET /capture/pcap/ (store: %s)', (store) => {
  let api: ApiFixture;
  let pcapBytes: Buffer;
  let withPcap: number;
  let withoutPcap: number;
  let pcapGone: number;
  let onlyC: number;
  let unlisted: number;

  beforeAll(async () => {
    api = await startApi({ apiKeys: API_KEYS, filters: FILTERS, store });
    const dir = path.join(api.dir, 'pcap');
    mkdirSync(dir, { recursive: true });
    // A pcap global header (LINKTYPE_RAW) followed by arbitrary record bytes.
    const header = Buffer.from('d4c3b2a1020004000000000000000000ffff000065000000', 'hex');
    pcapBytes = Buffer.concat([header, randomBytes(5000)]);
    const file = path.join(dir, 'capture-1.pcap');
    writeFileSync(file, pcapBytes);
    const onlyCFile = path.join(dir, 'capture-c.pcap');
    writeFileSync(onlyCFile, pcapBytes);
    [withPcap, withoutPcap, pcapGone, onlyC, unlisted] = await api.insertCaptures([
      capture({ foundAt: 100, port: 1, filters: ['a', 'b'], pcapPath: file }),
      capture({ foundAt: 101, port: 2, filters: ['a'] }),
      capture({ foundAt: 102, port: 3, filters: ['a'], pcapPath: path.join(dir, 'deleted-by-retention.pcap') }),
      capture({ foundAt: 103, port: 4, filters: ['c'], pcapPath: onlyCFile }),
      capture({ foundAt: 104, port: 5, filters: [], pcapPath: file }),
    ]) as [number, number, number, number, number];
  });
  afterAll(() => api.close());

  it('200 with the exact bytes and content-type application/vnd.tcpdump.pcap', async () => {
    for (const key of [KEY_ALL, KEY_A]) {
      const res = await fetch(`${api.url}/capture/pcap/?key=${key}&id=${withPcap}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/vnd.tcpdump.pcap');
      expect(Number(res.headers.get('content-length'))).toBe(pcapBytes.length);
      expect(Buffer.from(await res.arrayBuffer()).equals(pcapBytes)).toBe(true);
    }
    const noSlash = await fetch(`${api.url}/capture/pcap?key=${KEY_ALL}&id=${withPcap}`);
    expect(noSlash.status).toBe(200);
    expect(Buffer.from(await noSlash.arrayBuffer()).equals(pcapBytes)).toBe(true);
  });

  it('the peer JSON of that capture links to it', async () => {
    const res = await peers(api.url, { key: KEY_ALL, filter: 'a', from: 0, to: 1000 });
    const byPort = new Map(res.body.peers.map((p) => [p.port, p]));
    expect(byPort.get(1)?.pcap).toBe(`/capture/pcap/?id=${withPcap}`);
    expect(byPort.get(2)).not.toHaveProperty('pcap');
    // The link works as given (plus the key).
    const link = byPort.get(1)?.pcap as string;
    const dl = await fetch(`${api.url}${link}&key=${KEY_ALL}`);
    expect(dl.status).toBe(200);
    expect(Buffer.from(await dl.arrayBuffer()).equals(pcapBytes)).toBe(true);
  });

  it('no pcap → 404 PCAP_NOT_FOUND; pcap file gone → 404 PCAP_NOT_FOUND', async () => {
    expectApiError(await apiGet(api.url, '/capture/pcap/', { key: KEY_ALL, id: withoutPcap }), 404, 'PCAP_NOT_FOUND');
    expectApiError(await apiGet(api.url, '/capture/pcap/', { key: KEY_ALL, id: pcapGone }), 404, 'PCAP_NOT_FOUND');
  });

  it('unknown id → 404 CAPTURE_NOT_FOUND', async () => {
    expectApiError(await apiGet(api.url, '/capture/pcap/', { key: KEY_ALL, id: 999_999 }), 404, 'CAPTURE_NOT_FOUND');
    expectApiError(await apiGet(api.url, '/capture/pcap/', { key: KEY_ALL, id: 0 }), 404, 'CAPTURE_NOT_FOUND');
  });

  it('a capture listed only under a filter the key may not use → 404 CAPTURE_NOT_FOUND', async () => {
    expectApiError(await apiGet(api.url, '/capture/pcap/', { key: KEY_A, id: onlyC }), 404, 'CAPTURE_NOT_FOUND');
    const ok = await fetch(`${api.url}/capture/pcap/?key=${KEY_ALL}&id=${onlyC}`);
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
    // Listed under no filter at all: nobody sees it.
    expectApiError(await apiGet(api.url, '/capture/pcap/', { key: KEY_ALL, id: unlisted }), 404, 'CAPTURE_NOT_FOUND');
  });

  it.each([
    ['missing', ''],
    ['empty', 'id='],
    ['non-numeric', 'id=abc'],
    ['negative', 'id=-1'],
    ['fractional', 'id=1.5'],
    ['huge', 'id=99999999999999999999'],
    ['repeated', 'id=1&id=2'],
    ['invalid escape', 'id=%ff'],
  ])('invalid id (%s) → 400 INVALID_PARAMETER', async (_name, query) => {
    expectApiError(await apiGet(api.url, '/capture/pcap/', `key=${KEY_ALL}${query ? `&${query}` : ''}`), 400, 'INVALID_PARAMETER');
  });
});

// ---------------------------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------------------------

describe('robustness', () => {
  let api: ApiFixture;
  beforeAll(async () => {
    api = await startApi({ apiKeys: API_KEYS, filters: FILTERS, http: { bodyLimitBytes: 64 * 1024 } });
    const t = makeTorrent();
    api.repos.torrents.putMetadata(parseTorrentFile(t.buffer), 'test');
    api.repos.captures.insertMany(
      Array.from({ length: 50 }, (_, i) => capture({ foundAt: 1000 + i, port: 1000 + i, filters: ['a', 'b'], pcapPath: path.join(api.dir, 'none.pcap') })),
    );
  });
  afterAll(() => api.close());

  it('unknown path → 404 NOT_FOUND with the error body', async () => {
    for (const [method, p] of [
      ['GET', '/'],
      ['GET', '/capture/'],
      ['GET', '/capture/peers/'],
      ['GET', '/capture/peers/all/extra/'],
      ['DELETE', '/capture/nothing/'],
      ['GET', '/../../etc/passwd'],
    ] as const) {
      const res = await fetch(`${api.url}${p}?key=${KEY_ALL}`, { method });
      const body: unknown = JSON.parse(await res.text());
      expectApiError({ status: res.status, headers: res.headers, body, text: JSON.stringify(body) }, 404, 'NOT_FOUND');
    }
  });

  it('unsupported content type on POST → 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    for (const [p, type] of [
      ['/capture/filters/addInfohash/', 'application/xml'],
      ['/capture/filters/deleteInfohash/', 'image/png'],
      ['/torrents/addInfohash/', 'application/x-unknown'],
      ['/torrents/addTorrent/', 'application/octet-stream'],
    ] as const) {
      const res = await apiPost(api.url, p, { body: `key=${KEY_ALL}&filter=a&infohash=${IH_A}`, contentType: type, query: { key: KEY_ALL } });
      expectApiError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('malformed JSON body → 400 with the error body', async () => {
    for (const p of ['/capture/filters/addInfohash/', '/capture/filters/deleteInfohash/', '/torrents/addInfohash/', '/torrents/addTorrent/']) {
      const res = await apiPost(api.url, p, { body: '{"key": "x", "filter":', contentType: 'application/json' });
      expect(res.status).toBe(400);
      expectApiError(res, 400, (res.body as ErrorBody).error);
      expect((res.body as ErrorBody).error).toMatch(/^[A-Z_]+$/);
    }
  });

  it('malformed form body and invalid UTF-8 escapes → a 4xx with the error body', async () => {
    const res = await apiPostForm(api.url, '/capture/filters/addInfohash/', `key=${KEY_ALL}&filter=%ff%fe&infohash=%zz%`);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expectApiError(res, res.status, (res.body as ErrorBody).error);
  });

  it('invalid percent-escapes in the path → 400 with the error body', async () => {
    for (const p of ['/capture/%ff/', '/capture/peers/all/%ff', '/%', '/capture/filters/%c0%af']) {
      const res = await apiGet(api.url, p, { key: KEY_ALL });
      expect(res.status).toBe(400);
      expectApiError(res, 400, (res.body as ErrorBody).error);
      expect((res.body as ErrorBody).error).toMatch(/^[A-Z_]+$/);
    }
  });

  it('a burst of 200 garbage requests never yields a 500, and the server answers afterwards', async () => {
    const rnd = prng(1234);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    const paths = [
      '/capture/peers/all/',
      '/capture/peers/all',
      '/capture/filters/',
      '/capture/filters/addInfohash/',
      '/capture/filters/deleteInfohash/',
      '/capture/pcap/',
      '/torrents/addTorrent/',
      '/torrents/addInfohash/',
      '/torrents/state/',
      '/capture/%ff/',
      '/%2e%2e/%2e%2e/',
      '/capture/peers/all/%00',
      '/nope',
    ];
    const names = ['key', 'filter', 'from', 'to', 'success', 'infohash', 'id', 'torrent', '__proto__', 'constructor', '', '%ff', 'a[b]'];
    const values = (): string =>
      pick([
        () => KEY_ALL,
        () => KEY_A,
        () => 'a',
        () => 'b',
        () => String(Math.floor(rnd() * 1e15)),
        () => '-1',
        () => '1e309',
        () => 'NaN',
        () => 'true',
        () => '%ff%fe%fd',
        () => '%',
        () => '%e2%82',
        () => '%00',
        () => encodeURIComponent('\u{1F600}\u0000\uFFFF'),
        () => 'x'.repeat(Math.floor(rnd() * 5000)),
        () => randomBytes(Math.floor(rnd() * 40)).toString('hex'),
        () => IH_A.toUpperCase(),
        () => '[]{}"\'<>',
      ])();
    const query = (): string => {
      const n = Math.floor(rnd() * 8);
      const parts: string[] = [];
      for (let i = 0; i < n; i++) parts.push(`${pick(names)}=${values()}`);
      if (rnd() < 0.1) parts.push('&&&==&');
      return parts.join('&');
    };
    const bodies = (): { body?: RequestBody; contentType?: string } =>
      pick([
        () => ({ body: query(), contentType: 'application/x-www-form-urlencoded' }),
        () => ({ body: randomBytes(Math.floor(rnd() * 3000)), contentType: 'application/x-bittorrent' }),
        () => ({ body: '{"key":' + '['.repeat(Math.floor(rnd() * 2000)), contentType: 'application/json' }),
        () => ({ body: JSON.stringify({ key: KEY_ALL, filter: ['a'], infohash: { x: 1 } }), contentType: 'application/json' }),
        () => ({ body: '--xyz\r\nContent-Disposition: form-data; name="torrent"\r\n\r\nabc', contentType: 'multipart/form-data; boundary=xyz' }),
        () => ({ body: 'garbage', contentType: 'multipart/form-data' }),
        () => {
          const f = new FormData();
          f.append('key', KEY_ALL);
          f.append('torrent', new Blob([randomBytes(Math.floor(rnd() * 2000))]), 'x.torrent');
          if (rnd() < 0.5) f.append('torrent', new Blob([randomBytes(10)]), 'y.torrent');
          return { body: f };
        },
        () => ({ body: randomBytes(100), contentType: 'text/plain' }),
        () => ({ body: 'x', contentType: pick(['application/xml', 'foo', ';;;', 'application/x-www-form-urlencoded; charset=latin1']) }),
        () => ({}),
      ])();

    type Outcome = { status: number; text: string; contentType: string; url: string };
    const requests: Array<() => Promise<Outcome>> = [];
    for (let i = 0; i < 200; i++) {
      const p = pick(paths);
      let q = query();
      if (i % 40 === 7) q += `&pad=${'y'.repeat(20_000 + Math.floor(rnd() * 60_000))}`; // over the header limit
      if (i % 25 === 3) q += `&pad=${'z'.repeat(8000)}`; // long, but under it
      const url = `${api.url}${p}${q ? `?${q}` : ''}`;
      const post = rnd() < 0.4;
      requests.push(async () => {
        const init: RequestInit = { method: post ? 'POST' : 'GET' };
        if (post) {
          const b = bodies();
          if (b.body !== undefined) init.body = b.body;
          if (b.contentType !== undefined) init.headers = { 'content-type': b.contentType };
        }
        const res = await fetch(url, init);
        return { status: res.status, text: await res.text(), contentType: res.headers.get('content-type') ?? '', url: url.slice(0, 200) };
      });
    }
    const outcomes: Outcome[] = [];
    const workers = Array.from({ length: 10 }, async () => {
      for (let r = requests.shift(); r; r = requests.shift()) outcomes.push(await r());
    });
    await Promise.all(workers);

    expect(outcomes).toHaveLength(200);
    for (const o of outcomes) {
      expect(o.status, `${o.url} → ${o.status} ${o.text.slice(0, 200)}`).toBeLessThan(500);
      expect(o.status).toBeGreaterThanOrEqual(200);
      expect(o.text).not.toMatch(/\n\s+at |\.[jt]s:\d+|node_modules/);
      if (o.status >= 400) {
        expect(o.contentType, o.url).toMatch(/^application\/json/);
        const body = JSON.parse(o.text) as ErrorBody;
        expect(typeof body.error).toBe('string');
        expect(typeof body.message).toBe('string');
        expect(body.message.length).toBeGreaterThan(0);
        if (o.status !== 431) {
          // Node's own header-size guard answers 431 before the app sees the request.
          expect(Object.keys(body).sort(), `${o.url} → ${o.text.slice(0, 200)}`).toEqual(['error', 'message']);
          expect(body.error).toMatch(/^[A-Z_]+$/);
        }
      }
    }
    expect(outcomes.some((o) => o.status === 431)).toBe(true);

    // Still answering, with the right data.
    const after = await filtersOf(api.url, KEY_ALL);
    expect(after.status).toBe(200);
    expect(after.body.filters.map((f) => f.name)).toEqual(['a', 'b', 'c']);
    const page = await peers(api.url, { key: KEY_ALL, filter: 'a', from: 0, to: 5000 });
    expect(page.status).toBe(200);
    expect(page.body.peers).toHaveLength(50);
    expect(api.db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(api.db.pragma('foreign_key_check')).toEqual([]);
  });
});
