import type { Config } from '../config/config-schema.js';
import type { DiscoveredPeer, PeerSource } from '../model/peer.js';
import type { Logger } from '../util/logger.js';
import type { BudgetedSocketStats } from './budgeted-socket.js';
import { DhtNode } from './dht-node.js';
import { InfohashSampler, type InfohashSamplerOptions, type SamplerStats } from './infohash-sampler.js';
import type { ResponderStats } from './krpc-responder.js';
import type { NodeHealthOptions, NodeHealthStats } from './node-health.js';
import { LookupScheduler, type LookupSchedulerOptions, type LookupStats } from './lookup-scheduler.js';
import { PeerDedupe } from './peer-dedupe.js';
import { RoutingTableStore, type DhtNodeStore, type RoutingTableStats, type RoutingTableStoreOptions } from './routing-table-store.js';

/**
 * The DHT as the composition root sees it: one node, the lookup scheduler for watched infohashes,
 * the announce harvest, BEP 51 sampling (while some filter watches all torrents) and routing-table
 * persistence. Every peer found goes to `onPeer` once per de-duplication window.
 *
 *   const dht = createDht(
 *     { logger, nodes: dhtNodeRepository, onPeer: (p) => capture.offer(p), allowDestination,
 *       watched: () => filters.compiled.watchedInfohashes(), watchAll: () => filters.compiled.watchesAllTorrents },
 *     config.dht,
 *   );
 *   await dht.start(); // binds the socket (fails: fatal); later dht.wantNow(infohash); at shutdown await dht.stop()
 */
export type DhtConfig = Config['dht'];

export interface DhtDeps {
  logger: Logger;
  nodes: DhtNodeStore;
  onPeer: (peer: DiscoveredPeer) => void;
  /** Infohashes some filter watches (lowercase hex); re-read every couple of seconds. */
  watched: () => Iterable<string>;
  /** True when some filter watches every torrent: BEP 51 sampling runs only then. */
  watchAll: () => boolean;
  /** Guard on every query destination (the daemon's address policy; tests: loopback only). */
  allowDestination: (ip: string, port: number) => boolean;
  /** Subscribes to infohashes that become watched (looked up at once); returns the unsubscribe. */
  newlyWatched?: (listener: (infohash: string) => void) => () => void;
}

/** Knobs below the config file, each with a default; tests shorten them. */
export interface DhtTuning {
  /** k-rpc in-flight queries (default 64). */
  concurrency?: number;
  queryTimeoutMs?: number;
  maxQueueWaitMs?: number;
  /** BEP 51 interval we answer with (default 600 s). */
  sampleIntervalSec?: number;
  lookup?: Partial<LookupSchedulerOptions>;
  sampler?: InfohashSamplerOptions;
  table?: RoutingTableStoreOptions;
  /** De-duplication window of found peers (default 10 min). */
  dedupeWindowMs?: number;
  /** The find_node walk at start waits for the first lookup, at most this long (default 10 s). */
  populateAfterMs?: number;
  /** When a node that does not answer goes bad (BEP 5), and for how long. */
  health?: NodeHealthOptions;
}

export type DhtOptions = DhtConfig & { tuning?: DhtTuning };

export interface DhtStats {
  enabled: boolean;
  nodes: number;
  packetsIn: number;
  packetsOut: number;
  socket: BudgetedSocketStats | null;
  krpcPending: number;
  krpcPendingHighWater: number;
  droppedKrpcPending: number;
  /** BEP 5 node health: nodes gone bad (no answer to several queries in a row), queries not sent to them. */
  health: NodeHealthStats | null;
  responder: ResponderStats | null;
  lookups: LookupStats | null;
  samples: SamplerStats | null;
  table: RoutingTableStats | null;
  peersFound: Record<PeerSource, number>;
  peersDuplicate: number;
  onPeerErrors: number;
}

export interface DhtService {
  /** Binds the socket and starts lookups, sampling and table persistence; rejects when it cannot bind. */
  start(): Promise<void>;
  nodeCount(): number;
  wantNow(infohash: string): void;
  stats(): DhtStats;
  /** Bound address (null when disabled). */
  address(): { address: string; port: number } | null;
  stop(): Promise<void>;
}

function emptyStats(enabled: boolean): DhtStats {
  return {
    enabled, nodes: 0, packetsIn: 0, packetsOut: 0, socket: null, krpcPending: 0, krpcPendingHighWater: 0,
    droppedKrpcPending: 0, health: null, responder: null, lookups: null, samples: null, table: null,
    peersFound: { get_peers: 0, announce: 0, sample: 0, manual: 0 }, peersDuplicate: 0, onPeerErrors: 0,
  };
}

export function createDht(deps: DhtDeps, options: DhtOptions): DhtService {
  const log = deps.logger.child({ component: 'dht' });
  if (!options.enabled) {
    return { start: async () => {}, nodeCount: () => 0, wantNow: () => {}, stats: () => emptyStats(false), address: () => null, stop: async () => {} };
  }
  const tuning = options.tuning ?? {};
  const allowDestination = deps.allowDestination;
  const counters = { found: { get_peers: 0, announce: 0, sample: 0, manual: 0 } as Record<PeerSource, number>, duplicate: 0, onPeerErrors: 0 };
  const dedupe = new PeerDedupe(tuning.dedupeWindowMs);
  const emit = (p: DiscoveredPeer): void => {
    if (!dedupe.isNew(p.ip, p.port, p.infohash, p.foundAt)) {
      counters.duplicate++;
      return;
    }
    counters.found[p.source]++;
    try {
      deps.onPeer(p);
    } catch (err) {
      counters.onPeerErrors++;
      log.warn({ err, infoHash: p.infohash }, 'onPeer failed');
    }
  };

  // Built by start() (the node binds a socket and starts timers).
  let running: { node: DhtNode; table: RoutingTableStore; lookups: LookupScheduler; sampler: InfohashSampler; unsubscribe: () => void } | undefined;
  let stopped = false;

  const start = async (): Promise<void> => {
    if (running || stopped) return;
    for (const b of options.bootstrap) {
      const i = b.lastIndexOf(':');
      const host = b.slice(0, i);
      if (/^[\d.]+$/.test(host) && !allowDestination(host, Number(b.slice(i + 1)))) {
        log.warn({ bootstrap: b }, 'bootstrap node refused by the address policy (see capture.allowedPrivateRanges)');
      }
    }
    const node = new DhtNode(
      { logger: deps.logger },
      {
        host: options.host,
        port: options.port,
        bootstrap: options.bootstrap,
        maxPacketsPerSecond: options.maxPacketsPerSecond,
        minQueryIntervalPerIpMs: options.minQueryIntervalPerIpMs,
        maxPendingQueries: options.maxPendingQueries,
        concurrency: tuning.concurrency,
        queryTimeoutMs: tuning.queryTimeoutMs,
        maxQueueWaitMs: tuning.maxQueueWaitMs,
        sampleIntervalSec: tuning.sampleIntervalSec,
        allowDestination,
        ...(tuning.health ? { health: tuning.health } : {}),
      },
    );
    const table = new RoutingTableStore({ store: deps.nodes, source: () => node.routingNodes(), logger: deps.logger }, tuning.table);
    const restored = table.load();
    node.on('peer', emit);
    try {
      // No find_node walk yet: the first lookups of watched infohashes bootstrap the table (below).
      await node.start(restored, { populate: false });
    } catch (err) {
      await node.stop();
      throw err; // cannot bind: fatal for the daemon
    }
    table.start();
    // The find_node walk towards our own id (fills the buckets near us, so others find us) runs once
    // the first lookup has finished, or at once when nothing is watched: a get_peers is the first
    // query each node gets, so with the per-IP interval the first lookup is not delayed by it.
    // Lookups that started on an empty table went only as far as the bootstrap nodes' replies led
    // (a node that has peers may answer without nodes): they run again once the table is filled.
    let populated = false;
    const cold = new Set<string>();
    const populate = (): void => {
      if (populated || stopped) return;
      populated = true;
      clearTimeout(populateTimer);
      node.populate(() => {
        for (const ih of cold) lookups.wantNow(ih);
        cold.clear();
      });
    };
    const populateTimer = setTimeout(populate, tuning.populateAfterMs ?? 10_000);
    populateTimer.unref();
    const lookups = new LookupScheduler(
      {
        getPeers: (ih, onPeer, o) => {
          if (!populated && node.nodeCount() === 0) cold.add(ih);
          return node.getPeers(ih, onPeer, o).finally(populate);
        },
        watched: deps.watched,
        onPeer: emit,
        logger: deps.logger,
      },
      { intervalMs: options.lookupIntervalMs, ...tuning.lookup },
    );
    const sampler = new InfohashSampler(
      {
        node,
        onInfohash: (ih) => lookups.enqueueSampled(ih),
        active: () => options.sampleInfohashes && deps.watchAll(),
        logger: deps.logger,
      },
      tuning.sampler,
    );
    lookups.start();
    if (lookups.stats().running === 0) populate(); // nothing watched
    sampler.start();
    const unsubscribe = deps.newlyWatched?.((ih) => lookups.wantNow(ih)) ?? (() => {});
    running = { node, table, lookups, sampler, unsubscribe };
  };

  return {
    start,
    nodeCount: () => running?.node.nodeCount() ?? 0,
    wantNow: (ih) => running?.lookups.wantNow(ih),
    address: () => running?.node.address() ?? null,
    stats: () => {
      if (!running) return emptyStats(true);
      const { node, lookups, sampler, table } = running;
      const n = node.stats();
      return {
        enabled: true,
        nodes: n.nodes,
        packetsIn: n.socket.packetsIn,
        packetsOut: n.socket.packetsOut,
        socket: n.socket,
        krpcPending: n.krpcPending,
        krpcPendingHighWater: n.krpcPendingHighWater,
        droppedKrpcPending: n.droppedKrpcPending,
        health: n.health,
        responder: n.responder,
        lookups: lookups.stats(),
        samples: sampler.stats(),
        table: table.stats(),
        peersFound: { ...counters.found },
        peersDuplicate: counters.duplicate,
        onPeerErrors: counters.onPeerErrors,
      };
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (!running) return;
      const { node, lookups, sampler, table, unsubscribe } = running;
      unsubscribe();
      lookups.stop();
      sampler.stop();
      table.stop();
      await node.stop();
    },
  };
}
