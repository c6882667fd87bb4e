import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../../util/start-worker.js';
import { DH_KEY_LENGTH, MseKeyPair, PRIVATE_KEY_LENGTH, checkPeerPublic, secretOf } from './mse-crypto.js';

/**
 * The MSE/PE initiator's Diffie-Hellman work (~50 µs per key pair, ~46 µs per secret with the
 * 160-bit exponent: half of an encrypted capture's extra CPU on the event loop) on one worker
 * thread, so it runs on the daemon's second core:
 * - key pairs are made ahead, `batch` per request, and held ready (at most `capacity`); each pair
 *   is handed out once (its bytes in the pool are zeroed as it leaves) and a new batch is asked
 *   for when fewer than half remain;
 * - secrets (S = Yb^Xa mod P) are sent to the thread in one message per turn of the event loop.
 * Bounded, with a fallback that keeps every handshake going: with no pair ready, or more than
 * `maxQueued` secrets waiting for the thread, or the thread not (yet) running, the work is done
 * inline as before; a request the thread has not answered within `timeoutMs`, or a thread that
 * dies, has its work done inline and the thread is replaced; after `maxFailures` failures the pool
 * stays inline (stats().state 'inline', counted in the metrics). The thread is started on first
 * use and unref'd: it never keeps the process alive. On a single-core host (`enabled` false by
 * default there) everything stays inline: the thread would only add its messages to the same CPU.
 *
 * Each pair's private key is zeroed once its secret has been computed by the pool, on the thread
 * or inline (a pair is for one handshake). The thread costs the process more CPU in all
 * (messages, wake-ups: a round trip ~17 µs on the event loop, ~43 µs in all) than it takes off the
 * event loop (~42 µs per secret): worth it while the event loop is what limits the daemon. Tried
 * and measured worse (2026-12-05, same rounds side by side, 2 busy cores): secrets inline while
 * the machine has no idle core: remembered peers 74.4 % of the plain rate against 83.1 % with
 * the thread, first contacts 71.4 % against 70.0 %: the scheduler shares a busy CPU per thread,
 * so the thread's work still comes off the event loop's share.
 */
export interface MseDhPoolOptions {
  /** Key pairs held ready at most (default 128). */
  capacity: number;
  /** Key pairs per request to the thread (default 32). */
  batch: number;
  /** Secrets waiting for the thread at most; beyond, inline (default 256). */
  maxQueued: number;
  /** A request unanswered this long: its work inline, the thread replaced (default 2,000 ms). */
  timeoutMs: number;
  /** Thread failures (deaths, timeouts, errors) after which the pool stays inline (default 5). */
  maxFailures: number;
  /** A thread not ready (its module loaded) this long after its start counts as failed (default 15,000 ms). */
  startTimeoutMs: number;
  /** Use a thread at all (default: with 2 or more CPUs available). */
  enabled: boolean;
  /** Tests: how the thread is started. */
  start: () => Worker;
}

export type DhRequest = { id: number; kind: 'pairs'; n: number } | { id: number; kind: 'secrets'; buf: ArrayBuffer };
export type DhReply = { id: number; buf: ArrayBuffer } | { id: number; error: string } | { ready: true };

export interface MseDhPoolStats {
  /** Key pairs handed out from the thread's batches / made inline. */
  pairsFromThread: number;
  pairsInline: number;
  /** Secrets computed on the thread / inline (pool full, thread down or late). */
  secretsOnThread: number;
  secretsInline: number;
  /** Key pairs ready now; secrets waiting for the thread now. */
  ready: number;
  queued: number;
  /** Thread deaths, errors and timeouts. */
  threadFailures: number;
  state: 'idle' | 'starting' | 'running' | 'inline';
}

const PAIR = PRIVATE_KEY_LENGTH + DH_KEY_LENGTH;

const DEFAULTS: MseDhPoolOptions = {
  capacity: 128,
  batch: 32,
  maxQueued: 256,
  timeoutMs: 2_000,
  maxFailures: 5,
  startTimeoutMs: 15_000,
  enabled: availableParallelism() >= 2,
  start: () => startWorker(import.meta.url, 'mse-dh-thread', { resourceLimits: { maxOldGenerationSizeMb: 32 } }),
};

interface SecretJob {
  privateKey: Buffer;
  peerPublic: Uint8Array;
  resolve: (s: Buffer) => void;
}

interface InFlight {
  timer: NodeJS.Timeout;
  /** The secrets of this request (none for a pairs request). */
  jobs: SecretJob[];
  /** Key pairs asked for (0 for a secrets request). */
  pairs: number;
}

export class MseDhPool {
  private readonly options: MseDhPoolOptions;
  private worker: Worker | undefined;
  private running = false;
  private disabled = false;
  private nextId = 1;
  private readonly inFlight = new Map<number, InFlight>();
  /** Batches from the thread: n × (private, public); `at` is the next pair to hand out. */
  private readonly batches: Array<{ bytes: Uint8Array; at: number }> = [];
  private ready = 0;
  private pairsRequested = 0;
  /** Secrets for the next message to the thread (sent at setImmediate). */
  private outgoing: SecretJob[] = [];
  private flushScheduled = false;
  private queued = 0;
  private readonly counters = { pairsFromThread: 0, pairsInline: 0, secretsOnThread: 0, secretsInline: 0, threadFailures: 0 };

  constructor(options: Partial<MseDhPoolOptions> = {}) {
    this.options = { ...DEFAULTS, ...options };
    this.disabled = !this.options.enabled;
    if (this.options.batch < 1 || this.options.capacity < this.options.batch) throw new RangeError('MseDhPool: need 1 ≤ batch ≤ capacity');
  }

  /** A fresh key pair: from the thread's batches, or made inline when none is ready. */
  keyPair(): MseKeyPair {
    this.ensureThread();
    let pair: MseKeyPair | undefined;
    while (this.batches.length > 0) {
      const b = this.batches[0] as { bytes: Uint8Array; at: number };
      if (b.at >= b.bytes.length) {
        this.batches.shift();
        continue;
      }
      const bytes = b.bytes.subarray(b.at, b.at + PAIR);
      pair = new MseKeyPair(Buffer.from(bytes.subarray(0, PRIVATE_KEY_LENGTH)), Buffer.from(bytes.subarray(PRIVATE_KEY_LENGTH)));
      bytes.fill(0);
      b.at += PAIR;
      this.ready--;
      this.counters.pairsFromThread++;
      break;
    }
    if (pair === undefined) {
      pair = new MseKeyPair();
      this.counters.pairsInline++;
    }
    this.refill();
    return pair;
  }

  /**
   * S for `pair` and the peer's Y: on the thread (answered on a later turn) or inline. Rejects
   * with RangeError on a degenerate Y, as MseKeyPair.secret throws.
   */
  secret(pair: MseKeyPair, peerPublic: Uint8Array): Promise<Buffer> {
    try {
      checkPeerPublic(peerPublic);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (!this.running || this.queued >= this.options.maxQueued) {
      this.ensureThread();
      this.counters.secretsInline++;
      const s = pair.secret(peerPublic);
      pair.privateExponent.fill(0);
      return Promise.resolve(s);
    }
    return new Promise((resolve) => {
      this.outgoing.push({ privateKey: pair.privateExponent, peerPublic, resolve });
      this.queued++;
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  stats(): MseDhPoolStats {
    const state = this.disabled ? 'inline' : this.running ? 'running' : this.worker !== undefined ? 'starting' : 'idle';
    return { ...this.counters, ready: this.ready, queued: this.queued, state };
  }

  /** Ends the thread; secrets still waiting are computed inline (none is left unanswered). */
  async close(): Promise<void> {
    this.disabled = true;
    await this.retire();
  }

  private ensureThread(): void {
    if (this.worker !== undefined || this.disabled) return;
    let worker: Worker;
    try {
      worker = this.options.start();
    } catch {
      // A thread that cannot start: inline (the caller's handshake goes on), as after a death.
      this.counters.threadFailures++;
      this.disabled ||= this.counters.threadFailures >= this.options.maxFailures;
      return;
    }
    this.worker = worker;
    worker.unref();
    const startTimer = setTimeout(() => this.fail(worker), this.options.startTimeoutMs);
    startTimer.unref();
    worker.on('message', (reply: DhReply) => {
      if ('ready' in reply) {
        clearTimeout(startTimer);
        if (this.worker !== worker) return;
        this.running = true;
        this.refill();
        return;
      }
      this.onReply(worker, reply);
    });
    worker.on('error', () => this.fail(worker));
    worker.on('exit', () => this.fail(worker));
  }

  /** Asks for a batch when fewer than half the capacity is ready or asked for. */
  private refill(): void {
    if (!this.running) return;
    const cap = this.options.capacity;
    while (this.ready + this.pairsRequested < cap / 2) {
      const n = Math.min(this.options.batch, cap - this.ready - this.pairsRequested);
      if (n <= 0) return;
      this.pairsRequested += n;
      this.send({ id: this.nextId++, kind: 'pairs', n }, [], n);
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const jobs = this.outgoing;
    this.outgoing = [];
    if (jobs.length === 0) return;
    if (!this.running) {
      for (const j of jobs) this.inline(j);
      return;
    }
    const buf = new Uint8Array(jobs.length * PAIR);
    jobs.forEach((j, i) => {
      buf.set(j.privateKey, i * PAIR);
      buf.set(j.peerPublic, i * PAIR + PRIVATE_KEY_LENGTH);
    });
    this.send({ id: this.nextId++, kind: 'secrets', buf: buf.buffer }, jobs, 0);
  }

  private send(req: DhRequest, jobs: SecretJob[], pairs: number): void {
    const worker = this.worker as Worker;
    const timer = setTimeout(() => {
      if (this.inFlight.has(req.id)) this.fail(worker);
    }, this.options.timeoutMs);
    timer.unref();
    this.inFlight.set(req.id, { timer, jobs, pairs });
    worker.postMessage(req, req.kind === 'secrets' ? [req.buf] : []);
  }

  private onReply(worker: Worker, reply: Exclude<DhReply, { ready: true }>): void {
    if (worker !== this.worker) return;
    const f = this.inFlight.get(reply.id);
    if (f === undefined) return;
    this.inFlight.delete(reply.id);
    clearTimeout(f.timer);
    const pairs = f.pairs;
    this.pairsRequested -= pairs;
    if ('error' in reply) {
      this.counters.threadFailures++;
      for (const j of f.jobs) this.inline(j);
      this.disableIfFailing();
      return;
    }
    const bytes = new Uint8Array(reply.buf);
    if (pairs > 0) {
      this.batches.push({ bytes, at: 0 });
      this.ready += bytes.length / PAIR;
      return;
    }
    f.jobs.forEach((j, i) => {
      this.queued--;
      this.counters.secretsOnThread++;
      j.privateKey.fill(0);
      j.resolve(Buffer.from(bytes.subarray(i * DH_KEY_LENGTH, (i + 1) * DH_KEY_LENGTH)));
    });
    bytes.fill(0);
  }

  /** Work on the thread, done inline: its private key is then used (and zeroed) here. */
  private inline(j: SecretJob): void {
    this.queued--;
    this.counters.secretsInline++;
    const s = secretOf(j.privateKey, j.peerPublic);
    j.privateKey.fill(0);
    j.resolve(s);
  }

  /** The thread died, failed or was late: its pending work inline, the thread replaced on next use. */
  private fail(worker: Worker): void {
    if (worker !== this.worker) return;
    this.counters.threadFailures++;
    void this.retire();
    this.disableIfFailing();
  }

  private disableIfFailing(): void {
    if (this.counters.threadFailures >= this.options.maxFailures && !this.disabled) {
      this.disabled = true;
      void this.retire();
    }
  }

  private async retire(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.running = false;
    this.pairsRequested = 0;
    for (const f of this.inFlight.values()) {
      clearTimeout(f.timer);
      for (const j of f.jobs) this.inline(j);
    }
    this.inFlight.clear();
    const waiting = this.outgoing;
    this.outgoing = [];
    for (const j of waiting) this.inline(j);
    if (worker !== undefined) await worker.terminate().catch(() => undefined);
  }
}

/** The daemon's pool (one thread, started on the first encrypted handshake). */
export const mseDhPool = new MseDhPool();
