/**
 * GET /capture/peers/all/ latency: pages of 1,000 over a 10-million-capture database, through the
 * real HTTP server (fastify on 127.0.0.1, Node's fetch, sequential, keep-alive), with the SQL alone
 * (SqliteCaptureRepository.page) and page + JSON (peerPageJson, as the route does: the JSON written
 * straight into bytes) in-process timed on the same queries. Those bytes are checked against the way
 * the API built the body before (CaptureRecord → toPeerJson → JSON.stringify, UTF-8).
 *
 * The database is built with the real store (openDatabase + insertMany, 10,000 per transaction)
 * and cached as bench/.data/peers-page-schema<N>-<ROWS>.sqlite (N: the schema version), so a rerun
 * skips generation.
 *
 *   node --import tsx bench/peers-page.ts            ROWS=1000000 for a smaller database,
 *                                                     REQUESTS=5000 for more requests (default 2,000)
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FilterConfig } from '../src/config/config-schema.js';
import { FilterRegistry } from '../src/filter/filter-registry.js';
import { ApiKeyRing } from '../src/http/api-keys.js';
import { createApiServer } from '../src/http/api-server.js';
import { toPeerJson } from '../src/api-shape/peer-json.js';
import { peerPageJson } from '../src/api-shape/peer-page-json.js';
import { captureRowToRecord, SqliteCaptureRepository, type PeerPage, type PeerPageQuery } from '../src/store/capture-repository.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { SqliteFilterOverlayRepository } from '../src/store/filter-overlay-repository.js';
import { openDatabase } from '../src/store/open-database.js';
import { SqliteTorrentRepository } from '../src/store/torrent-repository.js';
import { silentLogger } from '../src/util/logger.js';
import { CaptureGenerator, FILTER_NAMES, type Cluster } from './capture-gen.js';
import { fmtBytes, fmtInt, fmtMs, header, passMiss, percentile, Rng } from './lib.js';

const ROWS = Number(process.env.ROWS ?? 10_000_000);
const REQUESTS = Number(process.env.REQUESTS ?? 2_000);
const WARMUP = 200;
const PAGE_SIZE = 1_000;
const BATCH = 10_000;
const TARGET_P99_MS = 25;
const END_MS = Date.UTC(2026, 10, 22); // found_at spans the 30 days before 2026-11-22
const SPAN_DAYS = 30;
const CLUSTERS = [1_200, 1_500, 2_000, 3_000, 5_000];
const KEY = 'bench-key-0123456789';

const DATA = path.join(path.dirname(fileURLToPath(import.meta.url)), '.data');
// Named after the schema version: a database built by an older schema is not reused (delete it by hand).
const DB_FILE = path.join(DATA, `peers-page-schema${MIGRATIONS.length}-${ROWS}.sqlite`);
const META_FILE = `${DB_FILE}.json`;

interface Meta {
  rows: number;
  listings: Record<string, number>;
  minFoundAt: number;
  maxFoundAt: number;
  clusters: Cluster[];
  generatedAt: string;
  generateSeconds: number;
  insertRowsPerSecond: number;
}

function dbBytes(file: string): number {
  let total = 0;
  for (const f of [file, `${file}-wal`]) if (existsSync(f)) total += statSync(f).size;
  return total;
}

/** Builds the database with the real store, unless a complete one is cached. */
function ensureDatabase(): { meta: Meta; generated: boolean } {
  if (existsSync(DB_FILE) && existsSync(META_FILE)) {
    return { meta: JSON.parse(readFileSync(META_FILE, 'utf8')) as Meta, generated: false };
  }
  mkdirSync(DATA, { recursive: true });
  const tmp = `${DB_FILE}.tmp`;
  for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`, DB_FILE, META_FILE]) rmSync(f, { force: true });
  console.log(`generating ${fmtInt(ROWS)} captures into ${path.relative(process.cwd(), DB_FILE)} (once; cached for reruns)…`);
  const db = openDatabase(tmp);
  const repo = new SqliteCaptureRepository(db);
  const gen = new CaptureGenerator({ rows: ROWS, endMs: END_MS, spanDays: SPAN_DAYS, seed: 0xca97, clusters: CLUSTERS });
  const listings: Record<string, number> = Object.fromEntries(FILTER_NAMES.map((f) => [f, 0]));
  const t0 = performance.now();
  let insertMs = 0;
  let done = 0;
  let nextReport = 1_000_000;
  for (;;) {
    const batch = gen.next(BATCH);
    if (batch.length === 0) break;
    for (const c of batch) for (const f of c.filters) listings[f] = (listings[f] ?? 0) + 1;
    const i0 = performance.now();
    repo.insertMany(batch);
    insertMs += performance.now() - i0;
    done += batch.length;
    if (done >= nextReport || done === ROWS) {
      nextReport += 1_000_000;
      console.log(`  ${fmtInt(done)} rows, ${((performance.now() - t0) / 1000).toFixed(0)} s, insertMany ${fmtInt(done / (insertMs / 1000))} rows/s so far`);
    }
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  renameSync(tmp, DB_FILE);
  const meta: Meta = {
    rows: done,
    listings,
    minFoundAt: gen.minFoundAt,
    maxFoundAt: gen.maxFoundAt,
    clusters: gen.clusters,
    generatedAt: new Date().toISOString(),
    generateSeconds: (performance.now() - t0) / 1000,
    insertRowsPerSecond: done / (insertMs / 1000),
  };
  writeFileSync(META_FILE, JSON.stringify(meta, null, 2));
  return { meta, generated: true };
}

function filterConfig(name: string): FilterConfig {
  return {
    name,
    description: '',
    infohashes: [],
    subnets: [],
    countryCodes: [],
    storeTCPDumpFile: false,
    storeTCPDumpAttempt: false,
    enabled: true,
    notify: { amqp: false, email: [] },
  };
}

interface Stats {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

function stats(ms: number[]): Stats {
  const s = Float64Array.from(ms).sort();
  return { p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), max: s[s.length - 1] as number, mean: ms.reduce((a, b) => a + b, 0) / ms.length };
}

function fmtStats(s: Stats): string {
  return `p50 ${fmtMs(s.p50)}  p95 ${fmtMs(s.p95)}  p99 ${fmtMs(s.p99)}  max ${fmtMs(s.max)}  (mean ${fmtMs(s.mean)})`;
}

/** The body as the route builds it: the JSON's bytes, written straight from the rows. */
function routeJson(page: PeerPage): Buffer {
  return peerPageJson(page);
}

/** The body as the API built it before raw rows: CaptureRecord → toPeerJson → JSON.stringify. */
function recordJson(page: PeerPage): string {
  return JSON.stringify({ from: page.from, to: page.to, hasMore: page.hasMore, peers: page.peers.map((r) => toPeerJson(captureRowToRecord(r))) });
}

interface Query {
  filter: string;
  from: number;
  success: boolean | undefined;
}

function makeQueries(n: number, meta: Meta, rng: Rng): Query[] {
  const qs: Query[] = [];
  for (let i = 0; i < n; i++) {
    const x = rng.next();
    const filter = x < 0.6 ? 'alpha' : x < 0.9 ? 'beta' : 'gamma';
    const y = rng.next();
    const success = y < 0.6 ? undefined : y < 0.8 ? true : false;
    const from = meta.minFoundAt + Math.floor(rng.next() * (meta.maxFoundAt - meta.minFoundAt + 1));
    qs.push({ filter, from, success });
  }
  return qs;
}

async function main(): Promise<number> {
  header(`peers-page: GET /capture/peers/all/, page ${fmtInt(PAGE_SIZE)}, ${fmtInt(ROWS)} captures`);
  const { meta, generated } = ensureDatabase();
  const db = openDatabase(DB_FILE);
  const t0 = performance.now();
  const rowCount = db.prepare('SELECT count(*) FROM captures').pluck().get() as number;
  const countMs = performance.now() - t0;
  console.log(
    `database: ${path.relative(process.cwd(), DB_FILE)} ${fmtBytes(dbBytes(DB_FILE))} (${(dbBytes(DB_FILE) / rowCount).toFixed(0)} B/capture), ` +
      `${fmtInt(rowCount)} captures (count(*) ${countMs.toFixed(0)} ms), listings ${Object.entries(meta.listings).map(([k, v]) => `${k} ${fmtInt(v)}`).join(', ')}`,
  );
  console.log(
    `  found_at ${new Date(meta.minFoundAt).toISOString()} … ${new Date(meta.maxFoundAt).toISOString()}; ` +
      `clusters (rows in one ms): ${meta.clusters.map((c) => fmtInt(c.size)).join(', ')}; ` +
      (generated
        ? `generated now in ${meta.generateSeconds.toFixed(0)} s (insertMany ${fmtInt(meta.insertRowsPerSecond)} rows/s)`
        : `cached, generated ${meta.generatedAt} (insertMany ran at ${fmtInt(meta.insertRowsPerSecond)} rows/s)`),
  );
  if (rowCount !== meta.rows) {
    console.log(`database holds ${rowCount} rows, metadata says ${meta.rows}: delete ${DB_FILE} and rerun`);
    return 1;
  }
  const captures = new SqliteCaptureRepository(db);
  for (const s of [undefined, true, false]) {
    const plan = captures.explainPage(s);
    console.log(`  plan (success=${String(s)}): ${plan.page.join('; ')}  | any row left: ${plan.more.join('; ')}`);
  }
  const registry = new FilterRegistry(
    { overlay: new SqliteFilterOverlayRepository(db), torrents: new SqliteTorrentRepository(db) },
    FILTER_NAMES.map(filterConfig),
  );
  const keys = new ApiKeyRing([{ name: 'bench', key: KEY, state: 'active', methods: ['*'], filters: ['*'] }]);
  const app = await createApiServer(
    { keys: () => keys, pageSize: () => PAGE_SIZE, filters: registry, captures, torrents: new SqliteTorrentRepository(db), logger: silentLogger() },
    { bodyLimitBytes: 1e7, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000, trustProxy: false },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  // Clients send only `from`; the server's `to` is now + 1. Pass it only if this clock is before the data.
  const explicitTo = Date.now() <= meta.maxFoundAt ? meta.maxFoundAt + 1 : undefined;
  const url = (q: Query, to?: number): string =>
    `${base}/capture/peers/all/?key=${KEY}&filter=${q.filter}&from=${q.from}` +
    (q.success === undefined ? '' : `&success=${q.success}`) +
    ((to ?? explicitTo) === undefined ? '' : `&to=${to ?? explicitTo}`);

  let failures = 0;
  let retries = 0;
  const get = async (q: Query, to?: number): Promise<{ ms: number; body: string; status: number }> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const s0 = performance.now();
        const res = await fetch(url(q, to));
        const body = await res.text();
        const ms = performance.now() - s0;
        if (res.status !== 200 && failures++ < 3) console.log(`  HTTP ${res.status}: ${body.slice(0, 200)}`);
        return { ms, body, status: res.status };
      } catch (err) {
        // A kept-alive connection the server closed while idle (keepAliveTimeoutMs): retry, untimed.
        if (attempt >= 2) throw err;
        retries++;
      }
    }
  };

  const rng = new Rng(0x9a6e);
  for (const q of makeQueries(WARMUP, meta, rng)) await get(q);
  const queries = makeQueries(REQUESTS, meta, rng);

  // 1. Through HTTP (measured first, so it does not ride on caches warmed by the in-process passes).
  const httpMs: number[] = [];
  let peers = 0;
  let bytes = 0;
  let hasMore = 0;
  for (const q of queries) {
    const r = await get(q);
    httpMs.push(r.ms);
    bytes += r.body.length;
    if (r.status === 200) {
      const page = JSON.parse(r.body) as { hasMore: boolean; peers: unknown[] };
      peers += page.peers.length;
      if (page.hasMore) hasMore++;
    }
  }
  const http = stats(httpMs);

  console.log(`requests: ${fmtInt(REQUESTS)} sequential after ${WARMUP} warm-up; random from over the range; filters alpha/beta/gamma 60/30/10%; success unset/true/false 60/20/20%`);
  console.log(`  ${(peers / REQUESTS).toFixed(0)} peers/page on average, ${((100 * hasMore) / REQUESTS).toFixed(0)}% with hasMore, ${fmtBytes(bytes / REQUESTS)} per response${explicitTo ? ' (to passed explicitly: the clock is before the data)' : ''}`);
  console.log(`HTTP  GET (fetch → body read): ${fmtStats(http)}`);
  // Pages that must hold a whole millisecond of more than a page.
  const clusterLines: string[] = [];
  for (const c of meta.clusters) {
    const ms: number[] = [];
    let n = 0;
    for (let i = 0; i < 10; i++) {
      const r = await get({ filter: 'alpha', from: c.at, success: undefined });
      ms.push(r.ms);
      if (r.status === 200) n = (JSON.parse(r.body) as { peers: unknown[] }).peers.length;
    }
    const s = stats(ms);
    clusterLines.push(`${fmtInt(c.size)} rows → ${fmtInt(n)} peers p50 ${fmtMs(s.p50)} max ${fmtMs(s.max)}`);
  }
  console.log(`one-millisecond clusters (10 requests each, from = that ms): ${clusterLines.join('; ')}`);

  // Correctness: following `to` while hasMore over 40 minutes around the largest cluster returns
  // every listed row once, in order, and never splits a millisecond.
  const big = meta.clusters[meta.clusters.length - 1] as Cluster;
  const wFrom = big.at - 20 * 60_000;
  const wTo = big.at + 20 * 60_000;
  const fid = db.prepare("SELECT id FROM filter_names WHERE name = 'alpha'").pluck().get() as number;
  const expected = db
    .prepare('SELECT count(*) FROM capture_filters WHERE filter_id = ? AND success IN (0, 1) AND found_at >= ? AND found_at < ?')
    .pluck()
    .get(fid, wFrom, wTo) as number;
  let walked = 0;
  let pages = 0;
  let ordered = true;
  let lastDate = '';
  let from = wFrom;
  for (;;) {
    const r = await get({ filter: 'alpha', from, success: undefined }, wTo);
    if (r.status !== 200) break;
    const page = JSON.parse(r.body) as { to: number; hasMore: boolean; peers: Array<{ date: string }> };
    pages++;
    walked += page.peers.length;
    const first = page.peers[0]?.date;
    if (first !== undefined && lastDate !== '' && first <= lastDate) ordered = false; // a split millisecond repeats a date
    for (let i = 1; i < page.peers.length; i++) if ((page.peers[i] as { date: string }).date < (page.peers[i - 1] as { date: string }).date) ordered = false;
    lastDate = page.peers[page.peers.length - 1]?.date ?? lastDate;
    if (!page.hasMore) break;
    from = page.to;
  }
  const walkOk = walked === expected && ordered;
  console.log(`pagination walk (alpha, 40 min around the ${fmtInt(big.size)}-row cluster): ${pages} pages, ${fmtInt(walked)} rows, count(*) ${fmtInt(expected)}, ordered & no split ms: ${ordered} → ${walkOk ? 'OK' : 'WRONG'}`);

  // 2. The SQL alone, and 3. page + JSON as the route builds it, in-process, same queries; 4. that JSON
  // against the way it was built before (records → toPeerJson), byte for byte.
  const now = (): number => explicitTo ?? Date.now() + 1;
  const pq = (q: Query): PeerPageQuery => ({ filter: q.filter, from: q.from, to: now(), success: q.success, pageSize: PAGE_SIZE });
  const sqlMs: number[] = [];
  for (const q of queries) {
    const s0 = performance.now();
    captures.page(pq(q));
    sqlMs.push(performance.now() - s0);
  }
  const jsonMs: number[] = [];
  const pageMs: number[] = [];
  const serializeMs: number[] = [];
  for (const q of queries) {
    const s0 = performance.now();
    const page = captures.page(pq(q));
    const s1 = performance.now();
    routeJson(page);
    const s2 = performance.now();
    jsonMs.push(s2 - s0);
    pageMs.push(s1 - s0);
    serializeMs.push(s2 - s1);
  }
  const sql = stats(sqlMs);
  const json = stats(jsonMs);
  const part = stats(pageMs);
  const ser = stats(serializeMs);
  const oldMs: number[] = [];
  let sameBytes = 0;
  let firstDiff = '';
  for (const q of queries) {
    const page = captures.page(pq(q));
    const text = routeJson(page);
    const s0 = performance.now();
    const old = recordJson(page);
    oldMs.push(performance.now() - s0);
    if (text.equals(Buffer.from(old, 'utf8'))) sameBytes++;
    else if (firstDiff === '') firstDiff = `${q.filter} from=${q.from} success=${String(q.success)}`;
  }
  const bytesOk = sameBytes === queries.length;

  console.log(`SQL   repo.page alone:          ${fmtStats(sql)}`);
  console.log(`page + peerPageJson:              ${fmtStats(json)}`);
  console.log(`  of which peerPageJson: p50 ${fmtMs(ser.p50)}  p99 ${fmtMs(ser.p99)}  (mean ${fmtMs(ser.mean)}); via CaptureRecord + toPeerJson + JSON.stringify instead (no UTF-8 encoding): mean ${fmtMs(stats(oldMs).mean)}`);
  console.log(`  JSON = the CaptureRecord + toPeerJson JSON, byte for byte: ${sameBytes}/${queries.length} pages → ${bytesOk ? 'OK' : `WRONG (first: ${firstDiff})`}`);
  console.log(
    `  where the time goes (means, additive): repo.page ${fmtMs(part.mean)} + peerPageJson ${fmtMs(ser.mean)} ` +
      `+ fastify/HTTP/fetch ${fmtMs(http.mean - json.mean)} = HTTP ${fmtMs(http.mean)}`,
  );

  console.log(`target p99 ≤ ${TARGET_P99_MS} ms (HTTP, random pages): ${passMiss(http.p99 <= TARGET_P99_MS)} (p99 ${fmtMs(http.p99)})`);
  await app.close();
  db.close();
  if (failures > 0) console.log(`${failures} requests failed`);
  if (retries > 0) console.log(`(${retries} requests retried on a connection the server had closed while idle)`);
  return failures === 0 && walkOk && bytesOk ? 0 : 1;
}

process.exitCode = await main();
