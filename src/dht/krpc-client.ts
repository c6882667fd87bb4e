import { EventEmitter } from 'node:events';
import type { DhtContact, KrpcCallback, KrpcError, KrpcMessage, KrpcPeer } from 'bittorrent-dht';
import KBucket from 'k-bucket';
import type { BudgetedSocket } from './budgeted-socket.js';
import { type Family, encodeNodes, nodesKey, otherFamily, parseNodes, wantList } from './krpc-nodes.js';
import { NodeHealth, type NodeHealthOptions, type NodeHealthStats } from './node-health.js';

/**
 * Our KRPC client (BEP 5), in place of k-rpc: the routing table (k-bucket), queries with a bounded
 * pending queue, iterative lookups, and node health. bittorrent-dht takes it through its own seam
 * (`opts.krpc`) and keeps its routing-table upkeep (ping-and-swap of full buckets, bucket refresh),
 * which reaches us only through the methods below. Transport: BudgetedSocket (budgets, per-IP
 * interval, transaction matching).
 *
 * Differences from k-rpc:
 * - queries waiting for an in-flight slot are bounded (`maxPendingQueries`; past it a query fails
 *   at once with EQUEUEFULL, counted), k-rpc's queue is unbounded;
 * - BEP 5 node health: a node that lets `health.maxFailures` queries in a row time out is bad: out
 *   of the routing table and never queried again (EBADNODE) for a while, even when other nodes list
 *   it; k-rpc dropped a table node at its first timeout in a lookup and asked it again in the next;
 * - incoming queries go to `onQuery` (our responder) instead of an event.
 */
export interface KrpcClientOptions {
  id: Buffer;
  /** Queried when the routing table holds fewer nodes than this list (never the public routers unless configured). */
  bootstrap: Array<{ host: string; port: number }>;
  /** Queries in flight (queued in the socket or awaiting a reply), at most. */
  concurrency: number;
  /** Queries waiting for an in-flight slot, at most. */
  maxPendingQueries: number;
  /** Bucket size and lookup width (default 20, as k-rpc). */
  k?: number;
  health?: NodeHealthOptions;
  onQuery?: (query: KrpcMessage, peer: KrpcPeer) => void;
  /** Address family of the socket and the table (default 4). BEP 32: one table per family. */
  family?: Family;
  /**
   * BEP 32: while this says true (a node of the other family runs), our find_node / get_peers /
   * sample_infohashes queries ask `want: n4, n6`, and the other family's nodes in replies go to
   * `otherFamilyNodes` (that node).
   */
  wantOtherFamily?: () => boolean;
  otherFamilyNodes?: (nodes: DhtContact[]) => void;
}

export interface KrpcClientStats {
  pending: number;
  pendingHighWater: number;
  droppedPending: number;
  health: NodeHealthStats;
}

type Visit = ((res: KrpcMessage, peer: KrpcPeer) => boolean | void) | null;

const ID_LENGTH = 20;

function coded(code: string, message: string): KrpcError {
  const err: KrpcError = new Error(message);
  err.code = code;
  return err;
}
const EQUEUEFULL = coded('EQUEUEFULL', 'k-rpc pending queue is full');
const EBADNODE = coded('EBADNODE', 'node is bad (no answer to several queries in a row)');
const EDESTROYED = coded('EDESTROYED', 'KRPC client is destroyed');

function isNodeId(v: unknown): v is Buffer {
  return Buffer.isBuffer(v) && v.length === ID_LENGTH;
}

function hostOf(peer: KrpcPeer): string {
  return peer.host ?? peer.address ?? '';
}

/** Queries whose replies carry nodes, so `want` applies (BEP 32; BEP 51 follows find_node). */
const WANT_QUERIES = new Set(['find_node', 'get_peers', 'sample_infohashes']);

function queryName(q: unknown): string {
  return Buffer.isBuffer(q) ? q.toString('latin1') : typeof q === 'string' ? q : '';
}

export class KrpcClient extends EventEmitter {
  readonly id: Buffer;
  readonly family: Family;
  readonly k: number;
  readonly nodes: KBucket;
  readonly bootstrap: Array<{ host: string; port: number }>;
  readonly concurrency: number;
  readonly health: NodeHealth;
  destroyed = false;
  private pending: Array<[KrpcPeer, KrpcMessage, KrpcCallback | undefined]> = [];
  private pendingHighWater = 0;
  private droppedPending = 0;
  private readonly backgroundConcurrency: number;

  constructor(
    readonly socket: BudgetedSocket,
    private readonly options: KrpcClientOptions,
  ) {
    super();
    this.id = options.id;
    this.family = options.family ?? 4;
    this.k = options.k ?? 20;
    this.bootstrap = options.bootstrap;
    this.concurrency = options.concurrency;
    this.backgroundConcurrency = Math.max(1, Math.floor(options.concurrency / 4));
    this.health = new NodeHealth(options.health);
    this.nodes = new KBucket({ localNodeId: this.id, numberOfNodesPerKBucket: this.k, numberOfNodesToPing: 3 });
    // A full bucket and a new contact: bittorrent-dht pings the oldest and swaps a dead one.
    this.nodes.on('ping', (older: DhtContact[], newer: DhtContact) => {
      this.emit('ping', older, (dead: DhtContact | undefined) => {
        if (!dead) return;
        if (dead.id) this.nodes.remove(dead.id);
        this.addContact(newer);
      });
    });
    socket.setMaxListeners(0);
    socket.on('query', (query: KrpcMessage, peer: KrpcPeer) => {
      // BEP 43: a read-only node (`ro: 1`: a one-shot announcer, a node behind a NAT) is answered
      // but not added to the table, where it would soon be a dead entry in every lookup's way.
      if (query.ro !== 1) this.seen(query.a, peer);
      this.options.onQuery?.(query, peer);
    });
    socket.on('response', (reply: KrpcMessage, peer: KrpcPeer) => this.seen(reply.r, peer));
    socket.on('update', () => this.drainPending());
    socket.on('warning', (err: unknown) => this.emit('warning', err));
    socket.on('error', (err: unknown) => this.emit('error', err));
    socket.on('listening', () => this.emit('listening'));
  }

  // bind([port], [address], [callback])
  bind(...args: unknown[]): void {
    this.socket.bind(...args);
  }

  address(): { address: string; family: string; port: number } {
    return this.socket.address();
  }

  stats(): KrpcClientStats {
    return { pending: this.pending.length, pendingHighWater: this.pendingHighWater, droppedPending: this.droppedPending, health: this.health.stats() };
  }

  /** One query, when an in-flight slot is free (else it waits in the bounded pending queue). */
  query(node: KrpcPeer, message: KrpcMessage, cb?: KrpcCallback): void {
    if (this.destroyed) {
      if (cb) process.nextTick(cb, EDESTROYED, null, node);
      return;
    }
    if (this.health.isBad(`${hostOf(node)}:${node.port}`)) {
      this.health.refused++;
      if (cb) process.nextTick(cb, EBADNODE, null, node);
      return;
    }
    if (this.socket.inflight >= this.concurrency) {
      if (this.pending.length >= this.options.maxPendingQueries) {
        this.droppedPending++;
        if (cb) process.nextTick(cb, EQUEUEFULL, null, node);
        return;
      }
      this.pending.push([node, message, cb]);
      if (this.pending.length > this.pendingHighWater) this.pendingHighWater = this.pending.length;
      return;
    }
    this.send(node, message, cb);
  }

  /** The same query to each node; `cb(err, hits)` once all have answered or failed. */
  queryAll(nodes: KrpcPeer[], message: KrpcMessage, visit: Visit, cb: (err: Error | null, hits: number) => void): void {
    if (nodes.length === 0) return cb(new Error('No nodes to query'), 0);
    let missing = nodes.length;
    let hits = 0;
    let stop = false;
    let error: Error | null = null;
    for (const node of nodes) {
      this.query(node, message, (err, res, peer) => {
        if (!err) hits++;
        else if (typeof err.code === 'number' && err.code >= 300 && err.code < 400) error = err;
        if (!err && !stop && res && peer && visit?.(res, peer) === false) stop = true;
        if (--missing === 0) cb(hits ? null : (error ?? new Error('All queries failed')), hits);
      });
    }
  }

  response(node: KrpcPeer, query: KrpcMessage, response: Record<string, unknown>, nodes?: DhtContact[] | null | (() => void), cb?: () => void): void {
    if (typeof nodes === 'function') {
      cb = nodes;
      nodes = null;
    }
    if (!response.id) response.id = this.id;
    if (nodes) response[nodesKey(this.family)] = encodeNodes(nodes, this.family);
    this.socket.response(node, query, response, cb);
  }

  error(node: KrpcPeer, query: KrpcMessage, error: unknown, cb?: () => void): void {
    this.socket.error(node, query, error, cb);
  }

  /** A find_node-style walk towards `target` in the background (fills the table). */
  populate(target: Uint8Array, message: KrpcMessage, cb?: (err: Error | null, count: number) => void): void {
    this.walk(target, message, true, null, cb);
  }

  /** An iterative lookup towards `target`: `visit` sees every reply; returning false stops it. */
  closest(target: Uint8Array, message: KrpcMessage, visit: Visit, cb?: (err: Error | null, count: number) => void): void {
    this.walk(target, message, false, visit, cb);
  }

  destroy(cb?: () => void): void {
    this.destroyed = true;
    const waiting = this.pending;
    this.pending = [];
    for (const [node, , callback] of waiting) if (callback) process.nextTick(callback, EDESTROYED, null, node);
    this.socket.destroy(cb);
  }

  private drainPending(): void {
    while (this.pending.length > 0 && this.socket.inflight < this.concurrency && !this.destroyed) {
      const [node, message, cb] = this.pending.shift() as [KrpcPeer, KrpcMessage, KrpcCallback | undefined];
      this.query(node, message, cb);
    }
  }

  /** Sends through the socket and keeps node health (every query goes through here). */
  private send(node: KrpcPeer, message: KrpcMessage, cb?: KrpcCallback): void {
    const a = (message.a ??= {});
    a.id ??= this.id;
    if (node.token) a.token = node.token;
    if (a.want === undefined && WANT_QUERIES.has(queryName(message.q))) a.want = wantList(this.family, this.options.wantOtherFamily?.() ?? false);
    const key = `${hostOf(node)}:${node.port}`;
    this.socket.query(node, message, (err, res, peer, req) => {
      if (!err || typeof err.code === 'number') this.health.answered(key);
      else if (err.code === 'ETIMEDOUT' && this.health.timedOut(key)) {
        if (node.id && this.nodes.get(node.id)) this.nodes.remove(node.id);
        this.emit('bad-node', node);
      } else if (err.code === 'EUNEXPECTEDNODE' && node.id && this.nodes.get(node.id)) {
        this.nodes.remove(node.id); // the address answers with another id: the entry is stale
      }
      cb?.(err, res, peer, req);
    });
  }

  /** A message from a node: table entry refreshed or added (k-rpc's behaviour), unless it is bad. */
  private seen(data: Record<string, unknown> | undefined, peer: KrpcPeer): void {
    const id = data?.id;
    if (!isNodeId(id) || id.equals(this.id)) return;
    const host = hostOf(peer);
    if (this.health.isBad(`${host}:${peer.port}`)) return;
    const old = this.nodes.get(id);
    if (old) {
      old.seen = Date.now();
      return;
    }
    this.addContact({ id, host, port: peer.port, distance: 0, seen: Date.now() });
  }

  private addContact(contact: DhtContact): void {
    const old = this.nodes.get(contact.id);
    this.nodes.add(contact);
    if (!old) this.emit('node', contact);
  }

  /** k-rpc's iterative walk, skipping bad nodes (the lookup's own table of the closest nodes seen). */
  private walk(target: Uint8Array, message: KrpcMessage, background: boolean, visit: Visit, cb: (err: Error | null, count: number) => void = () => {}): void {
    const a = (message.a ??= {});
    a.id ??= this.id;
    const table = new KBucket({ localNodeId: target, numberOfNodesPerKBucket: this.k, numberOfNodesToPing: 3 });
    const queried = new Set<string>();
    let count = 0;
    let inWalk = 0;
    let bootstrapped = false;
    let stop = false;
    const evt = background ? 'postupdate' : 'update';

    const add = (node: DhtContact): void => {
      if (!node.id.equals(this.id) && !this.health.isBad(`${node.host}:${node.port}`)) table.add(node);
    };
    const afterQuery = (err: KrpcError | null, res: KrpcMessage | null, peer: KrpcPeer | undefined): void => {
      inWalk--;
      if (peer) queried.add(`${hostOf(peer)}:${peer.port}`);
      const r = res?.r;
      if (!r || !peer) return kick();
      if (!err && isNodeId(r.id)) {
        count++;
        add({ id: r.id, port: peer.port, host: hostOf(peer), distance: 0 });
      }
      for (const n of parseNodes(r[nodesKey(this.family)], this.family)) add(n);
      const other = this.options.otherFamilyNodes;
      if (other) {
        const theirs = parseNodes(r[nodesKey(otherFamily(this.family))], otherFamily(this.family));
        if (theirs.length > 0) other(theirs);
      }
      if (visit && visit(res, peer) === false) stop = true;
      kick();
    };
    const kick = (): void => {
      if (this.destroyed || this.socket.inflight >= this.concurrency) return;
      const others = this.pending.length + this.socket.inflight - inWalk;
      if (background && this.socket.inflight >= this.backgroundConcurrency && others > 0) return;
      let closest = table.closest(target, this.k);
      if (closest.length === 0 || closest.length < this.bootstrap.length) {
        closest = this.nodes.closest(target, this.k);
        if ((closest.length === 0 || closest.length < this.bootstrap.length) && !bootstrapped) {
          bootstrapped = true;
          for (const b of this.bootstrap) {
            const key = `${b.host}:${b.port}`;
            if (queried.has(key) || this.health.isBad(key)) continue;
            queried.add(key);
            inWalk++;
            this.send(b, message, afterQuery);
          }
        }
      }
      for (const peer of closest) {
        if (stop) break;
        if (this.socket.inflight >= this.concurrency) return;
        const key = `${peer.host}:${peer.port}`;
        if (queried.has(key)) continue;
        queried.add(key);
        if (this.health.isBad(key)) continue;
        inWalk++;
        this.send(peer, message, afterQuery);
      }
      if (inWalk === 0) {
        this.socket.removeListener(evt, kick);
        process.nextTick(() => cb(null, count));
      }
    };
    this.socket.on(evt, kick);
    kick();
  }
}
