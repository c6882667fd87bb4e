/**
 * Ingest into PostgreSQL with COPY: captures/s of the PostgreSQL store's two write paths, on a
 * fresh database (dropped at the end):
 *  - insertMany: COPY straight into the partitioned captures and capture_filters tables;
 *  - ingestCaptures (the ingest role's idempotent path, PgCentralIngestStore): COPY straight into
 *    the tables under a savepoint; a batch holding a uid already stored goes through staging tables
 *    and INSERT … ON CONFLICT (found_at, uid) DO NOTHING instead;
 *  - the same batches delivered again (all duplicates);
 *  - ingestCaptures in batches of ROLE_BATCH (500), on ROWS / 4;
 *  - the ingest role's work without RabbitMQ, wall clock: message bodies (JSON, made before the
 *    clock starts) parsed as the role parses them (parseIngestMessage) and stored in batches, with
 *    W batches written at once (cluster.ingest.writers: W pooled connections; a writer parses and
 *    encodes its next batch while the database stores the other), for each "WxBATCH" of
 *    ROLE_PHASES (default 1x500,2x500,2x2000,2x10000), on ROWS / 2 each.
 * Captures come from bench/capture-gen.ts (realistic sizes and listings), made batch by batch (for
 * the ingest path through a JSON round trip, as the ingest role parses each message); only
 * the store's calls are timed (generation is not the store's work; the concurrent phase includes it). Each phase also prints captures per CPU-second of this
 * process plus the database's server processes: the rate with the CPU to ourselves, which a shared,
 * loaded machine hides; and the WAL written per capture. Target: ≥ 100,000 captures/s.
 *
 *   nice -n 10 node --import tsx bench/pg-ingest.ts      ROWS=1000000 BATCH=10000 ROLE_PHASES=1x500,2x2000
 *                                                       PG_NICE=-5 (the server processes' niceness: see niceBackends)
 */
import { randomUUID } from 'node:crypto';
import type { NewCapture } from '../src/model/capture.js';
import type { ForwardedCapture } from '../src/cluster/ports.js';
import { parseIngestMessage } from '../src/cluster/ingest-message.js';
import type { StableCapture } from '../src/store/pg/pg-capture-repository.js';
import { openPgStore, type PgStore } from '../src/store/pg/pg-store.js';
import { CaptureGenerator } from './capture-gen.js';
import { fmtBytes, fmtInt, header, passMiss } from './lib.js';
import { cpuStopwatch, createBenchDb, databaseBytes, niceBackends, walBytes } from './pg-bench-db.js';

const ROWS = Number(process.env.ROWS ?? 1_000_000);
const BATCH = Number(process.env.BATCH ?? 10_000);
/** Small batches (the ingest role's batchSize before session 6): their rate is measured too, on ROWS / 4. */
const ROLE_BATCH = Number(process.env.ROLE_BATCH ?? 500);
/** Writers x batch size of the role phases. */
const ROLE_PHASES = (process.env.ROLE_PHASES ?? '1x500,2x500,2x2000,2x10000').split(',').map((p) => {
  const [w, b] = p.split('x').map(Number) as [number, number];
  return { writers: w, batch: b };
});
const MAX_WRITERS = Math.max(...ROLE_PHASES.map((p) => p.writers));
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
  if (current) await niceBackends(current.store.pool, MAX_WRITERS + 2, true);
  const cpu = current ? await cpuStopwatch(current.store.pool, current.db) : undefined;
  const wal0 = current ? await walBytes(current.store.pool) : 0;
  const clock = new Clock();
  await fn(clock);
  const used = cpu ? await cpu() : undefined;
  const wal = current ? (await walBytes(current.store.pool)) - wal0 : 0;
  const rate = (rows / clock.wallMs) * 1000;
  const us = (ms: number): string => ((ms * 1000) / rows).toFixed(1);
  const perCpu = used
    ? ` | ${fmtInt((rows / (clock.nodeCpuMs + used.serverMs)) * 1000).padStart(8)} per CPU-s (µs per capture: node ${us(clock.nodeCpuMs)}, postgres ${us(used.serverMs)}; WAL ${fmtInt(wal / rows)} B)`
    : '';
  console.log(`${label.padEnd(58)} ${fmtInt(rows).padStart(9)} in ${(clock.wallMs / 1000).toFixed(2).padStart(6)} s: ${fmtInt(rate).padStart(8)} captures/s${perCpu}`);
  return rate;
}

/** The batches of a phase, made one at a time (so the heap stays small, as in a real ingester). */
function* batches<T>(seed: number, rows: number, map: (b: NewCapture[]) => T[], size = BATCH): Generator<T[]> {
  const g = generator(seed);
  for (let n = 0; n < rows; n += size) yield map(g.next(Math.min(size, rows - n)));
}

/**
 * Captures as the ingest role hands them to the store: each message's JSON body parsed (the
 * consumer's work, outside the store's clock), so the strings are the flat ones JSON.parse makes.
 */
const forwarded = (batch: StableCapture[]): ForwardedCapture[] =>
  batch.map((c) => {
    const { uid, crawlerId, ...capture } = c;
    return JSON.parse(JSON.stringify({ uid, crawlerId: crawlerId ?? 'bench', capture })) as ForwardedCapture;
  });

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

  // 3b. The ingest role's default batch size (a transaction per ROLE_BATCH captures).
  const small = Math.floor(ROWS / 4);
  const role = await timed(`ingestCaptures, batches of ${fmtInt(ROLE_BATCH)} (the ingest role's default)`, small, async (clock) => {
    for (const batch of batches(3, small, (b) => forwarded(stable(b)), ROLE_BATCH)) {
      const r = await clock.time(() => store.ingest.ingestCaptures(batch));
      if (r.inserted !== batch.length) throw new Error(`inserted ${r.inserted} of ${batch.length}`);
    }
  });

  // 4. The ingest role's work: message bodies parsed and stored, W batches at once.
  const roleRates: string[] = [];
  for (const [k, phase] of ROLE_PHASES.entries()) {
    const n = Math.floor(ROWS / 2);
    const bodies: Buffer[] = [];
    for (const batch of batches(20 + k, n, stable)) {
      for (const c of batch) {
        const { uid, crawlerId, ...capture } = c;
        bodies.push(Buffer.from(JSON.stringify({ uid, crawlerId, capture })));
      }
    }
    let next = 0;
    const rate = await timed(`role: parse + ingestCaptures, ${phase.writers} writer(s), batches of ${fmtInt(phase.batch)}`, n, async (clock) => {
      await clock.time(() =>
        Promise.all(
          Array.from({ length: phase.writers }, async () => {
            while (next < bodies.length) {
              const take = bodies.slice(next, next + phase.batch);
              next += take.length;
              const items: ForwardedCapture[] = [];
              for (const b of take) {
                const m = parseIngestMessage('capture', b);
                if (!m.ok || m.kind !== 'capture') throw new Error(`bench message refused: ${m.ok ? m.kind : m.reason}`);
                items.push(m.item);
              }
              const r = await store.ingest.ingestCaptures(items);
              if (r.inserted !== items.length) throw new Error(`inserted ${r.inserted} of ${items.length}`);
            }
          }),
        ),
      );
    });
    roleRates.push(`${phase.writers}x${fmtInt(phase.batch)} ${passMiss(rate >= TARGET)}`);
  }
  const rows = Number((await store.pool.query<{ n: string }>('SELECT count(*) AS n FROM captures')).rows[0]?.n);
  console.log(`stored ${fmtInt(rows)} captures, database ${fmtBytes(await databaseBytes(store.pool))}`);
  console.log(
    `target ≥ ${fmtInt(TARGET)} captures/s: insertMany ${passMiss(plain >= TARGET)}, ingestCaptures 1 writer ${passMiss(ingest >= TARGET)}, ` +
      `batches of ${fmtInt(ROLE_BATCH)} ${passMiss(role >= TARGET)}, role (writers x batch) ${roleRates.join(', ')}`,
  );
}

header(`pg-ingest: ${fmtInt(ROWS)} captures per mode, batches of ${fmtInt(BATCH)}, PostgreSQL COPY`);
const db = await createBenchDb('bench_pg_ingest');
try {
  const store = await openPgStore({ url: db.url, max: MAX_WRITERS + 2, now: END_MS, statementTimeoutMs: 0 });
  await niceBackends(store.pool, MAX_WRITERS + 2);
  current = { store, db: db.name };
  try {
    await run(store);
  } finally {
    await store.close();
  }
} finally {
  await db.drop();
}
