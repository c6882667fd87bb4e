/**
 * Ingest into PostgreSQL with COPY: captures/s of the PostgreSQL store's two write paths, on a
 * fresh database (dropped at the end):
 *  - insertMany: COPY straight into the partitioned captures and capture_filters tables;
 *  - ingestCaptures (the ingest role's idempotent path, PgCentralIngestStore): COPY straight into
 *    the tables under a savepoint; a batch holding a uid already stored goes through staging tables
 *    and INSERT … ON CONFLICT (found_at, uid) DO NOTHING instead;
 *  - the same batches delivered again (all duplicates);
 *  - ingestCaptures from INGESTERS concurrent writers (separate connections), wall-clock rate.
 * Captures come from bench/capture-gen.ts (realistic sizes and listings), made batch by batch; only
 * the store's calls are timed (generation is not the store's work; the concurrent phase includes it). Each phase also prints captures per CPU-second of this
 * process plus the database's server processes: the rate with the CPU to ourselves, which a shared,
 * loaded machine hides. Target: ≥ 100,000 captures/s.
 *
 *   nice -n 10 node --import tsx bench/pg-ingest.ts      ROWS=1000000 BATCH=10000 INGESTERS=2
 */
import { randomUUID } from 'node:crypto';
import type { NewCapture } from '../src/model/capture.js';
import type { StableCapture } from '../src/store/pg/pg-capture-repository.js';
import { openPgStore, type PgStore } from '../src/store/pg/pg-store.js';
import { CaptureGenerator } from './capture-gen.js';
import { fmtBytes, fmtInt, header, passMiss } from './lib.js';
import { cpuStopwatch, createBenchDb, databaseBytes } from './pg-bench-db.js';

const ROWS = Number(process.env.ROWS ?? 1_000_000);
const BATCH = Number(process.env.BATCH ?? 10_000);
const INGESTERS = Number(process.env.INGESTERS ?? 2);
const TARGET = 100_000;
const END_MS = Date.UTC(2026, 10, 22);

function generator(seed: number): CaptureGenerator {
  return new CaptureGenerator({ rows: ROWS, endMs: END_MS, spanDays: 30, seed, clusters: [] });
}

function stable(batch: NewCapture[]): StableCapture[] {
  return batch.map((c) => {
    const { notify, ...rest } = c;
    void notify;
    return { ...rest, uid: randomUUID(), crawlerId: 'bench' };
  });
}

function strip(batch: NewCapture[]): NewCapture[] {
  return batch.map((c) => {
    const { notify, ...rest } = c;
    void notify;
    return rest;
  });
}

let current: { store: PgStore; db: string } | undefined;

/** Wall and CPU time of the store's calls only (generation between calls is not counted). */
class Clock {
  wallMs = 0;
  nodeCpuMs = 0;
  async time<T>(fn: () => Promise<T>): Promise<T> {
    const c = process.cpuUsage();
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.wallMs += performance.now() - t;
      const u = process.cpuUsage(c);
      this.nodeCpuMs += (u.user + u.system) / 1000;
    }
  }
}

/**
 * Runs a phase; prints captures per second of the store's time, and per CPU-second of this process
 * (during the store's calls) plus the database's server processes: the rate with the CPU to ourselves.
 */
async function timed(label: string, rows: number, fn: (clock: Clock) => Promise<void>): Promise<number> {
  const cpu = current ? await cpuStopwatch(current.store.pool, current.db) : undefined;
  const clock = new Clock();
  await fn(clock);
  const used = cpu ? await cpu() : undefined;
  const rate = (rows / clock.wallMs) * 1000;
  const perCpu = used ? ` | ${fmtInt((rows / (clock.nodeCpuMs + used.serverMs)) * 1000).padStart(8)} per CPU-s (node ${(clock.nodeCpuMs / 1000).toFixed(1)} s, postgres ${(used.serverMs / 1000).toFixed(1)} s)` : '';
  console.log(`${label.padEnd(56)} ${fmtInt(rows).padStart(9)} in ${(clock.wallMs / 1000).toFixed(2).padStart(6)} s: ${fmtInt(rate).padStart(8)} captures/s${perCpu}`);
  return rate;
}

/** The batches of a phase, made one at a time (so the heap stays small, as in a real ingester). */
function* batches<T>(seed: number, rows: number, map: (b: NewCapture[]) => T[]): Generator<T[]> {
  const g = generator(seed);
  for (let n = 0; n < rows; n += BATCH) yield map(g.next(Math.min(BATCH, rows - n)));
}

const forwarded = (batch: StableCapture[]) => batch.map((c) => ({ uid: c.uid, crawlerId: 'bench', capture: c }));

async function run(store: PgStore): Promise<void> {
  // 1. insertMany (plain COPY).
  const plain = await timed('insertMany (COPY into the partitions)', ROWS, async (clock) => {
    for (const batch of batches(1, ROWS, strip)) await clock.time(() => store.captures.insertMany(batch));
  });

  // 2. ingestCaptures (idempotent, through the ingest port), then 3. some batches again.
  const kept: Array<ReturnType<typeof forwarded>> = [];
  const ingest = await timed('ingestCaptures (COPY; staging if a uid is stored), 1 writer', ROWS, async (clock) => {
    for (const batch of batches(2, ROWS, (b) => forwarded(stable(b)))) {
      if (kept.length < 20) kept.push(batch);
      const r = await clock.time(() => store.ingest.ingestCaptures(batch));
      if (r.inserted !== batch.length) throw new Error(`inserted ${r.inserted} of ${batch.length}`);
    }
  });
  const again = kept.reduce((n, b) => n + b.length, 0);
  await timed('ingestCaptures, redelivered batches (all duplicates)', again, async (clock) => {
    for (const batch of kept) {
      const r = await clock.time(() => store.ingest.ingestCaptures(batch));
      if (r.inserted !== 0) throw new Error('a redelivery stored rows');
    }
  });
  kept.length = 0;

  // 4. Concurrent ingesters (separate connections), each making its next batch while the others write.
  const per = Math.floor(ROWS / INGESTERS);
  const wall = await timed(`ingestCaptures, ${INGESTERS} writers at once (wall clock)`, per * INGESTERS, async (clock) => {
    await clock.time(() =>
      Promise.all(
        Array.from({ length: INGESTERS }, async (_, i) => {
          for (const batch of batches(10 + i, per, (b) => forwarded(stable(b)))) await store.ingest.ingestCaptures(batch);
        }),
      ),
    );
  });
  const rows = Number((await store.pool.query<{ n: string }>('SELECT count(*) AS n FROM captures')).rows[0]?.n);
  console.log(`stored ${fmtInt(rows)} captures, database ${fmtBytes(await databaseBytes(store.pool))}`);
  console.log(`target ≥ ${fmtInt(TARGET)} captures/s: insertMany ${passMiss(plain >= TARGET)}, ingestCaptures 1 writer ${passMiss(ingest >= TARGET)}, ${INGESTERS} writers ${passMiss(wall >= TARGET)}`);
}

header(`pg-ingest: ${fmtInt(ROWS)} captures per mode, batches of ${fmtInt(BATCH)}, PostgreSQL COPY`);
const db = await createBenchDb('bench_pg_ingest');
try {
  const store = await openPgStore({ url: db.url, max: INGESTERS + 2, now: END_MS, statementTimeoutMs: 0 });
  current = { store, db: db.name };
  try {
    await run(store);
  } finally {
    await store.close();
  }
} finally {
  await db.drop();
}
