import type { Worker } from 'node:worker_threads';
import type { BanRow, BtnSubmissionStore, HistoryRow, SwarmRow, WriteResult } from '../btn/ports.js';
import { AppError } from '../util/app-error.js';
import { startWorker } from '../util/start-worker.js';
import { SqliteBtnSubmissionRepository } from './btn-submission-repository.js';
import { isPackedSwarm, packSwarm, type PackedSwarm } from '../btn/swarm-pack.js';
import type { Db } from './open-database.js';
import { writeTurnOf, type WriteTurn } from './write-turn.js';

/** A call of the write thread: a BtnSubmissionStore method and its arguments. */
export type WriteCall = { id: number } & (
  | { method: 'putSwarm'; args: [number, string, PackedSwarm, number] }
  | { method: 'putBans'; args: [number, string, readonly BanRow[], number] }
  | { method: 'putHistories'; args: [number, readonly HistoryRow[], number] }
  | { method: 'putHeartbeat'; args: [number, string, string, number] }
  | { method: 'discover'; args: [number, ReadonlyArray<readonly [string, string]>, number] }
  | { method: 'ping'; args: [] }
);

export type WriteReply =
  /** `commit`: on the first answer of a group, the number of calls its commit stored; `txMs` how long its transaction took (BEGIN … COMMIT). */
  | { id: number; ok: true; value: WriteResult | undefined; commit?: number; txMs?: number }
  | { id: number; ok: false; code: string | undefined; name: string; message: string };

export interface WriteThreadData {
  file: string;
  synchronous: 'normal' | 'full';
  busyTimeoutMs: number;
  maxGroupRows: number;
  /** The write turn shared with the daemon's event loop (write-turn.ts). */
  turn?: SharedArrayBuffer;
  /** Test hooks only. */
  faults?: { exitInTransaction?: boolean; holdInTransactionMs?: number };
}

export interface BtnWriteWorkerOptions {
  /** Rows written in one transaction at most when several batches wait (default 4,000). */
  maxGroupRows?: number;
  /** How long the thread's connection waits for the daemon's other writers (ms, default 5,000: it blocks no event loop). */
  busyTimeoutMs?: number;
  /** Test hooks, applied to the first thread started only. */
  faults?: WriteThreadData['faults'];
}

interface Pending {
  resolve: (v: WriteResult | undefined) => void;
  reject: (e: unknown) => void;
}

/**
 * The BTN submission store writing on a worker thread with its own connection to the same SQLite
 * file (WAL: the daemon's readers are never blocked by it). The event loop then only receives,
 * inflates, parses and normalises a batch; the SQL (≈ half of a batch's CPU) and its commit run
 * beside it, on the other core, and batches that arrive while one is written share its commit.
 * A call resolves once its rows are committed. If the thread dies (it is started again for the
 * next call), every call in flight fails with STORAGE_UNAVAILABLE (503): its transaction was rolled
 * back when the thread's connection closed, and a resent batch changes nothing.
 */
export class BtnWriteWorker implements BtnSubmissionStore {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private faults: WriteThreadData['faults'];
  private closed = false;
  private readonly idle: Array<() => void> = [];
  /** Retention deletes on the daemon's own connection (it is not on the ingest path). */
  private readonly local: SqliteBtnSubmissionRepository;
  /** Taken by the thread for each transaction; the capture writer takes it too (writeTurnOf(db)). */
  private readonly turn: WriteTurn;
  private readonly counters = { calls: 0, commits: 0, threadsStarted: 0, threadDeaths: 0, maxTransactionMs: 0, transactionMs: 0 };

  constructor(
    private readonly db: Db,
    private readonly options: BtnWriteWorkerOptions = {},
  ) {
    this.local = new SqliteBtnSubmissionRepository(db);
    this.faults = options.faults;
    this.turn = writeTurnOf(db);
  }

  /** True when `db` is a file a second connection can open (not `:memory:`). */
  static canUse(db: Db): boolean {
    return !db.memory && !db.readonly && db.name !== '' && db.name !== ':memory:';
  }

  putSwarm(app: number, submitId: string, rows: readonly SwarmRow[] | PackedSwarm, now: number): Promise<WriteResult> {
    const packed = isPackedSwarm(rows) ? rows : packSwarm(rows);
    return this.call({ method: 'putSwarm', args: [app, submitId, packed, now] }, [packed.nums.buffer as ArrayBuffer, packed.refs.buffer as ArrayBuffer]) as Promise<WriteResult>;
  }

  putBans(app: number, submitId: string, rows: readonly BanRow[], now: number): Promise<WriteResult> {
    return this.call({ method: 'putBans', args: [app, submitId, rows, now] }) as Promise<WriteResult>;
  }

  putHistories(app: number, rows: readonly HistoryRow[], now: number): Promise<WriteResult> {
    return this.call({ method: 'putHistories', args: [app, rows, now] }) as Promise<WriteResult>;
  }

  async putHeartbeat(app: number, ifaddr: string, externalIp: string, now: number): Promise<void> {
    await this.call({ method: 'putHeartbeat', args: [app, ifaddr, externalIp, now] });
  }

  async discover(app: number, pairs: ReadonlyArray<readonly [string, string]>, now: number): Promise<void> {
    if (pairs.length === 0) return;
    await this.call({ method: 'discover', args: [app, pairs, now] });
  }

  /** Starts the thread now (else the first call does) and waits until it answers. */
  async start(): Promise<void> {
    await this.call({ method: 'ping', args: [] });
  }

  deleteOlderThan(before: number, limit: number): number {
    return this.local.deleteOlderThan(before, limit);
  }

  /** `commits` < `calls` when batches shared a commit; `maxTransactionMs`: the longest transaction (the write lock held), `transactionMs` all of them. */
  status(): { running: boolean; inFlight: number; calls: number; commits: number; threadsStarted: number; threadDeaths: number; maxTransactionMs: number; transactionMs: number } {
    return { running: this.worker !== undefined, inFlight: this.pending.size, ...this.counters };
  }

  /** Waits for the calls in flight, then closes the thread's connection and ends it. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.pending.size > 0) await new Promise<void>((r) => this.idle.push(r));
    const worker = this.worker;
    if (!worker) return;
    const exited = new Promise<void>((r) => worker.once('exit', () => r()));
    worker.postMessage({ method: 'close' });
    const timer = setTimeout(() => void worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }

  private settled(): void {
    if (this.pending.size > 0) return;
    this.worker?.unref();
    for (const r of this.idle.splice(0)) r();
  }

  private call(call: Omit<WriteCall, 'id'>, transfer: ArrayBuffer[] = []): Promise<WriteResult | undefined> {
    if (this.closed) return Promise.reject(new AppError('STORAGE_UNAVAILABLE', 'the BTN store is closed'));
    const id = this.nextId++;
    this.counters.calls++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        const worker = this.thread();
        worker.ref(); // a write in flight keeps the process alive
        worker.postMessage({ ...call, id }, transfer);
      } catch (err) {
        this.pending.delete(id);
        reject(err);
        this.settled();
      }
    });
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const data: WriteThreadData = {
      file: this.db.name,
      synchronous: (this.db.pragma('synchronous', { simple: true }) as number) >= 2 ? 'full' : 'normal',
      busyTimeoutMs: this.options.busyTimeoutMs ?? 5000,
      maxGroupRows: this.options.maxGroupRows ?? 4000,
      turn: this.turn.buffer,
      ...(this.faults ? { faults: this.faults } : {}),
    };
    this.faults = undefined;
    const worker = startWorker(import.meta.url, 'btn-write-thread', { workerData: data });
    this.counters.threadsStarted++;
    let lastError: Error | undefined;
    worker.on('message', (reply: WriteReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.ok && reply.commit !== undefined) this.counters.commits++;
      if (reply.ok && reply.txMs !== undefined) {
        this.counters.maxTransactionMs = Math.max(this.counters.maxTransactionMs, reply.txMs);
        this.counters.transactionMs += reply.txMs;
      }
      if (reply.ok) p.resolve(reply.value);
      else p.reject(Object.assign(new Error(reply.message), { name: reply.name, code: reply.code }));
      this.settled();
    });
    worker.on('error', (err) => {
      lastError = err;
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      this.turn.releaseThread(); // died in its transaction: rolled back, the turn is free
      if (this.closed && this.pending.size === 0) return;
      this.counters.threadDeaths++;
      const why = lastError ? lastError.message : `exit code ${code}`;
      const err = new AppError(
        'STORAGE_UNAVAILABLE',
        `the BTN write thread stopped (${why}): the batch may not have been stored, resending it is safe`,
        lastError ? { cause: lastError } : undefined,
      );
      const inFlight = [...this.pending.values()];
      this.pending.clear();
      for (const p of inFlight) p.reject(err);
      this.settled();
    });
    this.worker = worker;
    return worker;
  }
}
