import type { OpsSources } from '../ops/ports.js';
import type { IngestStats } from './ingest-consumer.js';

type CaptureSource = ReturnType<OpsSources['capture']>;

/**
 * The capture-stage numbers of a center role, for the ops module's metrics and health: the api
 * role captures nothing (zeros); the ingest role's "store" is its ingest writer (written = captures
 * and sightings inserted, batches, failed writes, unacked messages waiting).
 */
export function centerCaptureStats(ingest: IngestStats | null): CaptureSource {
  const failing = ingest !== null && ingest.writeFailures > 0 && ingest.lastError !== null && ingest.unacked > 0;
  return {
    scheduler: { queued: 0, running: 0, started: 0, completed: 0, failed: 0, droppedQueueFull: 0, timedOut: 0 },
    pipeline: {},
    store: {
      pending: ingest?.unacked ?? 0,
      written: ingest?.inserted ?? 0,
      batches: ingest?.batches ?? 0,
      refused: ingest?.rejected ?? 0,
      state: failing ? 'failing' : 'ok',
      consecutiveFailures: 0,
      failures: ingest?.writeFailures ?? 0,
      outages: 0,
      lastError: ingest?.lastError ?? null,
      nextAttemptAt: null,
    },
  };
}
