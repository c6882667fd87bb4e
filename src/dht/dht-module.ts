import type { Config } from '../config/config-schema.js';
import type { DiscoveredPeer, PeerSource } from '../model/peer.js';
import type { Logger } from '../util/logger.js';
import type { BudgetedSocketStats } from './budgeted-socket.js';
import { DhtFamily, isNoIpv6Error, type FamilyStats } from './dht-family.js';
import { DhtNode, type DhtNodeOptions } from './dht-node.js';
import type { InfohashSamplerOptions, SamplerStats } from './infohash-sampler.js';
import type { KeyspaceSlice } from './keyspace-slice.js';
import type { ResponderStats } from './krpc-responder.js';
import type { NodeHealthOptions, NodeHealthStats } from './node-health.js';
import { LookupScheduler, type LookupSchedulerOptions, type LookupStats } from './lookup-scheduler.js';
import { PeerDedupe } from './peer-dedupe.js';
import type { DhtNodeStore, RoutingTableStats, RoutingTableStoreOptions } from './routing-table-store.js';

/**
 * The DHT as the composition root sees it: the IPv4 node and, with `dht.ipv6.enabled`, an IPv6 node
 * beside it (BEP 32: its own socket and routing table, persisted apart; the two ask each other's
 * family with `want` and answer it from both tables), the lookup scheduler for watched infohashes
 * (each lookup runs on both families), the announce harvest, BEP 51 sampling on both (while some
 * filter watches all torrents) and routing-table persistence. Every peer found goes to `onPeer` once
 * per de-duplication window, IPv6 peers included.
 *
 *   const dht = createDht(
 *     { logger, nodes: dhtNodeRepository, nodes6: dhtNode6Repository, onPeer: (p) => capture.offer(p),
 *       allowDestination, watched: () => filters.compiled.watchedInfohashes(), watchAll: () => filters.compiled.watchesAllTorrents },
 *     config.dht,
 *   );
 *   await dht.start(); // binds the IPv4 socket (fails: fatal; no IPv6 on the host: the IPv6 node stays off)
 */
export type DhtConfig = Config['dht'];

export interface DhtDeps {
  logger: Logger;
  /** The IPv4 routing table's store. */
  nodes: DhtNodeStore;
  /** The IPv6 routing table's store (default: not persisted). */
  nodes6?: DhtNodeStore;
  onPeer: (peer: DiscoveredPeer) => void;
  /** Infohashes some filter watches (lowercase hex); re-read every couple of seconds. */
  watched: () => Iterable<string>;
  /** True when some filter watches every torrent: BEP 51 sampling runs only then. */
  watchAll: () => boolean;
  /** Guard on every query destination (the daemon's address policy; tests: loopback only). */
  allowDestination: (ip: string, port: number) => boolean;
  /** Subscribes to infohashes that become watched (looked up at once); returns the unsubscribe. */
  newlyWatched?: (listener: (infohash: string) => void) => () => void;
  /** Our IPv4 DHT node id (20 bytes), kept by the caller across restarts; default: a random one per start. */
  nodeId?: Uint8Array;
  /** BEP 51 sampling targets lie in this share of the key space (cluster work split). */
  sampleSlice?: () => KeyspaceSlice | undefined;
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

export type DhtOptions = Omit<DhtConfig, 'ipv6'> & { ipv6?: Partial<DhtConfig['ipv6']>; tuning?: DhtTuning };

/** The IPv6 node: configured or not, running or why not, and its figures. */
export interface DhtIpv6Stats {
  enabled: boolean;
  running: boolean;
  /** Why it is not running although enabled (e.g. "EADDRNOTAVAIL: no IPv6 on this host"). */
  error: string | null;
  node: FamilyStats | null;
}

export interface DhtStats {
  enabled: boolean;
  /** The IPv4 node's figures (nodes … table); the IPv6 node's are under `ipv6`. */
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
  /** Per-family lookup figures of the IPv4 node (the IPv6 node's are in ipv6.node.lookups). */
  ipv4Lookups: FamilyStats['lookups'] | null;
  ipv6: DhtIpv6Stats;
  peersFound: Record<PeerSource, number>;
  /** Peers passed on, by the peer's address family. */
  peersFoundByFamily: { ipv4: number; ipv6: number };
  peersDuplicate: number;
  onPeerErrors: number;
}

export interface DhtService {
  /** Binds the sockets and starts lookups, sampling and table persistence; rejects when the IPv4 one cannot bind. */
  start(): Promise<void>;
  /** IPv4 routing-table nodes. */
  nodeCount(): number;
  wantNow(infohash: string): void;
  stats(): DhtStats;
  /** Bound address of the IPv4 node (null when disabled). */
  address(): { address: string; port: number } | null;
  /** Bound address of the IPv6 node (null when off). */
  address6(): { address: string; port: number } | null;
  stop(): Promise<void>;
}

export function emptyDhtStats(enabled: boolean, ipv6: DhtIpv6Stats = { enabled: false, running: false, error: null, node: null }): DhtStats {
  return {
    enabled, nodes: 0, packetsIn: 0, packetsOut: 0, socket: null, krpcPending: 0, krpcPendingHighWater: 0,
    droppedKrpcPending: 0, health: null, responder: null, lookups: null, samples: null, table: null, ipv4Lookups: null, ipv6,
    peersFound: { get_peers: 0, announce: 0, sample: 0, manual: 0 }, peersFoundByFamily: { ipv4: 0, ipv6: 0 }, peersDuplicate: 0, onPeerErrors: 0,
  };
}

/** "[::1]:6881" or "host:6881" → host and port (brackets dropped). */
function splitHostPort(b: string): { host: string; port: number } {
  const i = b.lastIndexOf(':');
  const host = b.slice(0, i);
  return { host: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host, port: Number(b.slice(i + 1)) };
}

const NO_STORE: DhtNodeStore = { load: () => [], save: () => {} };

export function createDht(deps: DhtDeps, options: DhtOptions): DhtService {
  const log = deps.logger.child({ component: 'dht' });
  const ipv6Enabled = options.enabled && options.ipv6?.enabled === true;
  const ipv6State: { running: boolean; error: string | null } = { running: false, error: null };
  const ipv6Stats = (family?: DhtFamily): DhtIpv6Stats => ({ enabled: ipv6Enabled, running: family !== undefined, error: ipv6State.error, node: family?.stats() ?? null });
  if (!options.enabled) {
    return { start: async () => {}, nodeCount: () => 0, wantNow: () => {}, stats: () => emptyDhtStats(false, ipv6Stats()), address: () => null, address6: () => null, stop: async () => {} };
  }
  const tuning = options.tuning ?? {};
  const allowDestination = deps.allowDestination;
  const counters = { found: { get_peers: 0, announce: 0, sample: 0, manual: 0 } as Record<PeerSource, number>, byFamily: { ipv4: 0, ipv6: 0 }, duplicate: 0, onPeerErrors: 0 };
  const dedupe = new PeerDedupe(tuning.dedupeWindowMs);
  const emit = (p: DiscoveredPeer): void => {
    if (!dedupe.isNew(p.ip, p.port, p.infohash, p.foundAt)) {
      counters.duplicate++;
      return;
    }
    counters.found[p.source]++;
    counters.byFamily[p.ip.includes(':') ? 'ipv6' : 'ipv4']++;
    try {
      deps.onPeer(p);
    } catch (err) {
      counters.onPeerErrors++;
      log.warn({ err, infoHash: p.infohash }, 'onPeer failed');
    }
  };

  // Built by start() (the nodes bind sockets and start timers).
  let running: { v4: DhtFamily; v6: DhtFamily | undefined; lookups: LookupScheduler; unsubscribe: () => void } | undefined;
  let stopped = false;
  let lookupsRef: LookupScheduler | undefined;

  const family = (f: 4 | 6, host: string, port: number, bootstrap: string[], store: DhtNodeStore): DhtFamily => {
    for (const b of bootstrap) {
      const { host: h, port: p } = splitHostPort(b);
      if (/^[\d.]+$|:/.test(h) && !allowDestination(h, p)) {
        log.warn({ bootstrap: b }, 'bootstrap node refused by the address policy (see capture.allowedPrivateRanges)');
      }
    }
    const nodeOptions: DhtNodeOptions = {
      family: f,
      host,
      port,
      bootstrap: bootstrap.map((b) => {
        const { host: h, port: p } = splitHostPort(b);
        return `${h}:${p}`;
      }),
      maxPacketsPerSecond: options.maxPacketsPerSecond,
      minQueryIntervalPerIpMs: options.minQueryIntervalPerIpMs,
      maxPendingQueries: options.maxPendingQueries,
      concurrency: tuning.concurrency,
      queryTimeoutMs: tuning.queryTimeoutMs,
      maxQueueWaitMs: tuning.maxQueueWaitMs,
      sampleIntervalSec: tuning.sampleIntervalSec,
      allowDestination,
      ...(f === 4 && deps.nodeId ? { nodeId: deps.nodeId } : {}),
      ...(tuning.health ? { health: tuning.health } : {}),
    };
    const fam = new DhtFamily(
      {
        logger: deps.logger, store, onInfohash: (ih) => lookupsRef?.enqueueSampled(ih), active: () => options.sampleInfohashes && deps.watchAll(),
        ...(deps.sampleSlice ? { slice: deps.sampleSlice } : {}),
      },
      nodeOptions,
      { ...(tuning.table ? { table: tuning.table } : {}), ...(tuning.sampler ? { sampler: tuning.sampler } : {}) },
    );
    fam.node.on('peer', emit);
    return fam;
  };

  const start = async (): Promise<void> => {
    if (running || stopped) return;
    const v4 = family(4, options.host, options.port, options.bootstrap, deps.nodes);
    await v4.start(); // cannot bind: fatal for the daemon
    let v6: DhtFamily | undefined;
    if (ipv6Enabled) {
      const o = options.ipv6 ?? {};
      const candidate = family(6, o.host ?? '::', o.port ?? options.port, o.bootstrap ?? [], deps.nodes6 ?? NO_STORE);
      try {
        await candidate.start();
        v6 = candidate;
        DhtNode.pair(v4.node, v6.node);
      } catch (err) {
        if (!isNoIpv6Error(err)) {
          await v4.stop();
          throw err; // a taken port or a refused bind is a configuration error, as for IPv4
        }
        const code = (err as { code?: string }).code ?? 'error';
        ipv6State.error = `${code}: no usable IPv6 on this host for ${o.host ?? '::'}`;
        log.warn({ err, host: o.host ?? '::' }, 'IPv6 DHT node not started (no usable IPv6 on this host); running on IPv4 only');
      }
    }
    // The find_node walks towards our own id (fill the buckets near us, so others find us) run once
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
      v6?.node.populate();
      v4.node.populate(() => {
        for (const ih of cold) lookups.wantNow(ih);
        cold.clear();
      });
    };
    const populateTimer = setTimeout(populate, tuning.populateAfterMs ?? 10_000);
    populateTimer.unref();
    const families = v6 ? [v4, v6] : [v4];
    const lookups = new LookupScheduler(
      {
        // One lookup on each family's DHT at once; the scheduler sees them as one.
        getPeers: async (ih, onPeer, o) => {
          if (!populated && families.every((f) => f.node.nodeCount() === 0)) cold.add(ih);
          try {
            const results = await Promise.all(families.map((f) => f.getPeers(ih, onPeer, o)));
            return { responded: results.reduce((n, r) => n + r.responded, 0), timedOut: results.some((r) => r.timedOut) };
          } finally {
            populate();
          }
        },
        watched: deps.watched,
        onPeer: emit,
        logger: deps.logger,
      },
      { intervalMs: options.lookupIntervalMs, ...tuning.lookup },
    );
    lookupsRef = lookups;
    lookups.start();
    if (lookups.stats().running === 0) populate(); // nothing watched
    const unsubscribe = deps.newlyWatched?.((ih) => lookups.wantNow(ih)) ?? (() => {});
    running = { v4, v6, lookups, unsubscribe };
  };

  return {
    start,
    nodeCount: () => running?.v4.node.nodeCount() ?? 0,
    wantNow: (ih) => running?.lookups.wantNow(ih),
    address: () => running?.v4.node.address() ?? null,
    address6: () => running?.v6?.node.address() ?? null,
    stats: () => {
      if (!running) return emptyDhtStats(true, ipv6Stats());
      const { v4, v6, lookups } = running;
      const n = v4.stats();
      return {
        enabled: true,
        nodes: n.nodes,
        packetsIn: n.packetsIn,
        packetsOut: n.packetsOut,
        socket: n.socket,
        krpcPending: n.krpcPending,
        krpcPendingHighWater: n.krpcPendingHighWater,
        droppedKrpcPending: n.droppedKrpcPending,
        health: n.health,
        responder: n.responder,
        lookups: lookups.stats(),
        samples: n.samples,
        table: n.table,
        ipv4Lookups: n.lookups,
        ipv6: ipv6Stats(v6),
        peersFound: { ...counters.found },
        peersFoundByFamily: { ...counters.byFamily },
        peersDuplicate: counters.duplicate,
        onPeerErrors: counters.onPeerErrors,
      };
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (!running) return;
      const { v4, v6, lookups, unsubscribe } = running;
      unsubscribe();
      lookups.stop();
      await Promise.all([v4.stop(), v6?.stop()]);
    },
  };
}
