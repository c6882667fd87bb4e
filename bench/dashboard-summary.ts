/**
 * GET /dashboard/api/summary latency over a 10-million-capture database: the real API server
 * (fastify on 127.0.0.1) with the dashboard's routes, Node's fetch, sequential, keep-alive, for each
 * range (1h, 24h, 7d), plus the queries alone in-process. For contrast, the same "by country, last
 * 24 h" answer computed from the captures table itself (what the rollups avoid), run a few times.
 *
 * The database is built with the real store (openDatabase + SqliteCaptureRepository.insertMany,
 * 10,000 per transaction, which keeps the dashboard's rollups as the daemon does): captures spread
 * uniformly over the 7 days before generation, 40 countries, 60 client names, 2,000 torrents of which
 * 200 are "watched" (counted per torrent), 20% failed. It is cached as
 * bench/.data/dashboard-schema<N>-<ROWS>.sqlite; the rollups keep 8 days, so a cache older than a day
 * shows less in the 7-day range (delete it to rebuild).
 *
 *   nice -n 10 node --import tsx bench/dashboard-summary.ts     ROWS=1000000 for a smaller database,
 *                                                               REQUESTS=300 per range (default 200)
 *   DB=bench/.data/copy-of-retention-10000000.sqlite             an existing database instead (e.g. a copy of
 *       retention.ts's 10 M one): its captures stay as they are; the dashboard's rollups are filled
 *       for the 7 days before now as the generator's ROWS captures would fill them (the capture
 *       writer's rollup code, CaptureRollups.add, without inserting the captures). It writes to the file.
 */
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DhtStats } from '../src/dht/dht-module.js';
import { FilterRegistry } from '../src/filter/filter-registry.js';
import { ApiKeyRing } from '../src/http/api-keys.js';
import { createApiServer } from '../src/http/api-server.js';
import type { NewCapture } from '../src/model/capture.js';
import type { NotifyStatus } from '../src/notify/types.js';
import { createDashboard } from '../src/ops/dashboard/dashboard-module.js';
import { DashboardData, RANGES, type DashboardRange } from '../src/ops/dashboard/dashboard-data.js';
import type { OpsSources } from '../src/ops/ports.js';
import { SqliteCaptureRepository } from '../src/store/capture-repository.js';
import { SqliteDashboardRepository } from '../src/store/dashboard-repository.js';
import { SqliteFilterOverlayRepository } from '../src/store/filter-overlay-repository.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { openDatabase } from '../src/store/open-database.js';
import { SqliteTorrentRepository } from '../src/store/torrent-repository.js';
import { silentLogger } from '../src/util/logger.js';
import { fmtBytes, fmtInt, fmtMs, header, passMiss, percentile, Rng } from './lib.js';

const ROWS = Number(process.env.ROWS ?? 10_000_000);
const REQUESTS = Number(process.env.REQUESTS ?? 200);
const WARMUP = 20;
const BATCH = 10_000;
const TARGET_P99_MS = 50;
const SPAN_MS = 7 * 86_400_000;
const KEY = 'bench-key-0123456789';

const DATA = path.join(path.dirname(fileURLToPath(import.meta.url)), '.data');
const DB_FILE = process.env.DB ?? path.join(DATA, `dashboard-schema${MIGRATIONS.length}-${ROWS}.sqlite`);

const rng = new Rng(7);
const COUNTRIES = Array.from({ length: 40 }, (_, i) => String.fromCharCode(65 + (i % 26), 65 + Math.floor(i / 26) + (i % 7)));
const CLIENTS = Array.from({ length: 60 }, (_, i) => `${['qBittorrent', 'Transmission', 'Deluge', 'µTorrent', 'BitComet', 'libtorrent'][i % 6]} ${1 + (i % 5)}.${i % 10}.${i % 3}`);
const TORRENTS = Array.from({ length: 2000 }, () => rng.hex40());
const WATCHED = new Set(TORRENTS.slice(0, 200));

/** The generator's captures, batch by batch, handed to `write` (insertMany, or the rollups alone). */
function generate(write: (batch: NewCapture[]) => void): void {
  const end = Date.now();
  for (let done = 0; done < ROWS; done += BATCH) {
    const n = Math.min(BATCH, ROWS - done);
    const batch: NewCapture[] = new Array<NewCapture>(n);
    for (let i = 0; i < n; i++) {
      // In time order, as the daemon writes them: the i-th of ROWS over the 7 days.
      const foundAt = end - SPAN_MS + Math.floor(((done + i) / ROWS) * SPAN_MS);
      const c: NewCapture = {
        foundAt, ip: `10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`, port: rng.int(1024, 65535),
        infohash: rng.chance(0.5) ? TORRENTS[rng.int(0, 199)]! : rng.pick(TORRENTS), filters: ['all'],
      };
      if (rng.chance(0.9)) c.countryCode = COUNTRIES[Math.min(39, Math.floor(rng.exp(6)))]!;
      if (rng.chance(0.2)) c.error = 'connect timeout';
      else c.report = { date: foundAt + 800, totalPiecesInTorrent: 1000, hasPieces: 400, hasTotal: rng.chance(0.3), clientName: CLIENTS[Math.min(59, Math.floor(rng.exp(8)))]!, hostIdentifier: '' };
      batch[i] = c;
    }
    write(batch);
    if ((done / BATCH) % 100 === 0) process.stdout.write(`  ${fmtInt(done)} rows…\r`);
  }
}

/** DB=…: the rollups of ROWS generated captures in an existing database (its own captures untouched). */
function fillRollups(): number {
  const db = openDatabase(DB_FILE);
  const repo = new SqliteCaptureRepository(db);
  repo.rollups.setTorrentScope((ih) => WATCHED.has(ih));
  const t0 = performance.now();
  const add = db.transaction((batch: NewCapture[]) => repo.rollups.add(batch, foundAtOf(batch)));
  generate((batch) => add(batch));
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return (performance.now() - t0) / 1000;
}

function build(): { seconds: number; rowsPerSecond: number } {
  mkdirSync(DATA, { recursive: true });
  const tmp = `${DB_FILE}.partial`;
  rmSync(tmp, { force: true });
  const db = openDatabase(tmp);
  const repo = new SqliteCaptureRepository(db);
  repo.rollups.setTorrentScope((ih) => WATCHED.has(ih));
  const t0 = performance.now();
  generate((batch) => repo.insertMany(batch, foundAtOf(batch)));
  const seconds = (performance.now() - t0) / 1000;
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  renameSync(tmp, DB_FILE);
  return { seconds, rowsPerSecond: ROWS / seconds };
}

/** The writer's "now": the batch's newest capture (as in the daemon, captures are written as they are found). */
function foundAtOf(batch: NewCapture[]): number {
  return (batch[batch.length - 1] as NewCapture).foundAt;
}

const dht = { enabled: true, nodes: 512, packetsIn: 1e6, packetsOut: 9e5, socket: null, health: { bad: 3, wentBad: 5, refused: 1 }, lookups: null, peersFound: {} } as unknown as DhtStats;
const target = { backlog: 12, parked: 0 } as NotifyStatus['amqp'];
const sources: OpsSources = {
  dht: () => dht,
  capture: () => ({
    scheduler: { queued: 40, running: 180, started: 0, completed: 0, failed: 0, droppedQueueFull: 0, timedOut: 0 },
    pipeline: {},
    store: { pending: 100, written: 0, batches: 0, failures: 0, refused: 0, state: 'ok', consecutiveFailures: 0, outages: 0, lastError: null, nextAttemptAt: 0 },
  }) as unknown as ReturnType<OpsSources['capture']>,
  notify: () => ({ outbox: { pending: 12, parked: 0, maxRows: 0, overLimit: false }, amqp: target, email: target }),
};

async function main(): Promise<void> {
  header(`dashboard summary at ${fmtInt(ROWS)} captures`);
  if (process.env.DB !== undefined) {
    if (!existsSync(DB_FILE)) throw new Error(`DB=${DB_FILE}: no such file`);
    console.log(`filling the rollups of ${fmtInt(ROWS)} generated captures (7 days before now) into ${DB_FILE}…`);
    console.log(`filled in ${fillRollups().toFixed(1)} s`);
  } else if (!existsSync(DB_FILE)) {
    console.log(`building ${DB_FILE} (real insertMany, rollups kept in each transaction)…`);
    const b = build();
    console.log(`built: ${fmtInt(ROWS)} rows in ${b.seconds.toFixed(1)} s (${fmtInt(b.rowsPerSecond)} rows/s, rollups included)`);
  }
  const db = openDatabase(DB_FILE);
  const rollupRows = ['capture_minutes', 'capture_hours', 'capture_hour_counts', 'capture_day_counts', 'capture_hour_torrents', 'capture_day_torrents']
    .map((t) => `${t} ${fmtInt(db.prepare(`SELECT count(*) FROM ${t}`).pluck().get() as number)}`).join(', ');
  console.log(`database: ${fmtBytes(statSync(DB_FILE).size)} (${DB_FILE}), ${fmtInt(db.prepare('SELECT count(*) FROM captures').pluck().get() as number)} captures; rollup rows: ${rollupRows}`);
  const dash = new SqliteDashboardRepository(db);
  const filters = new FilterRegistry({ overlay: new SqliteFilterOverlayRepository(db), torrents: new SqliteTorrentRepository(db) }, []);
  const data = new DashboardData({ store: dash, sources, watchedCount: () => WATCHED.size });
  const dashboard = createDashboard(
    { store: dash, sources, keys: () => new ApiKeyRing([{ name: 'b', key: KEY, state: 'active', methods: ['*'], filters: ['*'] }]), watchedCount: () => WATCHED.size, logger: silentLogger() },
    { enabled: true, tickMs: 5000, maxClients: 4, heartbeatMs: 15_000, sessionTtlMs: 3_600_000 },
  );
  const app = await createApiServer(
    {
      keys: () => new ApiKeyRing([]), pageSize: () => 1000, filters,
      captures: { page: () => ({ from: 0, to: 0, hasMore: false, peers: [] }), get: () => undefined, filtersOf: () => [] },
      torrents: new SqliteTorrentRepository(db), logger: silentLogger(), modules: [dashboard.http!],
    },
    { bodyLimitBytes: 1 << 20, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000, trustProxy: false },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  let allPass = true;
  try {
    for (const range of Object.keys(RANGES) as DashboardRange[]) {
      const url = `${base}/dashboard/api/summary?range=${range}&key=${KEY}`;
      let bytes = 0;
      let total = 0;
      const times: number[] = [];
      for (let i = 0; i < WARMUP + REQUESTS; i++) {
        const t0 = performance.now();
        const res = await fetch(url);
        const text = await res.text();
        const ms = performance.now() - t0;
        if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text}`);
        if (i >= WARMUP) times.push(ms);
        bytes = text.length;
        const s = JSON.parse(text) as { totals: { ok: number; failed: number } };
        total = s.totals.ok + s.totals.failed;
      }
      times.sort((a, b) => a - b);
      const p99 = percentile(times, 99);
      allPass &&= p99 <= TARGET_P99_MS;
      // The summary alone (the route's work without HTTP and JSON: the rollup queries and the arrays).
      const sql: number[] = [];
      for (let i = 0; i < 50; i++) {
        const t0 = performance.now();
        data.summary(range);
        sql.push(performance.now() - t0);
      }
      sql.sort((a, b) => a - b);
      console.log(
        `range ${range.padEnd(3)}: ${fmtInt(total)} captures in range, ${fmtBytes(bytes)} JSON; HTTP p50 ${fmtMs(percentile(times, 50))}, p99 ${fmtMs(p99)}, max ${fmtMs(times[times.length - 1] as number)} (${REQUESTS} requests); summary() alone p50 ${fmtMs(percentile(sql, 50))}, p99 ${fmtMs(percentile(sql, 99))}  ${passMiss(p99 <= TARGET_P99_MS)} (p99 ≤ ${TARGET_P99_MS} ms)`,
      );
    }
    // What the rollups avoid: the same 24 h breakdown from the captures table (not with DB=: its captures are not the generator's).
    const since = Date.now() - 86_400_000;
    if (process.env.DB === undefined) {
      const naive: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        db.prepare('SELECT country_code, count(*) FROM captures WHERE found_at >= ? GROUP BY 1').all(since);
        naive.push(performance.now() - t0);
      }
      console.log(`contrast: "by country, last 24 h" from the captures table (index range + row lookups): ${naive.map((m) => fmtMs(m, 0)).join(', ')}`);
    }
  } finally {
    await app.close();
    db.close();
  }
  console.log(allPass ? 'all ranges within target' : 'some range missed its target');
}

await main();
