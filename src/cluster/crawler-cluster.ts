import type { ResolvedConfig } from '../config/load-config.js';
import type { FilterConfig } from '../config/config-schema.js';
import type { KeyspaceSlice } from '../dht/keyspace-slice.js';
import type { NewCapture } from '../model/capture.js';
import type { DiscoveredPeer } from '../model/peer.js';
import { randomUUID } from 'node:crypto';
import { AppError, errorMessage } from '../util/app-error.js';
import type { Logger } from '../util/logger.js';
import { AmqpForwarder, type ForwardOutboxPort } from './amqp-forwarder.js';
import { CrawlerMesh, type OfferFn } from './crawler-mesh.js';
import { resolveDhtNodeId, resolveNodeId, type ClusterStateStore } from './node-identity.js';
import { SharedConfigSubscriber, type OverlayEntry, type SharedConfigSnapshot } from './shared-config.js';
import type { ForwardedSighting } from './ports.js';
import { clusterTopology } from './topology.js';

const SNAPSHOT_KEY = 'shared-config';

export interface CrawlerClusterDeps {
  state: ClusterStateStore & { transaction<T>(fn: () => T): T };
  outbox: ForwardOutboxPort & {
    rowCountUpperBound(): number;
    /** Adds sighting rows in one transaction (SqliteForwardOutbox.add). */
    add(items: ReadonlyArray<{ kind: 'sighting'; uid: string; body: string }>): void;
  };
  /** Whether a found peer is a sighting to forward (its torrent is watched); absent: none are. */
  sighted?: (peer: DiscoveredPeer) => boolean;
  /** Writes a capture batch and its forward rows in one transaction (SqliteForwardOutbox.captureWriter). */
  writer: (crawlerId: string) => (batch: readonly NewCapture[]) => number[];
  /** Replaces the local copy of the API's infohash changes (SqliteFilterOverlayRepository.replaceAll). */
  replaceOverlay(overlay: readonly OverlayEntry[]): void;
  /** Swaps the filters in use (FilterRegistry.setConfig: recompiles with the local overlay). */
  setFilters(filters: readonly FilterConfig[]): void;
  logger: Logger;
}

export interface CrawlerCluster {
  readonly nodeId: string;
  /** This crawler's own DHT node id, kept across restarts. */
  readonly dhtNodeId: Buffer;
  /** The filters to start with: the last shared copy when there is one, else the config file's. */
  initialFilters(fromConfig: readonly FilterConfig[]): readonly FilterConfig[];
  /** The capture writer: capture + forward row in one transaction; refuses while the backlog is full. */
  insertMany(batch: readonly NewCapture[]): void;
  /** Found peers go through the mesh (work split) before the capture pipeline. */
  offer(peer: DiscoveredPeer, capture: OfferFn): void;
  sampleSlice(): KeyspaceSlice | undefined;
  /** A batch was stored: forward it now. */
  wake(): void;
  status(): Record<string, unknown>;
  forwarder: AmqpForwarder;
  mesh: CrawlerMesh;
  start(): void;
  stop(): Promise<void>;
}

/**
 * The crawler role's cluster side: its identity (node id, DHT id), the forwarder of its outbox to
 * the center, the mesh (membership, key-space slice, capture claims) and the shared configuration
 * it receives (kept in its own database, so it restarts with the last copy when the center is away).
 */
export function createCrawlerCluster(deps: CrawlerClusterDeps, config: ResolvedConfig): CrawlerCluster {
  const c = config.cluster;
  const log = deps.logger.child({ component: 'cluster' });
  const nodeId = resolveNodeId(deps.state, c.nodeId);
  const dhtNodeId = resolveDhtNodeId(deps.state);
  const topology = clusterTopology(c.amqp.prefix);
  const link = { url: c.amqp.url, topology, nodeId, connectTimeoutMs: c.amqp.connectTimeoutMs };
  const forwarder = new AmqpForwarder(
    { outbox: deps.outbox, logger: log.child({ part: 'forward' }) },
    { ...link, crawlerId: nodeId, batchSize: c.forward.batchSize, pollIntervalMs: c.forward.pollIntervalMs, confirmTimeoutMs: c.forward.confirmTimeoutMs },
  );
  const split = c.workSplit;
  const mesh = new CrawlerMesh(
    { logger: log.child({ part: 'mesh' }) },
    {
      ...link, heartbeatIntervalMs: split.heartbeatIntervalMs, claimHoldMs: split.claimHoldMs, partitionHoldMs: split.partitionHoldMs,
      claimTtlMs: config.capture.recaptureIntervalMs,
      maxClaims: split.maxClaims, ...(split.crawlerCount > 0 ? { fixedSlice: { index: split.crawlerIndex, count: split.crawlerCount } } : {}),
    },
  );
  let version = ((): string | undefined => {
    const kept = deps.state.get(SNAPSHOT_KEY);
    return kept === undefined ? undefined : (JSON.parse(kept) as SharedConfigSnapshot).version;
  })();
  const apply = (s: SharedConfigSnapshot): void => {
    deps.state.transaction(() => {
      deps.replaceOverlay(s.overlay);
      deps.state.set(SNAPSHOT_KEY, JSON.stringify(s));
    });
    version = s.version;
    deps.setFilters(s.filters);
  };
  const subscriber = new SharedConfigSubscriber({ current: () => version, apply, logger: log.child({ part: 'shared-config' }) }, link);
  const write = deps.writer(nodeId);
  let backlogFullLogged = false;

  // Sightings: buffered, written to the outbox every SIGHTING_FLUSH_MS (one transaction), forwarded
  // like captures. A crash loses at most that buffer; past half the backlog bound they are dropped.
  const SIGHTING_FLUSH_MS = 250;
  const sightingCounters = { sightings: 0, sightingsDropped: 0, sightingsBuffered: 0 };
  let sightingBuffer: ForwardedSighting[] = [];
  let sightingTimer: NodeJS.Timeout | undefined;
  const flushSightings = (): void => {
    sightingTimer = undefined;
    const batch = sightingBuffer;
    sightingBuffer = [];
    sightingCounters.sightingsBuffered = 0;
    if (batch.length === 0) return;
    if (deps.outbox.rowCountUpperBound() >= c.forward.maxBacklogRows / 2) {
      sightingCounters.sightingsDropped += batch.length;
      return;
    }
    try {
      deps.outbox.add(batch.map((s) => ({ kind: 'sighting' as const, uid: s.uid, body: JSON.stringify(s) })));
      sightingCounters.sightings += batch.length;
      forwarder.wake();
    } catch (err) {
      sightingCounters.sightingsDropped += batch.length;
      log.warn({ err: errorMessage(err), sightings: batch.length }, 'sightings could not be written to the forward outbox: dropped');
    }
  };
  const sight = (peer: DiscoveredPeer): void => {
    if (!c.forward.sightings || !deps.sighted?.(peer)) return;
    sightingBuffer.push({ uid: randomUUID(), crawlerId: nodeId, ip: peer.ip, port: peer.port, infohash: peer.infohash, seenAt: peer.foundAt });
    sightingCounters.sightingsBuffered = sightingBuffer.length;
    if (sightingBuffer.length >= 5_000) flushSightings();
    else sightingTimer ??= setTimeout(flushSightings, SIGHTING_FLUSH_MS);
  };

  return {
    nodeId,
    dhtNodeId,
    forwarder,
    mesh,
    initialFilters(fromConfig) {
      const kept = deps.state.get(SNAPSHOT_KEY);
      if (kept === undefined) return fromConfig;
      const s = JSON.parse(kept) as SharedConfigSnapshot;
      log.info({ version: s.version.slice(0, 12), filters: s.filters.length, receivedAt: new Date(s.at).toISOString() }, 'starting with the last shared configuration');
      return s.filters;
    },
    insertMany(batch) {
      // The bound of the forward backlog: beyond it the batch writer keeps the batch and retries
      // (capture intake pauses, counted as store-paused) until the center confirms enough.
      if (deps.outbox.rowCountUpperBound() >= c.forward.maxBacklogRows) {
        if (!backlogFullLogged) log.warn({ maxBacklogRows: c.forward.maxBacklogRows }, 'forward backlog full: captures pause until the center confirms');
        backlogFullLogged = true;
        throw new AppError('FORWARD_BACKLOG_FULL', `forward backlog reached cluster.forward.maxBacklogRows (${c.forward.maxBacklogRows})`);
      }
      backlogFullLogged = false;
      write(batch);
    },
    offer: (peer, capture) => {
      sight(peer);
      mesh.offer(peer, capture);
    },
    sampleSlice: () => mesh.slice(),
    wake: () => forwarder.wake(),
    status: () => ({
      role: 'crawler', nodeId, dhtNodeId: dhtNodeId.toString('hex'), forward: { ...forwarder.stats(), ...sightingCounters }, mesh: mesh.stats(), sharedConfig: subscriber.stats(),
    }),
    start() {
      forwarder.start();
      mesh.start();
      subscriber.start();
    },
    async stop() {
      clearTimeout(sightingTimer);
      flushSightings();
      await subscriber.stop();
      await mesh.stop();
      await forwarder.stop();
    },
  };
}
