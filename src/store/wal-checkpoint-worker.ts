import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/**
 * The WAL checkpointer's thread (started by WalCheckpointer): its own connection to the database
 * runs `PRAGMA wal_checkpoint(PASSIVE)` every `intervalMs`. A passive checkpoint copies committed
 * pages from the WAL into the database file and syncs it without taking the write lock, so the
 * daemon's connection (autocheckpoint off) neither waits for it nor pays for it on the event loop.
 * When commits came in while it copied, it goes again at once (each round has less to copy) until
 * the WAL is fully checkpointed: only then can the next commit start the WAL over from its beginning.
 */
export interface CheckpointWorkerData {
  file: string;
  intervalMs: number;
  /** Rounds in a row at most while commits keep coming in (then the next tick). */
  maxRounds: number;
}

/** Worker → parent. `log`: frames in the WAL; `checkpointed`: frames of it copied into the database. */
export type CheckpointWorkerMessage =
  | { kind: 'ready'; pageSize: number }
  | { kind: 'checkpoint'; ok: true; busy: boolean; log: number; checkpointed: number; ms: number; rounds: number; id?: number }
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
    for (;;) {
      r = checkpoint.get() as typeof r;
      rounds++;
      // log = -1: not in WAL mode (nothing to do). Complete, blocked by another checkpointer, or out of rounds: done.
      if (r.log <= 0 || r.checkpointed >= r.log || r.busy !== 0 || rounds >= data.maxRounds) break;
    }
    post({ kind: 'checkpoint', ok: true, busy: r.busy !== 0, log: r.log, checkpointed: r.checkpointed, ms: performance.now() - t0, rounds, ...(id === undefined ? {} : { id }) });
  } catch (err) {
    post({ kind: 'checkpoint', ok: false, error: (err as Error).message, ms: performance.now() - t0, ...(id === undefined ? {} : { id }) });
  }
}

function tick(id?: number): void {
  if (stopping) return;
  run(id);
  timer = setTimeout(tick, data.intervalMs);
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

post({ kind: 'ready', pageSize: db.pragma('page_size', { simple: true }) as number });
timer = setTimeout(tick, data.intervalMs);
