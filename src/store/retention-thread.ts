/**
 * The retention thread (started by RetentionWorker, retention-worker.ts): retention's delete
 * transactions (captures, sightings, parked outbox, rollups, and the BTN submissions and spam reports
 * of retention-thread-targets.ts) and incremental-vacuum steps on the thread's own connection, so the
 * event loop that serves the API never runs them (in WAL mode the API's readers are not blocked by
 * this writer). Each step takes the daemon's write turn (write-turn.ts) for its transaction only, so
 * the capture writer never meets it in SQLite's lock and goes first when it waits.
 *
 * After a step, with the turn let go, the thread checkpoints the WAL (PASSIVE: copies what is
 * committed, never takes the write lock; at most every CHECKPOINT_EVERY_MS, each costs syncs):
 * retention is the daemon's largest writer while it runs, and the pages it wrote are copied back
 * before it writes much more, so the WAL stays a few steps long instead of growing between the
 * checkpoint worker's ticks. Once the WAL is half of `walMaxBytes`, the thread makes it start over
 * (settleWal) before it writes anything more: the bound holds without the event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from './open-database.js';
import { SqliteOpsRepository } from './ops-repository.js';
import { RETENTION_THREAD_TARGETS, type RetentionThreadTarget } from './retention-thread-targets.js';
import { RETENTION_THREAD, WriteTurn } from './write-turn.js';

export interface RetentionThreadData {
  file: string;
  synchronous: 'normal' | 'full';
  busyTimeoutMs: number;
  walMaxBytes: number;
  /** The write turn shared with the daemon's event loop (write-turn.ts). */
  turn?: SharedArrayBuffer;
  /** Test hook: the thread dies inside the transaction of its n-th step (1 = the first). */
  exitInStep?: number;
}

export type RetentionStepCall = { id: number } & (
  | { op: 'deleteOldestCaptures' | 'deleteOldSightings' | 'deleteOldParkedOutbox' | 'deleteExpiredRollups'; args: [number, number] }
  | { op: 'incrementalVacuum'; args: [number] }
  | { op: 'deleteTarget'; target: RetentionThreadTarget; args: [number, number] }
);

export type RetentionThreadMessage =
  | { kind: 'ready' }
  | { kind: 'step'; id: number; ok: true; value: unknown; ms: number; walBytes: number; checkpointMs: number }
  | { kind: 'step'; id: number; ok: false; name: string; code: string | undefined; message: string };

/** The thread checkpoints after a step at most this often (ms). */
const CHECKPOINT_EVERY_MS = 250;
/** RESTART checkpoints at most (WAL at half of walMaxBytes and readers on it), this many ms apart, each waiting at most RESTART_BUSY_MS. */
const BOUND_ROUNDS = 20;
const BOUND_PAUSE_MS = 10;
const RESTART_BUSY_MS = 50;

const port = parentPort;
if (!port) throw new Error('retention-thread runs as a worker thread');
const data = workerData as RetentionThreadData;
const db = openDatabase(data.file, { migrate: false, busyTimeoutMs: data.busyTimeoutMs, synchronous: data.synchronous });
// This connection never checkpoints inside its commits (the thread does, after each step).
db.pragma('wal_autocheckpoint = 0');
const repo = new SqliteOpsRepository(db);
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
// RESTART waits for readers still on the WAL (busy handler) while it holds the write lock: briefly.
const restart = db.prepare('PRAGMA wal_checkpoint(RESTART)');
const pageSize = db.pragma('page_size', { simple: true }) as number;
const turn = data.turn ? new WriteTurn(data.turn) : undefined;
/** Other modules' deletes, each built at its first step. */
const targets = new Map<RetentionThreadTarget, (before: number, limit: number) => number>();
const sleeper = new Int32Array(new SharedArrayBuffer(4));
let steps = 0;
let lastCheckpointAt = -Infinity;
let walBytesAtLast = 0;

function exec(call: RetentionStepCall): unknown {
  switch (call.op) {
    case 'deleteOldestCaptures':
      return repo.deleteOldestCaptures(...call.args);
    case 'deleteOldSightings':
      return repo.deleteOldSightings(...call.args);
    case 'deleteOldParkedOutbox':
      return repo.deleteOldParkedOutbox(...call.args);
    case 'deleteExpiredRollups':
      return repo.deleteExpiredRollups(...call.args);
    case 'incrementalVacuum':
      return repo.incrementalVacuum(...call.args);
    case 'deleteTarget': {
      let del = targets.get(call.target);
      if (!del) targets.set(call.target, (del = RETENTION_THREAD_TARGETS[call.target](db)));
      return del(...call.args);
    }
  }
}

/**
 * A passive checkpoint; once the WAL is half of walMaxBytes, one that also starts it over (RESTART).
 * Why: a passive checkpoint copies the WAL, but only a commit that finds no reader still on the WAL
 * starts it over, and the API's back-to-back reads nearly always have one (measured at 10 M
 * captures: 73 MiB while retention deleted, with the checkpoints complete). RESTART waits for those
 * readers (each a few ms; new ones then read the database file) in the write turn, with a short busy
 * timeout, so the capture writer waits for the turn, never in SQLite's lock; readers never wait.
 * Returns the WAL's length after (bytes).
 */
function settleWal(): number {
  let r = checkpoint.get() as { busy: number; log: number; checkpointed: number };
  for (let round = 0; r.log > 0 && r.log * pageSize >= data.walMaxBytes / 2 && round < BOUND_ROUNDS; round++) {
    turn?.take(200, RETENTION_THREAD);
    db.pragma(`busy_timeout = ${RESTART_BUSY_MS}`);
    try {
      r = restart.get() as typeof r;
    } finally {
      db.pragma(`busy_timeout = ${data.busyTimeoutMs}`);
      turn?.release();
    }
    if (r.busy === 0) break; // started over (log 0) or about to (the next commit)
    Atomics.wait(sleeper, 0, 0, BOUND_PAUSE_MS);
  }
  return Math.max(0, r.log) * pageSize;
}

function step(call: RetentionStepCall): RetentionThreadMessage {
  steps++;
  turn?.take(200, RETENTION_THREAD);
  const t0 = performance.now();
  let value: unknown;
  try {
    if (data.exitInStep === steps) db.transaction(() => {
      db.prepare('DELETE FROM captures WHERE id IN (SELECT id FROM captures LIMIT 1)').run();
      process.exit(70);
    })();
    value = exec(call);
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown; name?: unknown };
    return { kind: 'step', id: call.id, ok: false, name: String(e.name ?? 'Error'), code: typeof e.code === 'string' ? e.code : undefined, message: String(e.message ?? err) };
  } finally {
    turn?.release();
  }
  const ms = performance.now() - t0;
  const c0 = performance.now();
  if (c0 - lastCheckpointAt >= CHECKPOINT_EVERY_MS) {
    lastCheckpointAt = c0;
    try {
      walBytesAtLast = settleWal();
    } catch {
      // A checkpoint that fails (I/O) is the checkpoint worker's to report; the step itself committed.
    }
  }
  return { kind: 'step', id: call.id, ok: true, value, ms, walBytes: walBytesAtLast, checkpointMs: performance.now() - c0 };
}

port.on('message', (m: RetentionStepCall | { op: 'close' }) => {
  if (m.op === 'close') {
    db.close();
    port.close();
    return;
  }
  port.postMessage(step(m));
});
port.postMessage({ kind: 'ready' } satisfies RetentionThreadMessage);
