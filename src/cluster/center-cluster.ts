import type { ResolvedConfig } from '../config/load-config.js';
import type { Logger } from '../util/logger.js';
import { IngestConsumer } from './ingest-consumer.js';
import { resolveNodeId, type ClusterStateStore } from './node-identity.js';
import type { CentralIngestStore } from './ports.js';
import { SharedConfigPublisher, type OverlayEntry } from './shared-config.js';
import { clusterTopology } from './topology.js';
import type { FilterConfig } from '../config/config-schema.js';

export interface CenterClusterDeps {
  state: ClusterStateStore;
  /** The ingest role's writer (null in the api role). */
  ingestStore: CentralIngestStore | null;
  /** The shared configuration as the central store holds it now. */
  readShared: () => { filters: FilterConfig[]; overlay: OverlayEntry[] };
  logger: Logger;
}

export interface CenterCluster {
  readonly nodeId: string;
  readonly consumer: IngestConsumer | null;
  /** The shared configuration changed here (API infohash change, reload): send it now. */
  configChanged(): void;
  status(): Record<string, unknown>;
  start(): void;
  stop(): Promise<void>;
}

/**
 * The center roles' cluster side. ingest: the consumer of the ingest queue (into the central
 * store) and the shared-configuration publisher. api: the publisher only (the API's infohash
 * changes reach the crawlers at once; any api or ingest node sends the same snapshot).
 */
export function createCenterCluster(deps: CenterClusterDeps, config: ResolvedConfig, role: 'ingest' | 'api'): CenterCluster {
  const c = config.cluster;
  const log = deps.logger.child({ component: 'cluster' });
  const nodeId = resolveNodeId(deps.state, c.nodeId);
  const topology = clusterTopology(c.amqp.prefix);
  const link = { url: c.amqp.url, topology, nodeId, connectTimeoutMs: c.amqp.connectTimeoutMs };
  const consumer =
    role === 'ingest' && deps.ingestStore
      ? new IngestConsumer({ store: deps.ingestStore, logger: log.child({ part: 'ingest' }) }, { ...link, ...c.ingest })
      : null;
  const publisher = new SharedConfigPublisher({ read: deps.readShared, logger: log.child({ part: 'shared-config' }) }, { ...link, intervalMs: c.sharedConfig.publishIntervalMs });
  return {
    nodeId,
    consumer,
    configChanged: () => publisher.changed(),
    status: () => ({ role, nodeId, ...(consumer ? { ingest: consumer.stats() } : {}), sharedConfig: publisher.stats() }),
    start() {
      consumer?.start();
      publisher.start();
    },
    async stop() {
      await publisher.stop();
      await consumer?.stop();
    },
  };
}
