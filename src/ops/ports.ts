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
  probeWrite(waitMs?: number): void;
  oldestCaptureAt(): number | undefined;
  deleteOldestCaptures(before: number, limit: number): CaptureBatchResult;
  deleteOldSightings(before: number, limit: number): number;
  deleteOldParkedOutbox(before: number, limit: number): number;
  incrementalVacuum(pages: number): number;
  /** SQLite's automatic checkpoint every `pages` WAL pages (0: off, the checkpoint worker runs). */
  setAutoCheckpoint(pages: number): void;
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
}
