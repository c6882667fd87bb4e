import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { CHECKPOINT_THREAD, WriteTurn } from './write-turn.js';

/**
 * The WAL checkpointer's thread (started by WalCheckpointer): its own connection to the database
 * runs `PRAGMA wal_checkpoint(PASSIVE)` every `intervalMs`. A passive checkpoint copies committed
 * pages from the WAL into the database file and syncs it without taking the write lock, so the
 * daemon's connection (autocheckpoint off) neither waits for it nor pays for it on the event loop.
 * When commits came in while it copied, it goes again at once (each round has less to copy) until
 * the WAL is fully checkpointed: only then can the next commit start the WAL over from its beginning.
 * A writer that commits back to back (the BTN write thread at full ingest) never lets that happen:
 * the rounds complete while it writes its next transaction, which then commits more. So when the
 * WAL is `restartPages` long or more (and no reader pins it), one last round runs holding the
 * daemon's write turn (`turn`): no commit can come in, it copies only what came in since the
 * previous round, and as a RESTART it starts the WAL over itself (waiting at most RESTART_BUSY_MS
 * for readers still on it). Writers wait for that round (a few ms, once per interval), never for the
 * whole checkpoint, and none of them checkpoints inside its own commits.
 */
export interface CheckpointWorkerData {
  file: string;
  intervalMs: number;
  /** Rounds in a row at most while commits keep coming in (then the next tick). */
  maxRounds: number;
  /** The daemon's write turn (write-turn.ts), taken for a last round (RESTART) once the WAL is `restartPages` long. */
  turn?: SharedArrayBuffer;
  /** WAL length (pages) from which a checkpoint ends with that round (default 1,000: SQLite's own checkpoint size). */
  restartPages?: number;
  /**
   * With `turn`: the next checkpoint comes sooner than intervalMs when the WAL grew fast enough since
   * it last started over to reach half of this by then (a write thread at full ingest writes ~90 MB/s).
   */
  walMaxBytes?: number;
}

/** Worker → parent. `log`: frames in the WAL; `checkpointed`: frames of it copied into the database. */
export type CheckpointWorkerMessage =
  | { kind: 'ready'; pageSize: number }
  | { kind: 'checkpoint'; ok: true; busy: boolean; log: number; checkpointed: number; ms: number; rounds: number; id?: number; turnMs?: number }
  | { kind: 'checkpoint'; ok: false; error: string; ms: number; id?: number }
  | { kind: 'stopped' };

/** Parent → worker. */
export type CheckpointWorkerCommand = { kind: 'stop' } | { kind: 'now'; id: number };

const port = parentPort;
if (!port) throw new Error('wal-checkpoint-worker runs as a worker thread');
const data = workerData as CheckpointWorkerData;
const db = new Database(data.file, { fileMustExist: true });
// A passive checkpoint never waits for a lock; this connection never writes.
db.pragma('busy_timeout = 0');
db.pragma('wal_autocheckpoint = 0');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
// Holding the write turn: copies the rest, then waits (busy handler) for readers still on the WAL and starts it over.
const restart = db.prepare('PRAGMA wal_checkpoint(RESTART)');
const turn = data.turn ? new WriteTurn(data.turn) : undefined;
/** How long the round in the turn waits for readers still on the WAL (each a few ms; new ones read the database file). */
const RESTART_BUSY_MS = 20;
const pageSize = db.pragma('page_size', { simple: true }) as number;
/** When the WAL last started over (a round in the turn), and the delay to the next checkpoint. */
let restartedAt = performance.now();
let nextDelayMs = data.intervalMs;
let timer: NodeJS.Timeout | undefined;
let stopping = false;

function post(m: CheckpointWorkerMessage): void {
  port?.postMessage(m);
}

/** One checkpoint, repeated while commits raced it, posted as one message. */
function run(id?: number): void {
  const t0 = performance.now();
  try {
    let r = { busy: 0, log: 0, checkpointed: 0 };
    let rounds = 0;
    let before = 0;
    for (;;) {
      before = r.log;
      r = checkpoint.get() as typeof r;
      rounds++;
      // log = -1: not in WAL mode (nothing to do). Complete, blocked by another checkpointer, or out of rounds: done.
      if (r.log <= 0 || r.checkpointed >= r.log || r.busy !== 0 || rounds >= data.maxRounds) break;
    }
    // A long WAL that the last round copied up to where it began (no reader pins it): one more
    // round, holding the turn, that starts it over. The writers wait for this round only.
    let turnMs: number | undefined;
    if (turn && r.log >= (data.restartPages ?? 1000) && r.checkpointed >= before && r.busy === 0) {
      turn.take(200, CHECKPOINT_THREAD);
      const t1 = performance.now();
      db.pragma(`busy_timeout = ${RESTART_BUSY_MS}`);
      try {
        r = restart.get() as typeof r;
        rounds++;
      } finally {
        db.pragma('busy_timeout = 0');
        turn.release();
        turnMs = performance.now() - t1;
      }
      // Pages per ms since the last start-over: the next checkpoint before half of walMaxBytes is reached.
      const now = performance.now();
      const rate = r.log / Math.max(1, now - restartedAt);
      restartedAt = now;
      nextDelayMs = data.walMaxBytes ? Math.max(10, Math.min(data.intervalMs, data.walMaxBytes / 2 / pageSize / rate)) : data.intervalMs;
    } else {
      nextDelayMs = data.intervalMs;
    }
    post({
      kind: 'checkpoint', ok: true, busy: r.busy !== 0, log: r.log, checkpointed: r.checkpointed, ms: performance.now() - t0, rounds,
      ...(id === undefined ? {} : { id }), ...(turnMs === undefined ? {} : { turnMs }),
    });
  } catch (err) {
    post({ kind: 'checkpoint', ok: false, error: (err as Error).message, ms: performance.now() - t0, ...(id === undefined ? {} : { id }) });
  }
}

function tick(id?: number): void {
  if (stopping) return;
  run(id);
  timer = setTimeout(tick, nextDelayMs);
}

port.on('message', (m: CheckpointWorkerCommand) => {
  if (m.kind === 'now') {
    if (timer) clearTimeout(timer);
    tick(m.id);
    return;
  }
  stopping = true;
  if (timer) clearTimeout(timer);
  // A last checkpoint: the daemon's own close (which checkpoints what is left) has little to do.
  run();
  db.close();
  post({ kind: 'stopped' });
  port.close();
});

post({ kind: 'ready', pageSize });
timer = setTimeout(tick, data.intervalMs);
