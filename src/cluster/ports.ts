import type { NewCapture } from '../model/capture.js';

/**
 * Ports of the cluster roles (crawler → RabbitMQ → ingest → central store → api).
 *
 * A crawler stores each capture locally (SQLite, with a `forward_outbox` row in the same
 * transaction) and forwards it to the center over a durable quorum queue; the `ingest` role writes
 * what it consumes through `CentralIngestStore`. Delivery is at-least-once (a message is acked only
 * after the store committed it, and a crawler deletes its outbox row only after the broker's
 * confirm), so the store must be idempotent: every forwarded item carries a stable `uid`, assigned
 * once when the crawler stored it, and an item whose uid the store already holds is skipped.
 *
 * Implementations: SqliteCentralIngestStore (src/store/central-ingest-repository.ts) and the
 * PostgreSQL store (src/store/pg/).
 */

/** The capture as a crawler stored it, without its local id and notification rows. */
export type ForwardedCaptureData = Omit<NewCapture, 'notify'>;

/** One capture on its way from a crawler to the central store. */
export interface ForwardedCapture {
  /**
   * Stable id: a UUID (crypto.randomUUID) assigned when the crawler stored the capture and kept in
   * its outbox row, so every redelivery of the same capture carries the same uid. Unique across
   * crawlers and restarts (a crawler's local capture ids are not: they restart at 1 on a new file).
   */
  uid: string;
  /** Which crawler captured it (cluster.nodeId of that crawler). */
  crawlerId: string;
  capture: ForwardedCaptureData;
}

/** One sighting (a peer of a watched torrent found in the DHT) on its way to the central `peers` table. */
export interface ForwardedSighting {
  /** Stable id, as for captures. */
  uid: string;
  crawlerId: string;
  ip: string;
  port: number;
  infohash: string;
  /** When the crawler saw it (epoch ms). */
  seenAt: number;
}

export interface IngestResult {
  /** Items stored by this call. */
  inserted: number;
  /** Items skipped because their uid was already stored (redeliveries, or repeated within the batch). */
  duplicates: number;
}

/**
 * What the ingest role writes through. Each call commits its whole batch in one transaction or
 * throws having committed nothing; it is idempotent on `uid` (calling it twice with the same batch
 * stores nothing the second time and reports every item as a duplicate). A sighting's upsert keeps
 * the earliest first_seen and the latest last_seen of (ip, port, infohash), so its redelivery
 * changes nothing either.
 */
export interface CentralIngestStore {
  ingestCaptures(batch: readonly ForwardedCapture[]): Promise<IngestResult>;
  ingestSightings(batch: readonly ForwardedSighting[]): Promise<IngestResult>;
}
