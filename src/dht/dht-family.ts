import type { Logger } from '../util/logger.js';
import type { BudgetedSocketStats } from './budgeted-socket.js';
import { DhtNode, type DhtNodeOptions, type GetPeersResult } from './dht-node.js';
import type { KeyspaceSlice } from './keyspace-slice.js';
import { InfohashSampler, type InfohashSamplerOptions, type SamplerStats } from './infohash-sampler.js';
import type { ResponderStats } from './krpc-responder.js';
import type { NodeHealthStats } from './node-health.js';
import { RoutingTableStore, type DhtNodeStore, type RoutingTableStats, type RoutingTableStoreOptions } from './routing-table-store.js';

/**
 * One address family of the DHT (BEP 32: the IPv4 and the IPv6 DHT are separate networks): its
 * node (UDP socket, routing table, responder), the table's persistence and its BEP 51 sampler,
 * plus per-family lookup figures. dht-module.ts runs one for IPv4 and, when configured, one for IPv6.
 */
export interface FamilyStats {
  family: 4 | 6;
  address: { address: string; port: number };
  nodes: number;
  packetsIn: number;
  packetsOut: number;
  socket: BudgetedSocketStats;
  health: NodeHealthStats;
  responder: ResponderStats;
  samples: SamplerStats;
  table: RoutingTableStats;
  krpcPending: number;
  krpcPendingHighWater: number;
  droppedKrpcPending: number;
  /** get_peers lookups this node ran, nodes that answered them, and peers (values) they gave. */
  lookups: { started: number; responded: number; timedOut: number; peers: number; lastMs: number };
}

export interface FamilyDeps {
  logger: Logger;
  store: DhtNodeStore;
  onInfohash: (infohash: string) => void;
  active: () => boolean;
  /** BEP 51 targets in this share of the key space (cluster work split). */
  slice?: () => KeyspaceSlice | undefined;
}

export class DhtFamily {
  readonly node: DhtNode;
  readonly table: RoutingTableStore;
  readonly sampler: InfohashSampler;
  private readonly lookups = { started: 0, responded: 0, timedOut: 0, peers: 0, lastMs: 0 };

  constructor(deps: FamilyDeps, nodeOptions: DhtNodeOptions, options: { table?: RoutingTableStoreOptions; sampler?: InfohashSamplerOptions }) {
    this.node = new DhtNode({ logger: deps.logger }, nodeOptions);
    this.table = new RoutingTableStore({ store: deps.store, source: () => this.node.routingNodes(), logger: deps.logger }, options.table);
    this.sampler = new InfohashSampler(
      { node: this.node, onInfohash: deps.onInfohash, active: deps.active, ...(deps.slice ? { slice: deps.slice } : {}), logger: deps.logger },
      options.sampler,
    );
  }

  get family(): 4 | 6 {
    return this.node.family;
  }

  /** Binds the socket (rejects when it cannot: the node is stopped again) and restores the saved table. */
  async start(): Promise<void> {
    const restored = this.table.load();
    try {
      await this.node.start(restored, { populate: false });
    } catch (err) {
      await this.node.stop();
      throw err;
    }
    this.table.start();
    this.sampler.start();
  }

  /** A get_peers lookup on this family's DHT, counted. */
  async getPeers(infohash: string, onPeer: Parameters<DhtNode['getPeers']>[1], options: { timeoutMs: number; signal?: AbortSignal }): Promise<GetPeersResult> {
    const started = Date.now();
    this.lookups.started++;
    const result = await this.node.getPeers(infohash, (ip, port, from) => {
      this.lookups.peers++;
      onPeer(ip, port, from);
    }, options);
    this.lookups.responded += result.responded;
    if (result.timedOut) this.lookups.timedOut++;
    this.lookups.lastMs = Date.now() - started;
    return result;
  }

  stats(): FamilyStats {
    const n = this.node.stats();
    return {
      family: this.family,
      address: this.node.address(),
      nodes: n.nodes,
      packetsIn: n.socket.packetsIn,
      packetsOut: n.socket.packetsOut,
      socket: n.socket,
      health: n.health,
      responder: n.responder,
      samples: this.sampler.stats(),
      table: this.table.stats(),
      krpcPending: n.krpcPending,
      krpcPendingHighWater: n.krpcPendingHighWater,
      droppedKrpcPending: n.droppedKrpcPending,
      lookups: { ...this.lookups },
    };
  }

  async stop(): Promise<void> {
    this.sampler.stop();
    this.table.stop();
    await this.node.stop();
  }
}

/** Errors that mean "this host has no usable IPv6" (the IPv6 node is then left off, not fatal). */
export function isNoIpv6Error(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT' || code === 'EPROTONOSUPPORT' || code === 'EINVAL';
}
