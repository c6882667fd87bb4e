import type { Worker } from 'node:worker_threads';
import { startWorker } from '../util/start-worker.js';
import { AppError } from '../util/app-error.js';
import { parseInfoDictionary, parseTorrentFile, type TorrentFileEntry, type TorrentMetadata } from './metainfo.js';

/**
 * Metainfo parsing off the event loop. A .torrent upload or a BEP 9 info dictionary larger than
 * `thresholdBytes` (default 256 KiB) is parsed and validated on a worker thread (one by default:
 * the daemon's other work needs the other core), so a valid 100,000-file torrent (~5 MB, ~0.5 s of
 * parsing on a loaded machine) never blocks the DHT or the API; smaller ones, the everyday case,
 * are parsed inline (a few ms). The worker's answer carries the files as the JSON the store keeps:
 * `files` is parsed on first use only. Bounded: at most `maxQueued` documents wait (more: 429
 * RATE_LIMITED), each has `timeoutMs` (the worker is then replaced), and the worker's heap is
 * capped. Workers are unref'd: an idle pool never keeps the process alive.
 *
 *   const meta = await parseTorrentFileOffLoop(bytes);   // AppError INVALID_TORRENT as parseTorrentFile
 */
export interface WorkerJob {
  id: number;
  kind: 'torrent' | 'info';
  bytes: ArrayBuffer;
}

export type WorkerReply =
  | { id: number; ok: true; meta: Omit<TorrentMetadata, 'files' | 'info' | 'filesJson'> & { filesJson: string; info: ArrayBuffer } }
  | { id: number; ok: false; code: string | undefined; message: string };

export interface MetainfoPoolOptions {
  size: number;
  thresholdBytes: number;
  maxQueued: number;
  timeoutMs: number;
  /** Heap cap of a worker (MiB). */
  maxOldGenerationMb: number;
}

export interface MetainfoPoolStats {
  inline: number;
  offloaded: number;
  queued: number;
  running: number;
  refused: number;
  timeouts: number;
  workerErrors: number;
}

const DEFAULTS: MetainfoPoolOptions = { size: 1, thresholdBytes: 256 * 1024, maxQueued: 8, timeoutMs: 30_000, maxOldGenerationMb: 512 };

interface Pending {
  job: WorkerJob;
  resolve: (m: TorrentMetadata) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  current: (Pending & { timer: NodeJS.Timeout }) | undefined;
}

/** A worker running metainfo-worker, with its old-generation heap capped. */
function startMetainfoWorker(maxOldGenerationSizeMb: number): Worker {
  return startWorker(import.meta.url, 'metainfo-worker', { resourceLimits: { maxOldGenerationSizeMb } });
}

/** `files` parsed from the store's JSON on first use. */
function withLazyFiles(meta: Omit<TorrentMetadata, 'files'> & { filesJson: string }): TorrentMetadata {
  let files: TorrentFileEntry[] | undefined;
  return Object.defineProperty(meta, 'files', {
    enumerable: true,
    get: () => (files ??= JSON.parse(meta.filesJson) as TorrentFileEntry[]),
  }) as TorrentMetadata;
}

export class MetainfoPool {
  private readonly options: MetainfoPoolOptions;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private readonly counters = { inline: 0, offloaded: 0, refused: 0, timeouts: 0, workerErrors: 0 };

  constructor(options: Partial<MetainfoPoolOptions> = {}) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** True when a document of `bytes` goes to the worker (else `parse` checks it inline). */
  offloads(bytes: number): boolean {
    return bytes >= this.options.thresholdBytes;
  }

  parse(kind: 'torrent' | 'info', bytes: Uint8Array): Promise<TorrentMetadata> {
    if (!this.offloads(bytes.length)) {
      this.counters.inline++;
      try {
        return Promise.resolve(kind === 'torrent' ? parseTorrentFile(bytes) : parseInfoDictionary(bytes));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    if (this.queue.length >= this.options.maxQueued) {
      this.counters.refused++;
      return Promise.reject(new AppError('RATE_LIMITED', 'too many large torrents are being checked at once: try again in a few seconds'));
    }
    this.counters.offloaded++;
    const copy = new Uint8Array(bytes.length);
    copy.set(bytes);
    return new Promise((resolve, reject) => {
      this.queue.push({ job: { id: this.nextId++, kind, bytes: copy.buffer }, resolve, reject });
      this.pump();
    });
  }

  stats(): MetainfoPoolStats {
    return { ...this.counters, queued: this.queue.length, running: this.slots.filter((s) => s.current).length };
  }

  /** Terminates the workers; jobs waiting or running are rejected. */
  async close(): Promise<void> {
    const err = new Error('metainfo pool closed');
    for (const p of this.queue.splice(0)) p.reject(err);
    await Promise.all(this.slots.splice(0).map((s) => this.retire(s, err)));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.current === undefined);
      if (!slot) {
        if (this.slots.length >= this.options.size) return;
        slot = this.spawn();
      }
      const p = this.queue.shift() as Pending;
      const s = slot;
      const timer = setTimeout(() => {
        this.counters.timeouts++;
        void this.retire(s, new Error(`metainfo check took longer than ${this.options.timeoutMs} ms`));
        this.pump();
      }, this.options.timeoutMs);
      timer.unref();
      s.current = { ...p, timer };
      s.worker.ref();
      s.worker.postMessage(p.job, [p.job.bytes]);
    }
  }

  private spawn(): Slot {
    const worker = startMetainfoWorker(this.options.maxOldGenerationMb);
    worker.unref();
    const slot: Slot = { worker, current: undefined };
    worker.on('message', (reply: WorkerReply) => {
      const cur = slot.current;
      if (!cur || cur.job.id !== reply.id) return;
      clearTimeout(cur.timer);
      slot.current = undefined;
      worker.unref();
      if (reply.ok) {
        const { filesJson, info, ...rest } = reply.meta;
        cur.resolve(withLazyFiles({ ...rest, filesJson, info: Buffer.from(info) }));
      } else {
        cur.reject(reply.code !== undefined ? new AppError(reply.code, reply.message) : new Error(reply.message));
      }
      this.pump();
    });
    const onGone = (err: unknown): void => {
      this.counters.workerErrors++;
      void this.retire(slot, err instanceof Error ? err : new Error(`metainfo worker exited (${String(err)})`));
      this.pump();
    };
    worker.on('error', onGone);
    worker.on('exit', (code) => {
      if (this.slots.includes(slot)) onGone(new Error(`metainfo worker exited with code ${code}`));
    });
    this.slots.push(slot);
    return slot;
  }

  private async retire(slot: Slot, err: Error): Promise<void> {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    const cur = slot.current;
    slot.current = undefined;
    if (cur) {
      clearTimeout(cur.timer);
      cur.reject(err);
    }
    await slot.worker.terminate().catch(() => undefined);
  }
}

/** The daemon's pool (one worker, created on the first large document). */
export const metainfoPool = new MetainfoPool();

export const parseTorrentFileOffLoop = (file: Uint8Array): Promise<TorrentMetadata> => metainfoPool.parse('torrent', file);
export const parseInfoDictionaryOffLoop = (info: Uint8Array): Promise<TorrentMetadata> => metainfoPool.parse('info', info);
