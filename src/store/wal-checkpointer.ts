import { EventEmitter } from 'node:events';
import { startWorker } from '../util/start-worker.js';
import type { Logger } from '../util/logger.js';
import type { CheckpointWorkerCommand, CheckpointWorkerData, CheckpointWorkerMessage } from './wal-checkpoint-worker.js';
import { CHECKPOINT_THREAD, WriteTurn } from './write-turn.js';

/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside whichever commit
 * takes the WAL past 1,000 pages, on the thread that commits: in the daemon the event loop, which
 * then waits for pages to be copied and the database file to be synced (measured at 10 M captures:
 * the retention batches that contained one took several times the 10 ms budget; bench/README.md,
 * "Retention"). With `database.checkpoint.worker` (the default) the daemon's connection turns its
 * automatic checkpoint off while a worker thread with its own connection checkpoints (PASSIVE:
 * never takes the write lock, never blocks readers) every `intervalMs`, so the WAL stays as small as
 * what is written in an interval. Should the worker fail to start or die, the daemon's connection
 * checkpoints by itself again (and the worker is started anew after a while); a checkpoint that fails
 * is logged and counted, and the next tick tries again. `stop()` runs a last checkpoint, closes the
 * worker's connection and waits for the thread to end (the daemon's connection closes after it, and,
 * the last one, deletes the WAL).
 *
 * Bounding the WAL. SQLite starts the WAL over (and cuts the file back to `journal_size_limit`,
 * open-database.ts) only at a commit that finds it fully checkpointed; a passive checkpoint on
 * another thread copies what was committed when it began, so under steady commits it is always a
 * little behind (measured: a retention pass of 30 s grew the WAL to 220 MiB). Hence:
 * - background writers that can wait (retention) call `settle()` between their batches: at most once
 *   per interval it asks for a checkpoint now and waits for it (asynchronously: the event loop runs
 *   on), so that checkpoint completes unless another commit (the capture writer) races it;
 * - with the daemon's write turn (`main.writeTurn()`), a checkpoint that finds the WAL 1,000 pages
 *   long or more ends with a round holding the turn (wal-checkpoint-worker.ts: RESTART, so the WAL
 *   starts over even under back-to-back commits such as the BTN write thread's at full ingest), and
 *   the next comes sooner than `intervalMs` when the WAL grew fast enough to reach half of
 *   `walMaxBytes` before then. The write threads' connections follow the daemon's automatic
 *   checkpoint (write-turn.ts), so while the worker runs none of them checkpoints in its commits;
 * - should the WAL still reach `walMaxBytes` without a full checkpoint, the daemon's connection
 *   checkpoints by itself again (SQLite's automatic checkpoint, on the event loop) until the WAL has
 *   started over: the WAL stays bounded whatever the load, at the price of the old behaviour then.
 * A reader that holds an old snapshot (a `db backup` in progress) keeps any checkpoint from passing
 * it: the WAL grows until it ends (as with SQLite's own checkpoints).
 */
export interface WalCheckpointOptions {
  /** false: SQLite's automatic checkpoint on the committing thread (every 1,000 pages). */
  worker: boolean;
  intervalMs: number;
  /** A WAL this long (bytes) without a full checkpoint: the daemon's connection checkpoints itself until it starts over. */
  walMaxBytes: number;
}

export interface WalCheckpointStatus {
  mode: 'worker' | 'auto';
  /** The worker is up (mode worker); false while it is being restarted (the daemon's connection checkpoints then). */
  running: boolean;
  checkpoints: number;
  failures: number;
  lastError: string | null;
  lastCheckpointAt: string | null;
  lastDurationMs: number | null;
  longestDurationMs: number;
  /** Frames (pages) in the WAL at the last checkpoint, and how many of them were not yet copied into the database. */
  walFrames: number;
  walFramesPending: number;
  workerRestarts: number;
  /** Times the WAL reached walMaxBytes and the daemon's connection checkpointed itself; true while it does. */
  fallbacks: number;
  fallbackActive: boolean;
  /** Checkpoints whose last round ran in the write turn (commits raced the others), and the longest such round (ms): how long writers waited for it. */
  turnRounds: number;
  longestTurnMs: number;
}

/** The daemon's own connection: its automatic checkpoint is turned off while the worker runs. */
export interface WalControl {
  /** Also followed by the write threads' connections (write-turn.ts). */
  setAutoCheckpoint(pages: number): void;
  /** The write turn the file's writers share (write-turn.ts): the worker takes it for a checkpoint's last round when commits raced the others. */
  writeTurn?(): SharedArrayBuffer;
}

/** What the checkpointer needs of a worker thread (a fake in tests). */
export interface CheckpointWorkerLike extends EventEmitter {
  postMessage(m: CheckpointWorkerCommand): void;
  terminate(): Promise<number>;
}

/** SQLite's default automatic checkpoint (pages), restored when the worker is not running. */
export const SQLITE_AUTOCHECKPOINT_PAGES = 1000;
const RESTART_DELAY_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

/** The checkpoint worker thread (src/util/start-worker.ts: the .js in dist, the .ts under tsx). */
function spawnWorker(data: CheckpointWorkerData): CheckpointWorkerLike {
  return startWorker(import.meta.url, 'wal-checkpoint-worker', { workerData: data });
}

export class WalCheckpointer {
  private worker: CheckpointWorkerLike | undefined;
  private ready = false;
  private stopping = false;
  private exited: Promise<void> | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly s = {
    checkpoints: 0, failures: 0, lastError: null as string | null, lastCheckpointAt: null as string | null,
    lastDurationMs: null as number | null, longestDurationMs: 0, walFrames: 0, walFramesPending: 0, workerRestarts: 0,
    fallbacks: 0, turnRounds: 0, longestTurnMs: 0,
  };
  private lastFailureLogged = 0;
  private pageSize = 4096;
  private fallbackActive = false;
  /** When settle() last waited for a checkpoint (performance.now()). */
  private lastSettledAt = -Infinity;
  /** Callers of checkpointNow() waiting for the report of the checkpoint they asked for (by id). */
  private waiters = new Map<number, () => void>();
  private nextId = 1;

  constructor(
    private readonly deps: {
      file: string;
      main: WalControl;
      logger: Logger;
      /** Each checkpoint's time (ms) and outcome, for the metrics. */
      onCheckpoint?: (ms: number, ok: boolean) => void;
      spawn?: (data: CheckpointWorkerData) => CheckpointWorkerLike;
    },
    private readonly options: WalCheckpointOptions,
  ) {}

  /** Starts the worker (mode worker); the daemon's connection stops checkpointing once it is ready. */
  start(): void {
    if (!this.options.worker || this.deps.file === ':memory:') return;
    this.stopping = false;
    this.launch();
  }

  private launch(): void {
    this.restartTimer = undefined;
    let worker: CheckpointWorkerLike;
    try {
      const turn = this.deps.main.writeTurn?.();
      worker = (this.deps.spawn ?? spawnWorker)({ file: this.deps.file, intervalMs: this.options.intervalMs, maxRounds: 8, ...(turn ? { turn, walMaxBytes: this.options.walMaxBytes } : {}) });
    } catch (err) {
      this.deps.logger.error({ err }, 'WAL checkpoint worker could not start: SQLite checkpoints on the event loop');
      this.fallBack();
      return;
    }
    this.worker = worker;
    this.ready = false;
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (m: CheckpointWorkerMessage) => this.onMessage(m));
    worker.on('error', (err: Error) => {
      this.deps.logger.error({ err }, 'WAL checkpoint worker failed: SQLite checkpoints on the event loop until it is back');
      this.s.failures++;
      this.s.lastError = err.message;
    });
    worker.once('exit', (code: number) => {
      if (this.worker === worker) this.worker = undefined;
      // Died in its last round: the turn it held is free (another writer's is not touched).
      const turn = this.deps.main.writeTurn?.();
      if (turn) new WriteTurn(turn).releaseThread(CHECKPOINT_THREAD);
      this.ready = false;
      this.releaseWaiters();
      if (this.stopping) return;
      this.deps.logger.warn({ code, restartInMs: RESTART_DELAY_MS }, 'WAL checkpoint worker exited');
      this.fallBack();
      this.s.workerRestarts++;
      this.restartTimer = setTimeout(() => this.launch(), RESTART_DELAY_MS);
      this.restartTimer.unref();
    });
  }

  /** The daemon's connection checkpoints by itself again (SQLite's default). */
  private fallBack(): void {
    try {
      this.deps.main.setAutoCheckpoint(SQLITE_AUTOCHECKPOINT_PAGES);
    } catch {
      // The connection is closed (shutting down): nothing to checkpoint on.
    }
  }

  private onMessage(m: CheckpointWorkerMessage): void {
    if (m.kind === 'ready') {
      this.ready = true;
      this.pageSize = m.pageSize;
      if (!this.stopping) this.deps.main.setAutoCheckpoint(0);
      return;
    }
    if (m.kind !== 'checkpoint') return;
    if (m.id !== undefined) {
      this.waiters.get(m.id)?.();
      this.waiters.delete(m.id);
    }
    const ms = Math.round(m.ms * 10) / 10;
    this.s.lastDurationMs = ms;
    this.s.longestDurationMs = Math.max(this.s.longestDurationMs, ms);
    this.s.lastCheckpointAt = new Date().toISOString();
    this.deps.onCheckpoint?.(m.ms, m.ok);
    if (m.ok) {
      this.s.checkpoints++;
      if (m.turnMs !== undefined) {
        this.s.turnRounds++;
        this.s.longestTurnMs = Math.max(this.s.longestTurnMs, Math.round(m.turnMs * 10) / 10);
      }
      this.s.walFrames = Math.max(0, m.log);
      this.s.walFramesPending = Math.max(0, m.log - m.checkpointed);
      this.bound(m.log, this.s.walFramesPending);
      return;
    }
    this.s.failures++;
    this.s.lastError = m.error;
    // Logged at most once a minute: a failing disk would otherwise log every interval.
    const now = Date.now();
    if (now - this.lastFailureLogged >= 60_000) {
      this.lastFailureLogged = now;
      this.deps.logger.warn({ error: m.error, failures: this.s.failures }, 'WAL checkpoint failed');
    }
  }

  /**
   * The hard bound: a WAL of walMaxBytes that is not fully checkpointed turns the daemon's own
   * automatic checkpoint on (its next commit checkpoints, the one after starts the WAL over); off
   * again once the WAL is back under the bound.
   */
  private bound(frames: number, pending: number): void {
    const over = frames * this.pageSize >= this.options.walMaxBytes;
    if (over && pending > 0 && !this.fallbackActive && !this.stopping) {
      this.fallbackActive = true;
      this.s.fallbacks++;
      this.deps.logger.warn(
        { walBytes: frames * this.pageSize, walMaxBytes: this.options.walMaxBytes, pendingPages: pending },
        'WAL reached database.checkpoint.walMaxBytes without a full checkpoint: the event loop checkpoints until it starts over',
      );
      this.fallBack();
    } else if (!over && this.fallbackActive) {
      this.fallbackActive = false;
      if (this.ready && !this.stopping) this.deps.main.setAutoCheckpoint(0);
    }
  }

  /** A checkpoint now (the timer starts over); resolves after it (at once when the worker is not running). */
  checkpointNow(): Promise<void> {
    if (!this.ready || !this.worker) return Promise.resolve();
    const worker = this.worker;
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiters.set(id, resolve);
      worker.postMessage({ kind: 'now', id });
    });
  }

  /**
   * For background writers between batches (retention): at most once per interval, a checkpoint now,
   * waited for (the event loop runs on), so that it completes and the next commit starts the WAL over.
   */
  async settle(): Promise<void> {
    if (!this.ready || performance.now() - this.lastSettledAt < this.options.intervalMs) return;
    await this.checkpointNow();
    this.lastSettledAt = performance.now();
  }

  status(): WalCheckpointStatus {
    return { mode: this.options.worker ? 'worker' : 'auto', running: this.ready, ...this.s, fallbackActive: this.fallbackActive };
  }

  /** Ends the worker after a last checkpoint (at most 10 s, then it is terminated); the daemon's connection checkpoints by itself again. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const worker = this.worker;
    if (worker) {
      worker.postMessage({ kind: 'stop' });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS)));
      const r = await Promise.race([this.exited, timeout]);
      clearTimeout(timer);
      if (r === 'timeout') {
        this.deps.logger.warn({ timeoutMs: STOP_TIMEOUT_MS }, 'WAL checkpoint worker did not stop: terminated');
        await worker.terminate();
      }
    }
    this.worker = undefined;
    this.ready = false;
    this.fallBack();
    this.releaseWaiters();
  }

  private releaseWaiters(): void {
    const waiters = [...this.waiters.values()];
    this.waiters.clear();
    for (const w of waiters) w();
  }
}
