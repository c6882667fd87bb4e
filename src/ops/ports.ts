import type { CaptureStats } from '../capture/capture-module.js';
import type { DhtStats } from '../dht/dht-module.js';
import type { NotifyStatus } from '../notify/types.js';
import type { CaptureBatchResult, DbSpace } from '../store/ops-repository.js';

/**
 * What the ops module reads from the running daemon: the stats every stage already keeps. Each is
 * called on demand (a scrape, a health check, `status`), never on a hot path.
 */
export interface OpsSources {
  dht(): DhtStats;
  /** Scheduler, pipeline and batched-writer counters (CaptureModule.stats()). */
  capture(): Pick<CaptureStats, 'scheduler' | 'pipeline' | 'store'> & Partial<Pick<CaptureStats, 'outcomes' | 'peerValueTrust' | 'memory'>>;
  notify(): NotifyStatus;
}

/** What the ops module needs from the store (SqliteOpsRepository). */
export interface OpsStore {
  space(): DbSpace;
  /** Throws when the database cannot take a write now; may return what was checked (the /readyz detail, default "writable"). */
  probeWrite(waitMs?: number): string | void;
  oldestCaptureAt(): number | undefined;
  deleteOldestCaptures(before: number, limit: number): CaptureBatchResult;
  deleteOldSightings(before: number, limit: number): number;
  deleteOldParkedOutbox(before: number, limit: number): number;
  /** The dashboard's rollup rows past what it shows (8 days before `now`), at most `limit`. */
  deleteExpiredRollups(now: number, limit: number): number;
  incrementalVacuum(pages: number): number;
  /** SQLite's automatic checkpoint every `pages` WAL pages (0: off, the checkpoint worker runs); the write threads' connections follow it. */
  setAutoCheckpoint(pages: number): void;
  /** SQLite: the write turn the file's writers share, which the checkpoint worker takes for a checkpoint's last round. */
  writeTurn?(): SharedArrayBuffer;
}

/**
 * A table another module owns (BTN submissions, spam reports) that retention should age out: the
 * module registers it with `ops.retention.register(…)`. `deleteOlderThan` deletes at most `limit`
 * rows older than `before` (epoch ms) in one short transaction and returns how many it deleted.
 */
export interface RetentionTarget {
  /** Key under retention.maxAgeDays (e.g. "btnSubmissions", "spamReports"). */
  name: string;
  deleteOlderThan(before: number, limit: number): number;
  /**
   * The retention thread may delete these rows on its own connection instead (SQLite stores: it
   * knows the table group by `name`, store/retention-thread-targets.ts); `deleteOlderThan` is then
   * its fallback on the event loop.
   */
  onThread?: boolean;
}

/** One of retention's blocking steps, done: its result, how long its transaction took (ms) and where it ran. */
export interface RetentionStepResult<T> {
  value: T;
  ms: number;
  /** On the retention thread (true) or on the event loop (the fallback). */
  onThread: boolean;
  /** On the thread: the WAL's length (bytes) after the step and the checkpoint that followed it. */
  walBytes?: number;
}

/**
 * Retention's blocking steps (each one short write transaction) where they run: on the retention
 * thread with its own connection (store/retention-worker.ts), or on the event loop when the thread is
 * off or down. Each resolves once its transaction committed.
 */
export interface RetentionSteps {
  deleteOldestCaptures(before: number, limit: number): Promise<RetentionStepResult<CaptureBatchResult>>;
  deleteOldSightings(before: number, limit: number): Promise<RetentionStepResult<number>>;
  deleteOldParkedOutbox(before: number, limit: number): Promise<RetentionStepResult<number>>;
  deleteExpiredRollups(now: number, limit: number): Promise<RetentionStepResult<number>>;
  incrementalVacuum(pages: number): Promise<RetentionStepResult<number>>;
  /** Another module's table (RetentionTarget): on the thread when it knows it, else `target.deleteOlderThan` on the event loop. */
  deleteTargetOlderThan(target: RetentionTarget, before: number, limit: number): Promise<RetentionStepResult<number>>;
}

/** Where retention's steps ran since start (store/retention-worker.ts). */
export interface RetentionThreadStatus {
  mode: 'thread' | 'event-loop';
  running: boolean;
  stepsOnThread: number;
  stepsOnEventLoop: number;
  threadsStarted: number;
  threadFailures: number;
  lastError: string | null;
  /** The WAL's length after the thread's steps and checkpoints: the largest since start (bytes). */
  walMaxBytes: number;
  /** The thread's checkpoints after its steps: their time in all and the longest (ms). */
  checkpointMs: number;
  longestCheckpointMs: number;
}
