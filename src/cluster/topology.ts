import type { Options } from 'amqplib';

/**
 * The RabbitMQ names of one cluster, all derived from `cluster.amqp.prefix` (so two clusters, or
 * two test runs, on one broker never share anything), and the one place that declares their
 * arguments: a queue declared twice with different arguments is a channel error (406).
 */
export interface ClusterTopology {
  /** Durable quorum queue: crawlers publish captures and sightings, the ingest role consumes. */
  ingestQueue: string;
  /** Where the ingest role rejects messages it can never store (unparseable): kept for an operator. */
  deadQueue: string;
  /** Fanout: shared configuration snapshots (api role → crawlers). */
  configExchange: string;
  /** Fanout: crawler heartbeats (membership) and capture claims (work split). */
  crawlerExchange: string;
}

export function clusterTopology(prefix: string): ClusterTopology {
  return {
    ingestQueue: `${prefix}.ingest`,
    deadQueue: `${prefix}.ingest.dead`,
    configExchange: `${prefix}.config`,
    crawlerExchange: `${prefix}.crawlers`,
  };
}

/** Arguments of the ingest queue: quorum (replicated, durable), rejected messages to the dead queue. */
export function ingestQueueOptions(t: ClusterTopology): Options.AssertQueue {
  return {
    durable: true,
    arguments: { 'x-queue-type': 'quorum', 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': t.deadQueue },
  };
}

export function deadQueueOptions(): Options.AssertQueue {
  return { durable: true, arguments: { 'x-queue-type': 'quorum' } };
}

/** Message types on the ingest queue (AMQP `type` property); the body is the JSON of the item. */
export type IngestMessageType = 'capture' | 'sighting';
