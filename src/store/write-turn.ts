import type { TorrentMetadata } from '../protocol/metainfo.js';
import { inWriteTurn } from '../util/write-turn-port.js';
import type { OverlayChange, SqliteFilterOverlayRepository } from './filter-overlay-repository.js';
import type { Db } from './open-database.js';
import type { SqliteTorrentRepository, TorrentInfo } from './torrent-repository.js';

const FREE = 0;
/** Holders: the event loop, and each writing thread by its own number (so that one dying frees only its own turn). */
const MAIN = 2;
/** The BTN write thread. */
export const BTN_THREAD = 1;
/** The retention thread (store/retention-thread.ts). */
export const RETENTION_THREAD = 3;
/** The WAL checkpoint worker (store/wal-checkpoint-worker.ts), for the last round of a checkpoint. */
export const CHECKPOINT_THREAD = 4;
/**
 * Int32 slots of the shared buffer: who holds the turn, whether the event loop waits for it, and
 * the automatic checkpoint the writers' connections should use (pages + 1; 0: not said, SQLite's default).
 */
const HOLDER = 0;
const WANTED = 1;
const AUTOCHECKPOINT = 2;

type WaitAsync = (a: Int32Array, index: number, value: number, timeoutMs?: number) => { async: false; value: string } | { async: true; value: Promise<string> };

/**
 * Whose turn it is to write: the daemon's event loop (the capture writer, on the daemon's
 * connection) or a write thread with its own connection to the same file (the BTN write thread,
 * the retention thread; each takes it by its own number). Both would otherwise
 * meet in SQLite's write lock, where the event loop may wait only database.busyTimeoutMs (50 ms, so
 * it never blocks long): a thread transaction longer than that (a group of batches, or any batch
 * on a loaded machine) failed the capture writer with "database locked", and it backed off ≥ 1 s
 * with its intake paused. With the turn, the event loop never waits: it takes the turn when it is
 * free (a compare-and-swap) and otherwise is told when the thread lets go (Atomics.waitAsync); the
 * thread waits (Atomics.wait, on its own thread) while the event loop writes, and lets a waiting
 * event loop go first before its next transaction. Other processes still meet it in SQLite's lock.
 */
export class WriteTurn {
  private readonly a: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(12)) {
    this.a = new Int32Array(buffer);
  }

  /**
   * The daemon's connection: SQLite's automatic checkpoint (pages; 0 while the checkpoint worker
   * runs) that the write threads' connections follow too (autoCheckpointChanged), so no writer runs
   * checkpoints (copies and syncs) inside its commits while the worker does it for the whole file.
   */
  setAutoCheckpoint(pages: number): void {
    Atomics.store(this.a, AUTOCHECKPOINT, Math.max(0, Math.trunc(pages)) + 1);
  }

  /**
   * A write thread, before its transaction: the automatic checkpoint its connection should now use
   * when it differs from `current` (what it set last), else undefined. Undefined too when the
   * daemon's connection said nothing (SQLite's default stays).
   */
  autoCheckpointChanged(current: number | undefined): number | undefined {
    const v = Atomics.load(this.a, AUTOCHECKPOINT);
    return v === 0 || v - 1 === current ? undefined : v - 1;
  }

  /** Event loop: takes the turn if it is free (never waits). False: the thread writes now; see whenFree(). */
  tryTake(): boolean {
    if (Atomics.compareExchange(this.a, HOLDER, FREE, MAIN) === FREE) {
      Atomics.store(this.a, WANTED, 0);
      Atomics.notify(this.a, WANTED);
      return true;
    }
    Atomics.store(this.a, WANTED, 1);
    return false;
  }

  /** Event loop: resolves when the thread holding the turn lets go of it (or after `timeoutMs`). */
  whenFree(timeoutMs: number): Promise<void> {
    const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
    if (!waitAsync) return new Promise((r) => setTimeout(r, Math.min(timeoutMs, 10)));
    // Whichever thread holds it: waits until that value changes (one thread letting go to another
    // resolves too, and the caller's next tryTake() asks again).
    const holder = Atomics.load(this.a, HOLDER);
    if (holder === FREE || holder === MAIN) return Promise.resolve();
    const w = waitAsync(this.a, HOLDER, holder, timeoutMs);
    return w.async ? w.value.then(() => undefined) : Promise.resolve();
  }

  /**
   * Write thread: waits for the turn (blocking this thread only). If the event loop waits for it,
   * it goes first (at most `yieldMs`: an event loop that asked and then wrote nothing does not stall
   * the thread for good).
   */
  take(yieldMs = 200, who: number = BTN_THREAD): void {
    if (Atomics.load(this.a, WANTED) === 1 && Atomics.wait(this.a, WANTED, 1, yieldMs) === 'timed-out') Atomics.store(this.a, WANTED, 0);
    for (;;) {
      const holder = Atomics.compareExchange(this.a, HOLDER, FREE, who);
      if (holder === FREE) return;
      Atomics.wait(this.a, HOLDER, holder, 100);
    }
  }

  /** Either side: lets go of the turn. */
  release(): void {
    Atomics.store(this.a, HOLDER, FREE);
    Atomics.notify(this.a, HOLDER);
  }

  /** The thread `who` died (its transaction rolled back): a turn it held is free (another's is not touched). */
  releaseThread(who: number = BTN_THREAD): void {
    if (Atomics.compareExchange(this.a, HOLDER, who, FREE) === who) Atomics.notify(this.a, HOLDER);
  }
}

const turns = new WeakMap<Db, WriteTurn>();

/** The write turn of the daemon's connection `db`, shared by its writers and the write threads. */
export function writeTurnOf(db: Db): WriteTurn {
  let t = turns.get(db);
  if (!t) {
    t = new WriteTurn();
    turns.set(db, t);
  }
  return t;
}

/**
 * The torrent catalog and the filter overlay as the API writes them: their writes in the write turn
 * of `db` (inWriteTurn), so an API change waits for the BTN write thread's transaction instead of
 * meeting it in SQLite's lock (busy timeout 50 ms: a 503). Reads as before.
 */
export function apiWritesInTurn(
  db: Db,
  stores: { torrents: SqliteTorrentRepository; overlay: SqliteFilterOverlayRepository },
): {
  torrents: { get(infohash: string): TorrentInfo; addPending(infohash: string, source: string): Promise<boolean>; putMetadata(meta: TorrentMetadata, source: string): Promise<void> };
  overlay: { list(): OverlayChange[]; record(filter: string, infohash: string, op: 'add' | 'delete'): Promise<void> };
} {
  const turn = writeTurnOf(db);
  const { torrents, overlay } = stores;
  return {
    torrents: {
      get: (infohash) => torrents.get(infohash),
      addPending: inWriteTurn(turn, (infohash: string, source: string) => torrents.addPending(infohash, source)),
      putMetadata: inWriteTurn(turn, (meta: TorrentMetadata, source: string) => torrents.putMetadata(meta, source)),
    },
    overlay: {
      list: () => overlay.list(),
      record: inWriteTurn(turn, (filter: string, infohash: string, op: 'add' | 'delete') => overlay.record(filter, infohash, op)),
    },
  };
}
