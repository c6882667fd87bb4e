/**
 * GET /capture/peers/all/ on PostgreSQL as the table grows to 100 M captures: p50/p99 of pages of
 * 1,000 through the real HTTP server (fastify on 127.0.0.1, the API reading PgCaptureRepository;
 * the client in a process of its own: bench/http-get-client.ts; INPROCESS_FETCH=1 adds a pass with
 * fetch in the server's process), and of the SQL alone (PgCaptureRepository.page), at each size of
 * SIZES. PG_NICE=n gives the bench's PostgreSQL backends that niceness (root only).
 *
 * Rows are made by the server (INSERT … SELECT generate_series, CHUNK rows per statement, the
 * fastest way in): groups of 7 captures in one millisecond, one group every SPAN/(N/7) ms over
 * 60 days (so the first sizes fill the first days at the final density), monthly partitions,
 * 35 % reports, listings alpha ≈ 70 %, beta ≈ 37 %, gamma ≈ 8 % (1.15 per capture). After each
 * size: VACUUM ANALYZE (index-only scans need the visibility map), then the requests: `from`
 * uniform over the filled time, `to` the end, filter alpha/beta/gamma 60/30/10 %, success
 * unset/true/false 60/20/20 %. Target: p99 ≤ 50 ms at 100 M.
 *
 * A fresh database is made and dropped at the end (KEEP=1 keeps it and prints its name). DB=name
 * uses (or makes) that database and keeps it: rows already there are not made again (the load
 * resumes after the highest id), so a 100 M database is built once and measured many times.
 * LOAD_ONLY=1 builds up to the last size and measures nothing.
 *
 *   nice -n 10 node --import tsx bench/pg-peers-page.ts     SIZES=1000000,10000000,30000000,100000000
 *                                                          REQUESTS=1000 CHUNK=2000000
 */
import type { AddressInfo } from 'node:net';
import type { FilterConfig } from '../src/config/config-schema.js';
import { FilterRegistry } from '../src/filter/filter-registry.js';
import { ApiKeyRing } from '../src/http/api-keys.js';
import { createApiServer } from '../src/http/api-server.js';
import type { PeerPageQuery } from '../src/store/capture-repository.js';
import { SqliteFilterOverlayRepository } from '../src/store/filter-overlay-repository.js';
import { openDatabase } from '../src/store/open-database.js';
import { openPgStore, type PgStore } from '../src/store/pg/pg-store.js';
import { SqliteTorrentRepository } from '../src/store/torrent-repository.js';
import { silentLogger } from '../src/util/logger.js';
import { fmtBytes, fmtInt, fmtMs, header, passMiss, percentile, Rng } from './lib.js';
import { getInChild } from './http-get-client.js';
import { createBenchDb, databaseBytes, keptBenchDb, niceBackends } from './pg-bench-db.js';

const SIZES = (process.env.SIZES ?? '1000000,10000000,30000000,100000000').split(',').map(Number);
const FINAL = Math.max(...SIZES);
const REQUESTS = Number(process.env.REQUESTS ?? 1000);
const CHUNK = Number(process.env.CHUNK ?? 2_000_000);
const PAGE_SIZE = 1000;
const TARGET_P99_MS = 50;
const END_MS = Date.UTC(2026, 10, 22);
const SPAN_MS = 60 * 86_400_000;
const START_MS = END_MS - SPAN_MS;
const GROUP = 7;
/** ms between groups, so that FINAL captures fill SPAN_MS. */
const GAP = Math.floor((SPAN_MS * GROUP) / FINAL);
const KEY = 'bench-key-0123456789';
const FILTERS = ['alpha', 'beta', 'gamma'] as const;

const foundAt = `(${START_MS}::bigint + (g / ${GROUP}) * ${GAP})`;
const hash = '((g * 2654435761) % 100)';
const success = '((g * 7919) % 100 < 35)';

function captureSql(a: number, b: number): string {
  return `INSERT INTO captures (id, found_at, ip, port, infohash, country_code, city, isp, report_at, total_pieces,
      has_pieces, has_total, client_name, host_identifier, error, pcap_path, note)
    SELECT g, ${foundAt}, '10.' || ((g >> 16) & 255) || '.' || ((g >> 8) & 255) || '.' || (g & 255), 1024 + g % 60000,
      lpad(to_hex(g % 20000), 40, 'a'), (ARRAY['US','DE','FR','GB','NL','RU','BR'])[1 + g % 7],
      CASE WHEN g % 3 = 0 THEN NULL ELSE (ARRAY['Berlin','Paris','London','Tokyo'])[1 + g % 4] END,
      (ARRAY['Deutsche Telekom AG','Orange S.A.','Comcast Cable','OVH SAS','Hetzner Online GmbH'])[1 + g % 5],
      CASE WHEN ${success} THEN ${foundAt} + 2500 END, CASE WHEN ${success} THEN 1000 + g % 3000 END,
      CASE WHEN ${success} THEN g % 1000 END, CASE WHEN ${success} THEN (g % 2)::smallint END,
      CASE WHEN ${success} THEN (ARRAY['qBittorrent 4.6.2','Transmission 4.0.5','µTorrent 3.6.0','libtorrent 2.0.10'])[1 + g % 4] END,
      CASE WHEN ${success} THEN CASE WHEN g % 5 = 0 THEN 'host-' || g ELSE '' END END,
      CASE WHEN ${success} THEN NULL ELSE (ARRAY['connection refused','connect timeout','handshake not completed within 10 s'])[1 + g % 3] END,
      CASE WHEN g % 33 = 0 THEN '/var/lib/capture-daemon/pcap/' || g || '.pcap' END, NULL
    FROM generate_series(${a}::bigint, ${b - 1}::bigint) g`;
}

function listingSql(a: number, b: number): string {
  return `INSERT INTO capture_filters (filter_id, success, found_at, capture_id)
    SELECT v.f, x.s, x.fa, x.g FROM (SELECT g, ${foundAt} AS fa, ${success} AS s, ${hash} AS h
      FROM generate_series(${a}::bigint, ${b - 1}::bigint) g) x
    CROSS JOIN (VALUES (1), (2), (3)) v(f)
    WHERE (v.f = 1 AND x.h < 70) OR (v.f = 2 AND x.h >= 55 AND x.h < 92) OR (v.f = 3 AND x.h >= 92)`;
}

function filterConfig(name: string): FilterConfig {
  return { name, description: '', infohashes: [], subnets: [], countryCodes: [], storeTCPDumpFile: false, storeTCPDumpAttempt: false, enabled: true, notify: { amqp: false, email: [] } } as FilterConfig;
}

function stats(label: string, ms: number[]): number {
  ms.sort((x, y) => x - y);
  const p99 = percentile(ms, 99);
  console.log(`  ${label.padEnd(26)} p50 ${fmtMs(percentile(ms, 50)).padStart(10)}  p95 ${fmtMs(percentile(ms, 95)).padStart(10)}  p99 ${fmtMs(p99).padStart(10)}  max ${fmtMs(ms[ms.length - 1] ?? NaN).padStart(10)}`);
  return p99;
}

async function measure(store: PgStore, base: string, rows: number, rng: Rng): Promise<{ http: number; sql: number }> {
  const filledTo = START_MS + Math.ceil(rows / GROUP) * GAP;
  const queries: PeerPageQuery[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const r = rng.next();
    const filter = r < 0.6 ? 'alpha' : r < 0.9 ? 'beta' : 'gamma';
    const s = rng.next();
    const q: PeerPageQuery = { filter, from: START_MS + Math.floor(rng.next() * (filledTo - START_MS)), to: END_MS, pageSize: PAGE_SIZE };
    if (s >= 0.6) q.success = s < 0.8;
    queries.push(q);
  }
  // Warm-up: the first requests open connections and plan the statements.
  for (const q of queries.slice(0, 50)) await store.captures.page(q);
  const sql: number[] = [];
  let peers = 0;
  for (const q of queries) {
    const t = performance.now();
    const page = await store.captures.page(q);
    sql.push(performance.now() - t);
    peers += page.peers.length;
  }
  const urls = queries.map((q) => {
    const params = new URLSearchParams({ key: KEY, filter: q.filter, from: String(q.from), to: String(q.to) });
    if (q.success !== undefined) params.set('success', String(q.success));
    return `${base}/capture/peers/all/?${params.toString()}`;
  });
  // The client in a process of its own (bench/http-get-client.ts): its reading of the answers runs
  // beside the server, not on the server's event loop.
  const cpu0 = process.cpuUsage();
  const got = await getInChild(urls, 20);
  const cpu = process.cpuUsage(cpu0);
  const bad = got.statuses.findIndex((s) => s !== 200);
  if (bad >= 0) throw new Error(`HTTP ${got.statuses[bad]} for ${urls[bad]}`);
  for (const page of got.parsed) if (!Array.isArray((page as { peers?: unknown }).peers)) throw new Error('an answer without peers');
  const http = got.ms;
  let fetched: number[] | undefined;
  if (process.env.INPROCESS_FETCH === '1') {
    fetched = [];
    for (const url of urls) {
      const t = performance.now();
      const res = await fetch(url);
      await res.text();
      fetched.push(performance.now() - t);
    }
  }
  const kb = got.bytes.reduce((a, b) => a + b, 0) / got.bytes.length / 1024;
  console.log(
    `  server process CPU ${((cpu.user + cpu.system) / 1000 / REQUESTS).toFixed(2)} ms per request, client process ${(got.cpuMs / REQUESTS).toFixed(2)} ms; ${kb.toFixed(0)} KiB per answer`,
  );
  console.log(`  ${fmtInt(REQUESTS)} requests, ${fmtInt(peers / REQUESTS)} peers per page on average`);
  const sqlP99 = stats('SQL (page())', sql);
  const httpP99 = stats('HTTP GET peers/all', http);
  if (fetched) stats('HTTP, fetch in the server', fetched);
  return { sql: sqlP99, http: httpP99 };
}

header(`pg-peers-page: GET /capture/peers/all/ on PostgreSQL, page ${fmtInt(PAGE_SIZE)}, sizes ${SIZES.map(fmtInt).join(', ')}`);
const KEPT_DB = process.env.DB;
const LOAD_ONLY = process.env.LOAD_ONLY === '1';
const db = KEPT_DB ? await keptBenchDb(KEPT_DB) : await createBenchDb('bench_pg_pages');
console.log(`database ${db.name}`);
const store = await openPgStore({ url: db.url, max: 4, now: END_MS, statementTimeoutMs: 0 });
await niceBackends(store.pool, 4);
const sqlite = openDatabase(':memory:');
const registry = new FilterRegistry({ overlay: new SqliteFilterOverlayRepository(sqlite), torrents: new SqliteTorrentRepository(sqlite) }, FILTERS.map(filterConfig));
const keys = new ApiKeyRing([{ name: 'bench', key: KEY, state: 'active', methods: ['*'], filters: ['*'] }]);
const app = await createApiServer(
  { keys: () => keys, pageSize: () => PAGE_SIZE, filters: registry, captures: store.captures, torrents: store.torrents, logger: silentLogger() },
  { bodyLimitBytes: 1e7, requestTimeoutMs: 60_000, keepAliveTimeoutMs: 5_000, trustProxy: false },
);
await app.listen({ host: '127.0.0.1', port: 0 });
const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
const results: Array<{ rows: number; http: number; sql: number; bytes: number }> = [];
try {
  await store.partitions.ensureFor(Array.from({ length: 62 }, (_, d) => START_MS + d * 86_400_000).filter((t) => t < END_MS));
  await store.pool.query(`INSERT INTO filter_names (id, name) VALUES (1, 'alpha'), (2, 'beta'), (3, 'gamma') ON CONFLICT DO NOTHING`);
  const rng = new Rng(5);
  // Rows are made in id order, one chunk (captures and its listings) per transaction: the highest
  // id is where a kept database's load resumes.
  let have = Number((await store.pool.query<{ n: string | null }>('SELECT max(id) AS n FROM captures')).rows[0]?.n ?? 0);
  if (have > 0) console.log(`database holds ${fmtInt(have)} captures already`);
  for (const size of SIZES) {
    if (size < have || (LOAD_ONLY && size !== FINAL)) continue;
    const t0 = performance.now();
    for (let a = have; a < size; a += CHUNK) {
      const b = Math.min(size, a + CHUNK);
      await store.pool.query(`BEGIN; ${captureSql(a + 1, b + 1)}; ${listingSql(a + 1, b + 1)}; COMMIT`);
      if (LOAD_ONLY) console.log(`  ${fmtInt(b)} captures (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    }
    const loadS = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    if (size > have) {
      await store.pool.query('VACUUM (ANALYZE) captures');
      await store.pool.query('VACUUM (ANALYZE) capture_filters');
    }
    const vacuumS = (performance.now() - t1) / 1000;
    const bytes = await databaseBytes(store.pool);
    console.log(`\n${fmtInt(size)} captures: +${fmtInt(size - have)} in ${loadS.toFixed(0)} s (${fmtInt((size - have) / Math.max(loadS, 1e-3))} rows/s with listings), VACUUM ANALYZE ${vacuumS.toFixed(0)} s, database ${fmtBytes(bytes)}`);
    have = Math.max(have, size);
    if (LOAD_ONLY) continue;
    const r = await measure(store, base, size, rng);
    results.push({ rows: size, ...r, bytes });
  }
  await store.pool.query(`SELECT setval('captures_id_seq', ${have})`);
  const plan = await store.captures.explainPage(undefined, 'alpha', START_MS + SPAN_MS / 2, END_MS, PAGE_SIZE + 1);
  console.log(`\nplan (success unset):\n${plan.map((l) => `  ${l}`).join('\n')}`);
  console.log('\nrows          database    SQL p99    HTTP p99');
  for (const r of results) console.log(`${fmtInt(r.rows).padStart(12)}  ${fmtBytes(r.bytes).padStart(10)}  ${fmtMs(r.sql).padStart(9)}  ${fmtMs(r.http).padStart(9)}`);
  const last = results[results.length - 1];
  if (last) console.log(`target p99 ≤ ${TARGET_P99_MS} ms at ${fmtInt(last.rows)} captures (HTTP): ${passMiss(last.http <= TARGET_P99_MS)}`);
} finally {
  await app.close();
  await store.close();
  sqlite.close();
  if (process.env.KEEP === '1' || KEPT_DB) console.log(`kept database ${db.name}`);
  else await db.drop();
}
