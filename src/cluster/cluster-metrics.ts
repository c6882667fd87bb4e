import type { Registry } from 'prom-client';
import { counterFrom, gaugeFrom } from '../ops/metrics.js';
import type { ForwarderStats } from './amqp-forwarder.js';
import type { MeshStats } from './crawler-mesh.js';
import type { IngestStats } from './ingest-consumer.js';

/** The crawler role's metrics: forward backlog and lag, confirms, batch sizes, the mesh's work split. */
export function registerCrawlerMetrics(registry: Registry, s: { forward: () => ForwarderStats; mesh: () => MeshStats }): void {
  gaugeFrom(registry, 'forward_backlog', 'Captures in the forward outbox waiting for the broker\'s confirm', [], () => [[{}, s.forward().backlog]]);
  gaugeFrom(registry, 'forward_lag_seconds', 'Age of the oldest capture not yet confirmed by the broker', [], () => [[{}, s.forward().lagMs / 1000]]);
  gaugeFrom(registry, 'forward_connected', '1 while connected to RabbitMQ', [], () => [[{}, s.forward().connected ? 1 : 0]]);
  gaugeFrom(registry, 'forward_last_batch_size', 'Messages in the last published batch', [], () => [[{}, s.forward().lastBatchSize]]);
  counterFrom(registry, 'forward_published_total', 'Messages published to the ingest queue (retries included)', [], () => [[{}, s.forward().published]]);
  counterFrom(registry, 'forward_confirmed_total', 'Messages confirmed by the broker (their outbox rows deleted)', [], () => [[{}, s.forward().confirmed]]);
  counterFrom(registry, 'forward_failed_total', 'Messages nacked or not confirmed in time (kept, sent again)', [], () => [[{}, s.forward().failed]]);
  gaugeFrom(registry, 'mesh_live_crawlers', 'Crawlers heard from within three heartbeats (self included)', [], () => [[{}, s.mesh().liveCrawlers.length]]);
  counterFrom(registry, 'mesh_peers_total', 'Found peers by what the work split did with them', ['decision'], () => {
    const m = s.mesh();
    return [
      [{ decision: 'owned' }, m.owned],
      [{ decision: 'held' }, m.held],
      [{ decision: 'taken_over' }, m.takenOver],
      [{ decision: 'claimed_elsewhere' }, m.claimedElsewhere],
      [{ decision: 'hold_overflow' }, m.heldOverflow],
    ];
  });
}

/** The ingest role's metrics: consumed, redelivered, duplicates, batch sizes, unacked. */
export function registerIngestMetrics(registry: Registry, stats: () => IngestStats): void {
  counterFrom(registry, 'ingest_consumed_total', 'Messages received from the ingest queue', [], () => [[{}, stats().consumed]]);
  counterFrom(registry, 'ingest_redelivered_total', 'Messages the broker delivered again', [], () => [[{}, stats().redelivered]]);
  counterFrom(registry, 'ingest_inserted_total', 'Captures and sightings stored', [], () => [[{}, stats().inserted]]);
  counterFrom(registry, 'ingest_duplicates_total', 'Items skipped because their uid was stored already', [], () => [[{}, stats().duplicates]]);
  counterFrom(registry, 'ingest_rejected_total', 'Messages rejected to the dead queue (cannot be stored)', [], () => [[{}, stats().rejected]]);
  counterFrom(registry, 'ingest_write_failures_total', 'Store writes that failed (retried)', [], () => [[{}, stats().writeFailures]]);
  gaugeFrom(registry, 'ingest_unacked', 'Messages received and not acknowledged yet', [], () => [[{}, stats().unacked]]);
  gaugeFrom(registry, 'ingest_last_batch_size', 'Messages in the last batch written', [], () => [[{}, stats().lastBatchSize]]);
  gaugeFrom(registry, 'ingest_last_write_seconds', 'Duration of the last batch write', [], () => [[{}, stats().lastWriteMs / 1000]]);
  gaugeFrom(registry, 'ingest_connected', '1 while consuming from RabbitMQ', [], () => [[{}, stats().connected ? 1 : 0]]);
}
