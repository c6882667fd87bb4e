import type { Worker } from 'node:worker_threads';
import { AppError } from '../util/app-error.js';
import { startWorker } from '../util/start-worker.js';
import { BtnError, type BtnErrorCode } from './btn-error.js';
import type { BodyEncoding, NormalizedSubmission, SubmissionKind } from './submission-decode.js';

/** A body for the decode thread (its bytes transferred, not copied). */
export interface DecodeCall {
  id: number;
  kind: SubmissionKind;
  bytes: ArrayBuffer;
  encoding: BodyEncoding;
  now: number;
  options: { maxBytes: number; chunkRows: number };
}

export type DecodeReply =
  | { id: number; ok: true; value: NormalizedSubmission }
  | { id: number; ok: false; code: string | undefined; name: string; message: string };

export interface DecodePoolOptions {
  /** Threads (default 1: on two cores the event loop and the store's write thread take the rest). */
  threads?: number;
}

interface Slot {
  worker: Worker | undefined;
  inFlight: Map<number, { resolve: (v: NormalizedSubmission) => void; reject: (e: unknown) => void }>;
}

/**
 * Submission bodies inflated, decoded, parsed and normalised on worker threads instead of the event
 * loop: for a 1,000-row submit_swarm batch (650 KiB of JSON) that is ~10 ms of CPU the event loop no
 * longer spends (bench/README.md, "BTN ingest"), so it serves other requests meanwhile and the next
 * batch is decoded while the previous one is written. A call goes to the thread with the fewest calls
 * in flight. Errors of the body (too large, not gzip, not JSON) come back as the same BtnErrors; if a
 * thread dies, its calls fail with STORAGE_UNAVAILABLE (503: nothing was stored, resending is safe)
 * and the next call starts it again. Idle threads never keep the process alive.
 */
export class DecodePool {
  private readonly slots: Slot[];
  private nextId = 1;
  private closed = false;
  private readonly counters = { calls: 0, threadsStarted: 0, threadDeaths: 0 };

  constructor(options: DecodePoolOptions = {}) {
    this.slots = Array.from({ length: Math.max(1, options.threads ?? 1) }, () => ({ worker: undefined, inFlight: new Map() }));
  }

  decode(kind: SubmissionKind, bytes: Uint8Array, encoding: BodyEncoding, now: number, options: DecodeCall['options']): Promise<NormalizedSubmission> {
    if (this.closed) return Promise.reject(new AppError('STORAGE_UNAVAILABLE', 'the BTN decode threads are stopped'));
    // Transferred when the bytes are a whole ArrayBuffer of their own (a read body is), else copied once.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
    const buffer = (own ? bytes.buffer : new Uint8Array(bytes).buffer) as ArrayBuffer; // a copy (Buffer#slice would share)
    const slot = this.slots.reduce((a, b) => (b.inFlight.size < a.inFlight.size ? b : a));
    const id = this.nextId++;
    this.counters.calls++;
    return new Promise((resolve, reject) => {
      slot.inFlight.set(id, { resolve, reject });
      try {
        const worker = this.thread(slot);
        worker.ref(); // a call in flight keeps the process alive
        const call: DecodeCall = { id, kind, bytes: buffer, encoding, now, options };
        worker.postMessage(call, [buffer]);
      } catch (err) {
        slot.inFlight.delete(id);
        reject(err);
        if (slot.inFlight.size === 0) slot.worker?.unref();
      }
    });
  }

  /** Starts the threads now (else the first calls do). */
  start(): void {
    for (const slot of this.slots) this.thread(slot).unref();
  }

  /** Ends the threads; calls in flight fail with STORAGE_UNAVAILABLE. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map(async (s) => s.worker?.terminate()));
  }

  status(): { threads: number; running: number; calls: number; inFlight: number; threadsStarted: number; threadDeaths: number } {
    return {
      threads: this.slots.length,
      running: this.slots.filter((s) => s.worker).length,
      inFlight: this.slots.reduce((n, s) => n + s.inFlight.size, 0),
      ...this.counters,
    };
  }

  private thread(slot: Slot): Worker {
    if (slot.worker) return slot.worker;
    const worker = startWorker(import.meta.url, 'decode-thread');
    this.counters.threadsStarted++;
    let lastError: Error | undefined;
    worker.on('message', (reply: DecodeReply) => {
      const p = slot.inFlight.get(reply.id);
      if (!p) return;
      slot.inFlight.delete(reply.id);
      if (slot.inFlight.size === 0) worker.unref();
      if (reply.ok) p.resolve(reply.value);
      else if (reply.code?.startsWith('BTN_')) p.reject(new BtnError(reply.code as BtnErrorCode, reply.message));
      else p.reject(Object.assign(new Error(reply.message), { name: reply.name, code: reply.code }));
    });
    worker.on('error', (err) => {
      lastError = err;
    });
    worker.on('exit', (code) => {
      if (slot.worker === worker) slot.worker = undefined;
      const inFlight = [...slot.inFlight.values()];
      slot.inFlight.clear();
      if (!this.closed) this.counters.threadDeaths++;
      if (inFlight.length === 0) return;
      const why = lastError ? lastError.message : `exit code ${code}`;
      const err = new AppError('STORAGE_UNAVAILABLE', `the BTN decode thread stopped (${why}): nothing was stored, resending the batch is safe`, lastError ? { cause: lastError } : undefined);
      for (const p of inFlight) p.reject(err);
    });
    slot.worker = worker;
    return worker;
  }
}
