import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import DHT, { type DhtContact, type KrpcMessage, type KrpcPeer } from 'bittorrent-dht';
import type { DiscoveredPeer } from '../model/peer.js';
import { decodeCompactPeers } from '../protocol/compact.js';
import type { Logger } from '../util/logger.js';
import { BudgetedSocket, type BudgetedSocketStats } from './budgeted-socket.js';
import { KrpcClient } from './krpc-client.js';
import { KrpcResponder, type AnnounceHarvest, type ResponderStats } from './krpc-responder.js';
import type { NodeHealthOptions, NodeHealthStats } from './node-health.js';

/**
 * One DHT node, in layers that each take the one below as an option:
 * - transport: `BudgetedSocket` (global packets/s, per-IP query interval, bounded queue, O(1)
 *   transaction matching);
 * - KRPC: our `KrpcClient` (routing table, bounded pending queue, iterative lookups, BEP 5 node
 *   health: a node that never answers goes bad and is not queried again), handed to bittorrent-dht
 *   through its own seam (`opts.krpc`), which keeps its routing-table upkeep (ping-and-swap of full
 *   buckets, bucket refresh); nothing reaches into the library's private fields;
 * - responder: `KrpcResponder` answers incoming queries (BEP 51, BEP 5 errors, bounded get_peers
 *   values, announce harvest with the announced port); bittorrent-dht's query handler never runs.
 * Emits 'peer' (DiscoveredPeer, source 'announce') for every valid announce_peer received.
 * BEP 32: a node is of one family (`family`: its UDP socket and routing table); an IPv4 and an IPv6
 * node linked with `pair()` ask each other's family with `want`, hand each other the nodes of its
 * family found in replies, and answer `want` from both tables.
 */
export interface DhtNodeOptions {
  host: string;
  port: number;
  /** 'host:port' strings; [] for none. Never the library's public default routers. */
  bootstrap: string[];
  maxPacketsPerSecond: number;
  minQueryIntervalPerIpMs: number;
  maxPendingQueries: number;
  /** Queries in flight (k-rpc `concurrency`; the library default is 16). Default 64. */
  concurrency?: number;
  queryTimeoutMs?: number;
  maxQueueWaitMs?: number;
  /** Our node id (default random). */
  nodeId?: Uint8Array;
  /** BEP 51 interval we announce, seconds (default 600). */
  sampleIntervalSec?: number;
  /** Guard on every query destination (address policy); tests pass loopback-only. */
  allowDestination?: (ip: string, port: number) => boolean;
  /** When a node that does not answer goes bad (BEP 5), and for how long. */
  health?: NodeHealthOptions;
  /** 4 (default) or 6: the socket's and the routing table's address family. */
  family?: 4 | 6;
}

export interface DhtNodeStats {
  socket: BudgetedSocketStats;
  responder: ResponderStats;
  krpcPending: number;
  krpcPendingHighWater: number;
  droppedKrpcPending: number;
  health: NodeHealthStats;
  nodes: number;
}

export interface RoutingNode {
  host: string;
  port: number;
  id: Buffer;
  lastSeen: number;
}

export interface GetPeersResult {
  /** Nodes that answered. */
  responded: number;
  timedOut: boolean;
}

const NODE_ID_LENGTH = 20;

function parseHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

export class DhtNode extends EventEmitter {
  readonly socket: BudgetedSocket;
  readonly dht: DHT;
  readonly rpc: KrpcClient;
  readonly responder: KrpcResponder;
  readonly family: 4 | 6;
  private readonly log: Logger;
  private stopped = false;
  private sibling: DhtNode | undefined;

  constructor(deps: { logger: Logger }, readonly options: DhtNodeOptions) {
    super();
    this.family = options.family ?? 4;
    this.log = deps.logger.child({ component: this.family === 4 ? 'dht' : 'dht6' });
    this.socket = new BudgetedSocket({
      maxPacketsPerSecond: options.maxPacketsPerSecond,
      minQueryIntervalPerIpMs: options.minQueryIntervalPerIpMs,
      maxPendingQueries: options.maxPendingQueries,
      queryTimeoutMs: options.queryTimeoutMs,
      maxQueueWaitMs: options.maxQueueWaitMs,
      allowDestination: options.allowDestination,
      family: this.family,
    });
    this.rpc = new KrpcClient(this.socket, {
      id: Buffer.from(options.nodeId ?? randomBytes(NODE_ID_LENGTH)),
      // Always an explicit list: never the library's public routers.
      bootstrap: options.bootstrap.map(parseHostPort),
      concurrency: options.concurrency ?? 64,
      maxPendingQueries: options.maxPendingQueries,
      ...(options.health ? { health: options.health } : {}),
      onQuery: (query, peer) => this.responder.handle(query, peer),
      family: this.family,
      wantOtherFamily: () => this.sibling !== undefined && !this.sibling.stopped,
      otherFamilyNodes: (nodes) => this.sibling?.addNodes(nodes),
    });
    this.responder = new KrpcResponder(this.rpc, (a) => this.onAnnounce(a), {
      sampleIntervalSec: options.sampleIntervalSec,
      family: this.family,
      sibling: () => {
        const other = this.sibling;
        if (!other || other.stopped) return undefined;
        return { closest: (target, k) => other.rpc.nodes.closest(target, k), values: (ih, max) => other.responder.peers.get(ih, max) };
      },
    });
    this.rpc.on('bad-node', (n: KrpcPeer) => this.log.debug({ node: `${n.host ?? n.address}:${n.port}` }, 'dht node went bad (no answer to several queries in a row)'));
    // bittorrent-dht on our KRPC client (its `opts.krpc` seam); `bootstrap: false`: no populate at
    // construction (the socket is not bound yet), start() decides when.
    this.dht = new DHT({ krpc: this.rpc, bootstrap: false });
    this.dht.on('warning', (err: Error) => this.log.debug({ err }, 'dht warning'));
    this.dht.on('error', (err: Error) => this.log.error({ err }, 'dht error'));
  }

  /**
   * Binds the socket and adds `restored` nodes; unless `populate: false`, populates the table from
   * them and the bootstrap list (a find_node walk towards our id).
   */
  async start(restored: ReadonlyArray<{ host: string; port: number; id?: Uint8Array | null }> = [], options: { populate?: boolean } = {}): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.dht.once('error', onError);
      this.socket.once('listening', () => {
        this.dht.removeListener('error', onError);
        resolve();
      });
      this.dht.listen(this.options.port, this.options.host);
    });
    this.addNodes(restored);
    if (options.populate !== false) this.populate();
    this.log.info({ address: this.address(), restored: restored.length, bootstrap: this.options.bootstrap.length }, 'dht listening');
  }

  /** A find_node walk towards our own id (fills the table); completes on its own, bounded by k-rpc. */
  populate(onDone?: () => void): void {
    const id = this.rpc.id;
    this.rpc.populate(id, { q: 'find_node', a: { id, target: id } }, (err, n) => {
      if (this.stopped) return;
      this.log.debug({ err, responded: n, nodes: this.nodeCount() }, 'dht populate done');
      onDone?.();
    });
  }

  addNodes(nodes: ReadonlyArray<{ host: string; port: number; id?: Uint8Array | null }>): void {
    if (this.stopped) return;
    for (const n of nodes) {
      if (n.host.includes(':') !== (this.family === 6)) continue; // the other family's table
      if (n.id && n.id.length === NODE_ID_LENGTH) {
        const id = Buffer.from(n.id);
        if (!id.equals(this.rpc.id)) this.rpc.nodes.add({ id, host: n.host, port: n.port, distance: 0, seen: 0 });
      } else this.dht.addNode({ host: n.host, port: n.port });
    }
  }

  /** Links an IPv4 and an IPv6 node (BEP 32): `want` both families, share the other family's nodes. */
  static pair(a: DhtNode, b: DhtNode): void {
    if (a.family === b.family) throw new RangeError('pair() links an IPv4 and an IPv6 node');
    a.sibling = b;
    b.sibling = a;
  }

  address(): { address: string; port: number } {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  get nodeId(): Buffer {
    return this.rpc.id;
  }

  nodeCount(): number {
    return this.rpc.nodes.count();
  }

  routingNodes(): RoutingNode[] {
    const now = Date.now();
    return this.rpc.nodes.toArray().map((c: DhtContact) => ({ host: c.host, port: c.port, id: c.id, lastSeen: c.seen || now }));
  }

  /** One raw query through k-rpc (concurrency, bounded pending queue) and the budgeted socket. */
  query(peer: { host: string; port: number; id?: Buffer }, message: { q: string; a?: Record<string, unknown> }): Promise<{ r: Record<string, unknown>; from: KrpcPeer }> {
    return new Promise((resolve, reject) => {
      this.rpc.query(peer, { q: message.q, a: { ...message.a } }, (err, res, from) => {
        if (err) return reject(err);
        const r = res?.r;
        if (!r || typeof r !== 'object') return reject(new Error('reply without r'));
        resolve({ r, from: from ?? peer });
      });
    });
  }

  /**
   * An iterative get_peers lookup (k-rpc's `closest` walk over the routing table, or the bootstrap
   * list when the table is empty). Calls `onPeer` for every peer in `values`; stops sending new
   * queries after `timeoutMs` or when `signal` aborts (queries in flight finish on their own).
   */
  getPeers(
    infohash: string,
    onPeer: (ip: string, port: number, from: KrpcPeer) => void,
    options: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<GetPeersResult> {
    const target = Buffer.from(infohash, 'hex');
    return new Promise((resolve) => {
      let stopped = false;
      let settled = false;
      const finish = (timedOut: boolean, responded: number): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        resolve({ responded, timedOut });
      };
      let responded = 0;
      const onAbort = (): void => {
        stopped = true;
        finish(true, responded);
      };
      const timer = setTimeout(onAbort, options.timeoutMs);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.signal?.aborted) return onAbort();
      const visit = (res: KrpcMessage, from: KrpcPeer): boolean => {
        if (stopped) return false;
        responded++;
        // `values` (peers of the transport's family) and `values6` (IPv6 peers, Transmission's DHT).
        for (const key of ['values', 'values6']) {
          const values = res.r?.[key];
          if (Array.isArray(values)) for (const p of decodeCompactPeers(values).peers) onPeer(p.ip, p.port, from);
        }
        return true;
      };
      this.rpc.closest(target, { q: 'get_peers', a: { id: this.rpc.id, info_hash: target } }, visit, (_err, n) =>
        finish(false, n),
      );
    });
  }

  stats(): DhtNodeStats {
    const k = this.rpc.stats();
    return {
      socket: this.socket.stats(),
      responder: this.responder.stats(),
      krpcPending: k.pending,
      krpcPendingHighWater: k.pendingHighWater,
      droppedKrpcPending: k.droppedPending,
      health: k.health,
      nodes: this.nodeCount(),
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.responder.stop();
    await new Promise<void>((resolve) => this.dht.destroy(() => resolve()));
  }

  private onAnnounce(a: AnnounceHarvest): void {
    const peer: DiscoveredPeer = { ip: a.ip, port: a.port, infohash: a.infohash, foundAt: Date.now(), source: 'announce' };
    this.emit('peer', peer);
  }
}
