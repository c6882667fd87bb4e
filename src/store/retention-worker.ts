import type { Worker } from 'node:worker_threads';
import type { RetentionStepResult, RetentionSteps, RetentionTarget, RetentionThreadStatus } from '../ops/ports.js';
import type { Logger } from '../util/logger.js';
import { startWorker } from '../util/start-worker.js';
import type { Db } from './open-database.js';
import type { SqliteOpsRepository } from './ops-repository.js';
import type { RetentionStepCall, RetentionThreadData, RetentionThreadMessage } from './retention-thread.js';
import { RETENTION_THREAD, writeTurnOf, type WriteTurn } from './write-turn.js';
import { isRetentionThreadTarget } from './retention-thread-targets.js';
import { withWriteTurn } from '../util/write-turn-port.js';

export interface RetentionWorkerOptions {
  /** false: every step on the event loop (the daemon's connection), as before the thread. */
  thread: boolean;
  /** The WAL bound (database.checkpoint.walMaxBytes): the thread checkpoints until the WAL is under it before its next step. */
  walMaxBytes: number;
  /** The thread (and its connection, with its page cache) ends after this long without a step (ms). */
  idleMs?: number;
  /** After the thread failed or died, the event loop does the steps this long before a new thread is tried (ms). */
  restartDelayMs?: number;
  /** Test hook, given to the first thread started only. */
  exitInStep?: number;
}


interface Pending {
  resolve: (m: Extract<RetentionThreadMessage, { kind: 'step' }>) => void;
  reject: (err: Error) => void;
}

/** A step's message without its id (each member of the union). */
type StepCall = RetentionStepCall extends infer C ? (C extends unknown ? Omit<C, 'id'> : never) : never;

/** The thread died or could not start: the step goes to the event loop instead. */
class ThreadGone extends Error {}

/**
 * Retention's blocking steps on a worker thread with its own connection (retention-thread.ts),
 * started at the first step of a pass and ended after `idleMs` without one (its connection's page
 * cache is not held between passes). The event loop only sends a step and receives its result:
 * a delete of hundreds of captures (10-20 ms at 10 M captures, bench/README.md "Retention") no longer
 * holds the API's requests. A thread that fails to start or dies is logged; its step (rolled back if it
 * died inside it) and the following ones run on the event loop, on the daemon's connection, taking
 * the write turn too, and a new thread is tried `restartDelayMs` later. With `thread: false` every step
 * runs there (the behaviour before the thread).
 */
export class RetentionWorker implements RetentionSteps {
  private worker: Worker | undefined;
  private ready: Promise<Worker> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  /** The thread being ended (idle or close), until it has exited. */
  private ending: Promise<void> | undefined;
  /** Threads asked to close: their exit is no failure. */
  private readonly asked = new WeakSet<Worker>();
  private notBefore = 0;
  private closed = false;
  private exitInStep: number | undefined;
  private readonly turn: WriteTurn;
  private readonly s = { stepsOnThread: 0, stepsOnEventLoop: 0, threadsStarted: 0, threadFailures: 0, lastError: null as string | null, walMaxBytes: 0, checkpointMs: 0, longestCheckpointMs: 0 };

  constructor(
    private readonly deps: { db: Db; local: SqliteOpsRepository; logger: Logger },
    private readonly options: RetentionWorkerOptions,
  ) {
    this.turn = writeTurnOf(deps.db);
    this.exitInStep = options.exitInStep;
  }

  /** True when `db` is a file a second connection can open. */
  static canUse(db: Db): boolean {
    return !db.memory && !db.readonly && db.name !== '' && db.name !== ':memory:';
  }

  deleteOldestCaptures(before: number, limit: number): ReturnType<RetentionSteps['deleteOldestCaptures']> {
    return this.step({ op: 'deleteOldestCaptures', args: [before, limit] }, () => this.deps.local.deleteOldestCaptures(before, limit));
  }

  deleteOldSightings(before: number, limit: number): Promise<RetentionStepResult<number>> {
    return this.step({ op: 'deleteOldSightings', args: [before, limit] }, () => this.deps.local.deleteOldSightings(before, limit));
  }

  deleteOldParkedOutbox(before: number, limit: number): Promise<RetentionStepResult<number>> {
    return this.step({ op: 'deleteOldParkedOutbox', args: [before, limit] }, () => this.deps.local.deleteOldParkedOutbox(before, limit));
  }

  deleteExpiredRollups(now: number, limit: number): Promise<RetentionStepResult<number>> {
    return this.step({ op: 'deleteExpiredRollups', args: [now, limit] }, () => this.deps.local.deleteExpiredRollups(now, limit));
  }

  incrementalVacuum(pages: number): Promise<RetentionStepResult<number>> {
    return this.step({ op: 'incrementalVacuum', args: [pages] }, () => this.deps.local.incrementalVacuum(pages));
  }

  /** On the thread when the target asks for it and the thread knows its table group (retention-thread-targets.ts). */
  deleteTargetOlderThan(target: RetentionTarget, before: number, limit: number): Promise<RetentionStepResult<number>> {
    const local = (): number => target.deleteOlderThan(before, limit);
    if (!target.onThread || !isRetentionThreadTarget(target.name)) return this.onEventLoop(local);
    return this.step({ op: 'deleteTarget', target: target.name, args: [before, limit] }, local);
  }

  status(): RetentionThreadStatus {
    return { mode: this.options.thread && RetentionWorker.canUse(this.deps.db) ? 'thread' : 'event-loop', running: this.worker !== undefined, ...this.s };
  }

  /** Ends the thread (after the step in flight, if any). Steps after close run on the event loop. */
  async close(): Promise<void> {
    this.closed = true;
    await this.endThread();
  }

  private async step<T>(call: StepCall, local: () => T): Promise<RetentionStepResult<T>> {
    const worker = await this.thread();
    if (worker) {
      try {
        const m = await this.send(worker, call);
        if (!m.ok) throw Object.assign(new Error(m.message), { name: m.name, code: m.code });
        this.s.stepsOnThread++;
        this.s.walMaxBytes = Math.max(this.s.walMaxBytes, m.walBytes);
        this.s.checkpointMs += m.checkpointMs;
        this.s.longestCheckpointMs = Math.max(this.s.longestCheckpointMs, Math.round(m.checkpointMs * 10) / 10);
        this.armIdle();
        return { value: m.value as T, ms: m.ms, onThread: true, walBytes: m.walBytes };
      } catch (err) {
        if (!(err instanceof ThreadGone)) throw err;
        // Rolled back if it died inside the step: done again below, on the event loop.
      }
    }
    return this.onEventLoop(local);
  }

  /**
   * The step on the daemon's connection, in the write turn (waited for without blocking: a thread
   * may hold it; after 5 s SQLite's busy timeout decides, and a turn not taken is not released).
   */
  private async onEventLoop<T>(local: () => T): Promise<RetentionStepResult<T>> {
    let ms = 0;
    const { value } = await withWriteTurn(
      this.turn,
      () => {
        const t0 = performance.now();
        const v = local();
        ms = performance.now() - t0;
        return v;
      },
      5_000,
    );
    this.s.stepsOnEventLoop++;
    return { value, ms, onThread: false };
  }

  private send(worker: Worker, call: StepCall): Promise<Extract<RetentionThreadMessage, { kind: 'step' }>> {
    const id = this.nextId++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ ...call, id } as RetentionStepCall);
    });
  }

  /** The running thread, started now if none; undefined when the event loop does the steps. */
  private async thread(): Promise<Worker | undefined> {
    if (!this.options.thread || this.closed || !RetentionWorker.canUse(this.deps.db)) return undefined;
    // A thread ending (idle) is waited for first: a step never goes to a thread that is closing, and
    // its exit (which frees a turn it held) comes before the next thread takes any.
    while (this.ending) await this.ending;
    if (this.ready) return this.ready.catch(() => undefined);
    if (Date.now() < this.notBefore) return undefined;
    this.ready = this.launch();
    return this.ready.catch(() => undefined);
  }

  private launch(): Promise<Worker> {
    const data: RetentionThreadData = {
      file: this.deps.db.name,
      synchronous: (this.deps.db.pragma('synchronous', { simple: true }) as number) >= 2 ? 'full' : 'normal',
      busyTimeoutMs: 5_000,
      walMaxBytes: this.options.walMaxBytes,
      turn: this.turn.buffer,
      ...(this.exitInStep !== undefined ? { exitInStep: this.exitInStep } : {}),
    };
    this.exitInStep = undefined;
    return new Promise<Worker>((resolve, reject) => {
      let worker: Worker;
      try {
        worker = startThread(data);
      } catch (err) {
        this.failed(err as Error);
        reject(err as Error);
        return;
      }
      this.s.threadsStarted++;
      let lastError: Error | undefined;
      let up = false;
      worker.on('message', (m: RetentionThreadMessage) => {
        if (m.kind === 'ready') {
          up = true;
          this.worker = worker;
          if (this.pending.size === 0) worker.unref(); // each step refs it while in flight
          resolve(worker);
          return;
        }
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (this.pending.size === 0) worker.unref();
        p?.resolve(m);
      });
      worker.on('error', (err) => {
        lastError = err;
      });
      worker.once('exit', (code) => {
        if (this.worker === worker) this.worker = undefined;
        this.ready = undefined;
        const inFlight = [...this.pending.values()];
        this.pending.clear();
        const gone = new ThreadGone(lastError?.message ?? `exit code ${code}`);
        for (const p of inFlight) p.reject(gone);
        if (!up) reject(gone);
        if (lastError || inFlight.length > 0 || !up || code !== 0 || !this.asked.has(worker)) {
          this.turn.releaseThread(RETENTION_THREAD); // died, maybe in its transaction: rolled back, the turn is free
          this.failed(gone);
        }
      });
    });
  }

  private failed(err: Error): void {
    this.s.threadFailures++;
    this.s.lastError = err.message;
    const restartDelayMs = this.options.restartDelayMs ?? 10_000;
    this.notBefore = Date.now() + restartDelayMs;
    this.deps.logger.warn({ err, restartInMs: restartDelayMs }, 'retention thread failed: its steps run on the event loop meanwhile');
  }

  private armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.endThread(), this.options.idleMs ?? 30_000);
    this.idleTimer.unref();
  }

  private async endThread(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.ending) return this.ending;
    const ready = this.ready;
    if (!ready) return;
    this.ending = (async () => {
      const worker = await ready.catch(() => undefined);
      if (!worker) return;
      // Steps already sent are answered first (the thread handles its messages in order).
      const exited = new Promise<void>((r) => worker.once('exit', () => r()));
      this.asked.add(worker);
      worker.postMessage({ op: 'close' });
      const timer = setTimeout(() => void worker.terminate(), 5_000);
      await exited;
      clearTimeout(timer);
    })().finally(() => (this.ending = undefined));
    return this.ending;
  }
}

/** The thread: the emitted .js in dist, the .ts from the sources (util/start-worker.ts). */
function startThread(workerData: RetentionThreadData): Worker {
  return startWorker(import.meta.url, 'retention-thread', { workerData });
}
