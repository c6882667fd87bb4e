/**
 * Retention, two figures:
 *
 * 1. Deleting ROWS old captures (default 10,000,000; 90% of the database past the 30-day age limit)
 *    while GET /capture/peers/all/ is called over the real HTTP server (in this process, with
 *    retention, as in the daemon) by a client in a process of its own (bench/http-get-client.ts: its
 *    own work stays out of the server's time), back to back on one keep-alive connection: the API's
 *    p50/p99 before and during the retention pass, the pass's duration and deletion rate, and the
 *    database's bytes in use before and after. A request counts as "before" or "during" when it was
 *    sent and answered inside a slice without or with retention (the few that straddle a switch are left out).
 * 2. A month at 1,000 captures/s under a size cap, simulated: captures are written as the daemon
 *    writes them (insertMany, 500 per batch, found_at advancing 1,000 per simulated second) and a
 *    retention pass runs every simulated interval; it prints the largest size in use seen against
 *    the cap. The cap and the interval are scaled down together (SIM_CAP_MIB, SIM_INTERVAL_S), so
 *    that the simulation reaches the cap and then repeats the steady-state cycle many times: every
 *    later day of the month is that same cycle. Retention has the pace PACE configured; passes over
 *    the cap ignore it (the run prints how many passes waited for it: none should).
 *
 *   node --import tsx bench/retention.ts      ROWS=1000000 for a smaller database,
 *                                             SIM_SECONDS=3600 SIM_CAP_MIB=64 SIM_INTERVAL_S=10
 *   KEEP_DB=1          keep the generated database (bench/.data) and reuse it next time (10 M rows take long to make)
 *   BUILD_ONLY=1       with KEEP_DB=1: build the database and stop (copy it as a pristine one; every run deletes from it)
 *   ALTERNATE_S=60     retention on for 60 s, off for 60 s, and so on: "before" and "during" then see the same load
 *   MAX_DELETE_S=1200  stop deleting after that long (prints what was deleted)
 *   CHECKPOINT=worker  WAL checkpoints as the daemon makes them (database.checkpoint.worker, the default);
 *              auto    SQLite's automatic checkpoint inside commits (every 1,000 pages, on the event loop);
 *              off     none at all while it runs (the WAL grows: an A/B reference only)
 *   MAX_BATCH_MS=10    retention.maxBatchMs
 *   THREAD=1           retention's steps on the retention thread (retention.thread, the default); 0: on the event loop
 *   PACE=1000          retention.paceRowsPerSecond (the default; 0: unpaced, as before the pace)
 *   PACE_PAGES=1000    retention.paceVacuumPagesPerSecond
 *   BEFORE_S=30        seconds of API load before the first slice with retention (after 5 s of warm-up)
 *   BATCH=500          retention.batchSize
 *
 * Beside the API's latency it prints the event loop's delay (monitorEventLoopDelay) before and
 * during, and the time of each blocking retention step (delete transaction, vacuum step); with
 * CHECKPOINT=auto, the steps inside which SQLite ran its checkpoint apart from the others (read from
 * the wal-index header in the -shm file: nBackfill moved during the step).
 */
import { closeSync, mkdirSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FilterConfig } from '../src/config/config-schema.js';
import { FilterRegistry } from '../src/filter/filter-registry.js';
import { ApiKeyRing } from '../src/http/api-keys.js';
import { createApiServer } from '../src/http/api-server.js';
import type { NewCapture } from '../src/model/capture.js';
import { Retention } from '../src/ops/retention.js';
import { SqliteCaptureRepository } from '../src/store/capture-repository.js';
import { SqliteFilterOverlayRepository } from '../src/store/filter-overlay-repository.js';
import { openDatabase } from '../src/store/open-database.js';
import { SqliteOpsRepository } from '../src/store/ops-repository.js';
import { WalCheckpointer } from '../src/store/wal-checkpointer.js';
import type { OpsStore, RetentionStepResult, RetentionSteps } from '../src/ops/ports.js';
import { RetentionWorker } from '../src/store/retention-worker.js';
import { SqliteTorrentRepository } from '../src/store/torrent-repository.js';
import { silentLogger } from '../src/util/logger.js';
import { getInChildUntilStopped } from './http-get-client.js';
import { fmtBytes, fmtInt, fmtMs, header, percentile, Rng } from './lib.js';

const ROWS = Number(process.env.ROWS ?? 10_000_000);
const SIM_SECONDS = Number(process.env.SIM_SECONDS ?? 3_600);
const SIM_CAP_MIB = Number(process.env.SIM_CAP_MIB ?? 64);
const SIM_INTERVAL_S = Number(process.env.SIM_INTERVAL_S ?? 10);
const KEEP_DB = process.env.KEEP_DB === '1';
const BUILD_ONLY = process.env.BUILD_ONLY === '1';
const ALTERNATE_S = Number(process.env.ALTERNATE_S ?? 0);
const MAX_DELETE_S = Number(process.env.MAX_DELETE_S ?? 0);
const CHECKPOINT = (process.env.CHECKPOINT ?? 'worker') as 'worker' | 'auto' | 'off';
const MAX_BATCH_MS = Number(process.env.MAX_BATCH_MS ?? 10);
const THREAD = (process.env.THREAD ?? '1') === '1';
const PACE = Number(process.env.PACE ?? 1_000);
const PACE_PAGES = Number(process.env.PACE_PAGES ?? 1_000);
const BEFORE_S = Number(process.env.BEFORE_S ?? 30);
const BATCH = Number(process.env.BATCH ?? 500);
if (!['worker', 'auto', 'off'].includes(CHECKPOINT)) throw new Error(`CHECKPOINT=${CHECKPOINT}: worker, auto or off`);
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 22);
const KEY = 'bench-key-0123456789';
const DATA = path.join(path.dirname(fileURLToPath(import.meta.url)), '.data');

function filterConfig(name: string): FilterConfig {
  return { name, description: '', infohashes: [], subnets: [], countryCodes: [], storeTCPDumpFile: false, storeTCPDumpAttempt: false, enabled: true, notify: { amqp: false, email: [] } };
}

/** A capture like the daemon stores: about half with a report, listed under 1–2 filters. */
function makeCapture(r: Rng, foundAt: number, i: number): NewCapture {
  const c: NewCapture = {
    foundAt,
    ip: `${1 + r.int(0, 222)}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`,
    port: r.int(1024, 65535),
    infohash: (i % 5_000).toString(16).padStart(40, '0'),
    countryCode: 'DE',
    filters: r.chance(0.5) ? ['alpha'] : ['alpha', 'beta'],
  };
  if (r.chance(0.5)) c.report = { date: foundAt + 2_000, totalPiecesInTorrent: 1_000, hasPieces: r.int(0, 1_000), hasTotal: false, clientName: 'qBittorrent 4.6.2', hostIdentifier: `host-${i % 977}.example.net` };
  else c.error = 'connect timeout';
  return c;
}

/** nBackfill and mxFrame from the wal-index header (the -shm file, native byte order; sqlite.org/walformat.html). */
function walIndex(fd: number): { mxFrame: number; nBackfill: number } {
  const b = Buffer.alloc(100);
  readSync(fd, b, 0, 100, 0);
  return { mxFrame: b.readUInt32LE(16), nBackfill: b.readUInt32LE(96) };
}

/** The store with each blocking step timed, and (CHECKPOINT=auto) whether SQLite checkpointed inside it. */
function timedStore(store: SqliteOpsRepository, shm: () => number | undefined): { store: OpsStore; plain: number[]; withCheckpoint: number[] } {
  const plain: number[] = [];
  const withCheckpoint: number[] = [];
  const time = <T>(work: () => T): T => {
    const fd = CHECKPOINT === 'auto' ? shm() : undefined;
    const before = fd === undefined ? undefined : walIndex(fd);
    const t0 = performance.now();
    const r = work();
    const ms = performance.now() - t0;
    const after = fd === undefined ? undefined : walIndex(fd);
    const checkpointed = before !== undefined && after !== undefined && after.nBackfill !== before.nBackfill && after.nBackfill > 0;
    (checkpointed ? withCheckpoint : plain).push(ms);
    return r;
  };
  const timed: OpsStore = {
    space: () => store.space(),
    probeWrite: (w) => store.probeWrite(w),
    oldestCaptureAt: () => store.oldestCaptureAt(),
    deleteOldestCaptures: (before, limit) => time(() => store.deleteOldestCaptures(before, limit)),
    deleteOldSightings: (before, limit) => time(() => store.deleteOldSightings(before, limit)),
    deleteOldParkedOutbox: (before, limit) => time(() => store.deleteOldParkedOutbox(before, limit)),
    deleteExpiredRollups: (now, limit) => time(() => store.deleteExpiredRollups(now, limit)),
    incrementalVacuum: (pages) => time(() => store.incrementalVacuum(pages)),
    setAutoCheckpoint: (pages) => store.setAutoCheckpoint(pages),
  };
  return { store: timed, plain, withCheckpoint };
}

/** The retention thread's steps with each one's time (its transaction, on the thread) recorded. */
function timedSteps(worker: RetentionWorker): { steps: RetentionSteps; ms: number[] } {
  const ms: number[] = [];
  const rec = <T>(p: Promise<RetentionStepResult<T>>): Promise<RetentionStepResult<T>> => p.then((r) => (ms.push(r.ms), r));
  return {
    ms,
    steps: {
      deleteOldestCaptures: (before, limit) => rec(worker.deleteOldestCaptures(before, limit)),
      deleteOldSightings: (before, limit) => rec(worker.deleteOldSightings(before, limit)),
      deleteOldParkedOutbox: (before, limit) => rec(worker.deleteOldParkedOutbox(before, limit)),
      deleteExpiredRollups: (now, limit) => rec(worker.deleteExpiredRollups(now, limit)),
      incrementalVacuum: (pages) => rec(worker.incrementalVacuum(pages)),
      deleteTargetOlderThan: (target, before, limit) => rec(worker.deleteTargetOlderThan(target, before, limit)),
    },
  };
}

function steps(label: string, ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  return `${label} ${fmtInt(s.length)}: p50 ${fmtMs(percentile(s, 50))}, p99 ${fmtMs(percentile(s, 99))}, max ${fmtMs(s[s.length - 1] ?? 0)}, total ${(s.reduce((a, b) => a + b, 0) / 1000).toFixed(1)} s`;
}

function loopDelay(h: IntervalHistogram): string {
  return `${fmtMs(h.percentile(50) / 1e6)}, ${fmtMs(h.percentile(99) / 1e6)}`;
}

async function deleteDuringApi(): Promise<void> {
  header(`retention: delete ${fmtInt(Math.round(ROWS * 0.9))} old captures of ${fmtInt(ROWS)} while GET /capture/peers/all/ runs`);
  mkdirSync(DATA, { recursive: true });
  const file = path.join(DATA, `retention-${ROWS}.sqlite`);
  if (!KEEP_DB) for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  const db = openDatabase(file);
  const captures = new SqliteCaptureRepository(db);
  const ops = new SqliteOpsRepository(db);
  const r = new Rng(7);
  const old = Math.round(ROWS * 0.9);
  const t0 = performance.now();
  const have = db.prepare('SELECT count(*) FROM captures').pluck().get() as number;
  if (have > ROWS) throw new Error(`${file} holds ${have} captures, more than ${ROWS}: remove it`);
  // A kept database may have lost some of its old captures to an earlier run (oldest first).
  if (have > 0) console.log(`  reusing ${file} (KEEP_DB=1): ${fmtInt(have)} captures, ${fmtInt(have - (ROWS - old))} of them old`);
  // 90% from 120 to 31 days ago (past a 30-day limit), 10% in the last 10 days.
  for (let i = 0; have === 0 && i < ROWS; i += 10_000) {
    const batch: NewCapture[] = [];
    for (let k = i; k < Math.min(ROWS, i + 10_000); k++) {
      const foundAt = k < old ? NOW - 120 * DAY + Math.floor((k / old) * 89 * DAY) : NOW - 10 * DAY + Math.floor(((k - old) / (ROWS - old)) * 10 * DAY);
      batch.push(makeCapture(r, foundAt, k));
    }
    captures.insertMany(batch);
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  console.log(`  generated in ${((performance.now() - t0) / 1000).toFixed(0)} s; in use ${fmtBytes(ops.space().usedBytes)}`);
  if (BUILD_ONLY) {
    db.close();
    return;
  }
  // WAL checkpoints as CHECKPOINT says (the daemon: the worker).
  const checkpointer = new WalCheckpointer({ file, main: ops, logger: silentLogger() }, { worker: CHECKPOINT === 'worker', intervalMs: 1000, walMaxBytes: 64 * 2 ** 20 });
  if (CHECKPOINT === 'off') ops.setAutoCheckpoint(0);
  checkpointer.start();
  let shmFd: number | undefined;
  const shm = (): number | undefined => {
    try {
      return (shmFd ??= openSync(`${file}-shm`, 'r'));
    } catch {
      return undefined;
    }
  };
  const timed = timedStore(ops, shm);
  const worker = new RetentionWorker({ db, local: ops, logger: silentLogger() }, { thread: true, walMaxBytes: 64 * 2 ** 20 });
  const onThread = THREAD ? timedSteps(worker) : undefined;
  // The WAL's largest length (pages, from the wal-index) and file size while the benchmark runs.
  let walMaxFrames = 0;
  let walMaxBytes = 0;
  const walSampler = setInterval(() => {
    const fd = shm();
    if (fd !== undefined) walMaxFrames = Math.max(walMaxFrames, walIndex(fd).mxFrame);
    try {
      walMaxBytes = Math.max(walMaxBytes, statSync(`${file}-wal`).size);
    } catch {
      // no WAL file right now
    }
  }, 200);
  console.log(`  checkpoints: ${CHECKPOINT}; retention.batchSize ${BATCH}, maxBatchMs ${MAX_BATCH_MS}; steps on ${THREAD ? 'the retention thread' : 'the event loop'}; pace ${PACE > 0 ? `${fmtInt(PACE)} rows/s, ${fmtInt(PACE_PAGES)} pages/s` : 'off (unpaced)'}`);

  const registry = new FilterRegistry({ overlay: new SqliteFilterOverlayRepository(db), torrents: new SqliteTorrentRepository(db) }, ['alpha', 'beta'].map(filterConfig));
  const keys = new ApiKeyRing([{ name: 'bench', key: KEY, state: 'active', methods: ['*'], filters: ['*'] }]);
  const app = await createApiServer(
    { keys: () => keys, pageSize: () => 1_000, filters: registry, captures, torrents: new SqliteTorrentRepository(db), logger: silentLogger() },
    { bodyLimitBytes: 1e7, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000, trustProxy: false },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  // Pages of the recent data at random points (what clients read while old data is deleted), from a
  // client in its own process, back to back until the end; each request is sorted by when it was sent.
  const q = new Rng(11);
  const urls = Array.from({ length: 5_000 }, () => {
    const from = NOW - 10 * DAY + q.int(0, 9 * DAY);
    return `${base}/capture/peers/all/?key=${KEY}&filter=${q.chance(0.5) ? 'alpha' : 'beta'}&from=${from}&to=${NOW + 1}`;
  });
  const client = getInChildUntilStopped(urls);
  await client.started;
  const epoch = (): number => performance.timeOrigin + performance.now();
  const slices: Array<{ from: number; to: number; on: boolean }> = [];
  await new Promise((r) => setTimeout(r, 5_000)); // warm-up: not counted
  // The event loop's delay before (retention off) and during (on), sampled every 1 ms.
  const loopBefore = monitorEventLoopDelay({ resolution: 1 });
  const loopDuring = monitorEventLoopDelay({ resolution: 1 });
  const offSlice = async (s: number): Promise<void> => {
    const from = epoch();
    loopBefore.enable();
    await new Promise((r) => setTimeout(r, s * 1000));
    loopBefore.disable();
    slices.push({ from, to: epoch(), on: false });
  };
  await offSlice(BEFORE_S);

  const usedBefore = ops.space().usedBytes;
  // Retention runs in slices of ALTERNATE_S seconds with as long without it in between (0: one pass
  // to the end), so "before" and "during" see the same machine load; MAX_DELETE_S stops it early.
  const run = { deleted: {} as Record<string, number>, durationMs: 0, vacuumedPages: 0, batches: 0, longestBatchMs: 0, usedBytesAfter: 0, pacedMs: 0 };
  const t1 = performance.now();
  let finished = false;
  while (!finished && (MAX_DELETE_S === 0 || performance.now() - t1 < MAX_DELETE_S * 1000)) {
    const retention = new Retention(
      { store: timed.store, logger: silentLogger(), now: () => NOW, wal: checkpointer, ...(onThread ? { steps: onThread.steps } : {}) },
      {
        enabled: true, intervalMs: 600_000, maxAgeDays: { captures: 30 }, maxDatabaseBytes: 0, batchSize: BATCH, maxBatchMs: MAX_BATCH_MS, pauseMs: 20, vacuumPagesPerStep: 1024, pcapDir: DATA,
        paceRowsPerSecond: PACE, paceVacuumPagesPerSecond: PACE_PAGES,
      },
    );
    const from = epoch();
    loopDuring.enable();
    const pass = retention.runOnce();
    const sliceMs = ALTERNATE_S > 0 ? ALTERNATE_S * 1000 : Infinity;
    let stopped = false;
    const timer = sliceMs === Infinity ? undefined : setTimeout(() => ((stopped = true), void retention.stop()), sliceMs);
    const slice = await pass;
    clearTimeout(timer);
    loopDuring.disable();
    slices.push({ from, to: epoch(), on: true });
    finished = slice.error === undefined && !stopped;
    for (const [k, v] of Object.entries(slice.deleted)) run.deleted[k] = (run.deleted[k] ?? 0) + v;
    run.durationMs += slice.durationMs;
    run.vacuumedPages += slice.vacuumedPages;
    run.batches += slice.batches;
    run.longestBatchMs = Math.max(run.longestBatchMs, slice.longestBatchMs);
    run.usedBytesAfter = slice.usedBytesAfter;
    run.pacedMs += slice.pacedMs;
    if (ALTERNATE_S > 0 && !finished) await offSlice(ALTERNATE_S);
  }
  const gets = await client.stop();
  const before: number[] = [];
  const during: number[] = [];
  const perSlice = slices.map(() => [] as number[]);
  let straddling = 0;
  let failed = 0;
  gets.at.forEach((at, i) => {
    const ms = gets.ms[i] as number;
    if (gets.statuses[i] !== 200) failed++;
    const k = slices.findIndex((sl) => at >= sl.from && at + ms <= sl.to);
    if (k < 0) {
      if (slices.some((sl) => at < sl.to && at + ms > sl.from)) straddling++;
      return;
    }
    ((slices[k] as (typeof slices)[number]).on ? during : before).push(ms);
    (perSlice[k] as number[]).push(ms);
  });
  if (failed > 0) throw new Error(`${failed} requests did not answer 200`);
  // Each slice's p99, and each slice with retention against the mean of the slices without it on either
  // side (paired: the machine's load drifts; the median of these differences is what retention adds).
  const sliceP99 = perSlice.map((ms) => percentile([...ms].sort((a, b) => a - b), 99));
  const paired: number[] = [];
  slices.forEach((sl, k) => {
    if (!sl.on) return;
    const around = [slices[k - 1], slices[k + 1]].map((o, j) => (o && !o.on ? sliceP99[k - 1 + 2 * j] : undefined)).filter((v): v is number => v !== undefined);
    if (around.length > 0) paired.push((sliceP99[k] as number) - around.reduce((a, b) => a + b, 0) / around.length);
  });
  const pairedSorted = [...paired].sort((a, b) => a - b);
  await app.close();
  await worker.close();
  await checkpointer.stop();
  const sb = [...before].sort((a, b) => a - b);
  const sd = [...during].sort((a, b) => a - b);
  console.log(`  API before: ${fmtInt(before.length)} requests, p50 ${fmtMs(percentile(sb, 50))}, p99 ${fmtMs(percentile(sb, 99))}, max ${fmtMs(sb[sb.length - 1] ?? 0)} (client in its own process: ${(gets.cpuMs / 1000).toFixed(1)} s CPU; ${straddling} requests across a switch left out)`);
  console.log(`  API during: ${fmtInt(during.length)} requests, p50 ${fmtMs(percentile(sd, 50))}, p99 ${fmtMs(percentile(sd, 99))}, max ${fmtMs(sd[sd.length - 1] ?? 0)}`);
  console.log(`  p99 per slice (off/ON): ${slices.map((sl, k) => `${sl.on ? 'ON ' : ''}${(sliceP99[k] as number).toFixed(1)}`).join(', ')} ms`);
  console.log(`  p99 of each slice with retention minus its neighbours' without: ${paired.map((d) => d.toFixed(1)).join(', ')} ms; median ${fmtMs(percentile(pairedSorted, 50))}`);
  const deleted = run.deleted.captures ?? 0;
  console.log(
    `  retention pass: ${fmtInt(deleted)} captures (+ ${fmtInt(run.deleted.capture_listings ?? 0)} listings) in ${(run.durationMs / 1000).toFixed(1)} s ` +
      `= ${fmtInt(Math.round(deleted / (run.durationMs / 1000)))} captures/s; ${fmtInt(run.vacuumedPages)} pages given back; ` +
      `in use ${fmtBytes(usedBefore)} -> ${fmtBytes(run.usedBytesAfter)}; ${(run.pacedMs / 1000).toFixed(1)} s waited for the pace`,
  );
  console.log(`  retention steps: ${fmtInt(run.batches)} batches and vacuum steps, longest ${fmtMs(run.longestBatchMs)} (budget retention.maxBatchMs = ${MAX_BATCH_MS} ms)${onThread ? '; on the thread: they hold the write lock, not the event loop' : ''}`);
  if (onThread) {
    const w = worker.status();
    console.log(`  ${steps('steps on the retention thread', onThread.ms)}`);
    console.log(`  retention thread: ${fmtInt(w.stepsOnThread)} steps there, ${fmtInt(w.stepsOnEventLoop)} on the event loop, ${w.threadsStarted} started, ${w.threadFailures} failed; WAL after its steps at most ${fmtBytes(w.walMaxBytes)}; its checkpoints after the steps ${(w.checkpointMs / 1000).toFixed(1)} s in all, longest ${fmtMs(w.longestCheckpointMs)}`);
  }
  if (timed.plain.length > 0 || !onThread) console.log(`  ${steps('steps on the event loop', timed.plain)}`);
  if (CHECKPOINT === 'auto') console.log(`  ${steps('steps with a checkpoint inside', timed.withCheckpoint)}`);
  console.log(`  event-loop delay (p50, p99) before: ${loopDelay(loopBefore)}; during: ${loopDelay(loopDuring)}`);
  const c = checkpointer.status();
  if (CHECKPOINT === 'worker') {
    console.log(`  checkpoint worker: ${fmtInt(c.checkpoints)} checkpoints, ${c.failures} failed, longest ${fmtMs(c.longestDurationMs)} (its own thread); WAL at the last: ${fmtInt(c.walFrames)} pages; walMaxBytes fallbacks ${c.fallbacks}`);
  }
  clearInterval(walSampler);
  console.log(`  WAL while it ran: at most ${fmtInt(walMaxFrames)} pages in use, file at most ${fmtBytes(walMaxBytes)}`);
  if (shmFd !== undefined) closeSync(shmFd);
  if (!finished) console.log(`  stopped after MAX_DELETE_S = ${MAX_DELETE_S} s: ${fmtInt(deleted)} of ${fmtInt(have > 0 ? have - (ROWS - old) : old)} old captures deleted`);
  else if (deleted !== (have > 0 ? have - (ROWS - old) : old)) throw new Error(`deleted ${deleted}, expected ${old}`);
  db.close();
  if (!KEEP_DB) for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
}

async function monthUnderCap(): Promise<void> {
  const cap = SIM_CAP_MIB * 2 ** 20;
  header(`retention: 1,000 captures/s for ${fmtInt(SIM_SECONDS)} simulated s under a ${SIM_CAP_MIB} MiB cap, a pass every ${SIM_INTERVAL_S} simulated s`);
  mkdirSync(DATA, { recursive: true });
  const file = path.join(DATA, 'retention-sim.sqlite');
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  const db = openDatabase(file);
  const captures = new SqliteCaptureRepository(db);
  const ops = new SqliteOpsRepository(db);
  let simNow = NOW;
  const retention = new Retention(
    { store: ops, logger: silentLogger(), now: () => simNow },
    {
      enabled: true, intervalMs: SIM_INTERVAL_S * 1000, maxAgeDays: { captures: 30 }, maxDatabaseBytes: cap, batchSize: 500, maxBatchMs: 10, pauseMs: 0, vacuumPagesPerStep: 1024, pcapDir: DATA,
      // The pace as configured (PACE): a pass over the cap ignores it, so the cap holds whatever it is.
      paceRowsPerSecond: PACE, paceVacuumPagesPerSecond: PACE_PAGES,
    },
  );
  const r = new Rng(3);
  let maxUsed = 0;
  let passes = 0;
  let deleted = 0;
  let passMs = 0;
  let vacuumed = 0;
  let pacedPasses = 0;
  let firstCapAt: number | undefined;
  const t0 = performance.now();
  for (let s = 0; s < SIM_SECONDS; s++) {
    for (let h = 0; h < 2; h++) {
      const batch: NewCapture[] = [];
      for (let k = 0; k < 500; k++) batch.push(makeCapture(r, simNow + h * 500 + k, s * 1000 + h * 500 + k));
      captures.insertMany(batch);
    }
    simNow += 1000;
    maxUsed = Math.max(maxUsed, ops.space().usedBytes);
    if ((s + 1) % SIM_INTERVAL_S === 0) {
      const run = await retention.runOnce();
      passes++;
      passMs += run.durationMs;
      vacuumed += run.vacuumedPages;
      if (run.pacedMs > 0) pacedPasses++;
      deleted += run.deleted.captures ?? 0;
      if (run.overCap && firstCapAt === undefined) firstCapAt = s + 1;
      if (process.env.DEBUG_SIM) console.log(`  pass at ${s + 1}: before ${fmtBytes(run.usedBytesBefore)} after ${fmtBytes(run.usedBytesAfter)} over ${run.overCap} deleted ${run.deleted.captures ?? 0} max ${fmtBytes(maxUsed)}`);
    }
  }
  const wall = (performance.now() - t0) / 1000;
  const bytesPerCapture = ops.space().usedBytes / (SIM_SECONDS * 1000 - deleted);
  console.log(`  written ${fmtInt(SIM_SECONDS * 1000)} captures (${wall.toFixed(0)} s wall); cap first reached at simulated second ${firstCapAt ?? 'never'}`);
  console.log(`  largest size in use ${fmtBytes(maxUsed)} of a ${fmtBytes(cap)} cap (${((maxUsed / cap) * 100).toFixed(1)}%); ${passes} passes deleted ${fmtInt(deleted)} captures; ${bytesPerCapture.toFixed(0)} B per capture kept`);
  console.log(`  retention time: ${fmtMs(passMs / passes)} per pass on average = ${((passMs / 1000 / SIM_SECONDS) * 100).toFixed(2)}% of the simulated time; ${fmtInt(vacuumed)} pages given back (file ${fmtBytes(statSync(file).size)} at the end); ${pacedPasses} passes waited for the pace (PACE=${PACE})`);
  const perInterval = 1000 * SIM_INTERVAL_S * bytesPerCapture;
  console.log(
    `  month at full scale: a pass every 10 min deletes ~600,000 captures (~${fmtBytes(600_000 * bytesPerCapture)}); ` +
      `keep maxDatabaseBytes ≥ 20 × that (≈ ${fmtBytes(20 * 600_000 * bytesPerCapture)}) so one interval fits in the 5% headroom; ` +
      `here one interval is ${fmtBytes(perInterval)} = ${((perInterval / cap) * 100).toFixed(1)}% of the cap`,
  );
  db.close();
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  if (maxUsed > cap) throw new Error('the database went over its cap');
}

if (ROWS > 0) await deleteDuringApi();
if (!BUILD_ONLY && SIM_SECONDS > 0) await monthUnderCap();
