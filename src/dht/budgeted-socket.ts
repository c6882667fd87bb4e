import dgram from 'node:dgram';
import dns from 'node:dns';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { KrpcCallback, KrpcError, KrpcMessage, KrpcPeer } from 'bittorrent-dht';
import { decodeKrpc, encodeKrpc } from './krpc-codec.js';
import { PerIpQueue } from './per-ip-queue.js';
import { TokenBucket } from './token-bucket.js';

/**
 * A drop-in replacement for k-rpc-socket (k-rpc's `opts.krpcSocket` seam) that enforces the outbound
 * budgets and keeps every queue bounded:
 * - one token bucket for every packet we send (queries, responses, errors): `maxPacketsPerSecond`;
 * - at least `minQueryIntervalPerIpMs` between two queries to one IP (queries wait, per IP, in order);
 * - queries waiting for budget sit in one queue of at most `maxPendingQueries` entries (full: the
 *   query fails at once with `EQUEUEFULL`, counted) and for at most `maxQueueWaitMs` (`EQUEUETIMEOUT`);
 * - responses are never queued: without a token they are dropped (counted), a late answer is useless;
 *   queries leave `replyReserve` tokens in the bucket for them, so a backlog of our own queries
 *   (lookups, sampling) never starves the answers other nodes wait for (with the queue always
 *   non-empty, the pump would otherwise take each token as it refills and drop nearly every reply);
 * - in-flight queries are matched by transaction id in a Map (the library scans an array), and all of
 *   them are timed out by one sweep timer.
 * `inflight` (read by k-rpc for its concurrency limit) counts queued and sent queries alike.
 * Byte strings of decoded messages are Buffers, as k-rpc and bittorrent-dht expect (krpc-codec.ts).
 */
export interface BudgetedSocketOptions {
  /** Global outbound packets per second (every packet). */
  maxPacketsPerSecond: number;
  /** Packets that may go out back to back; default rate/10 (100 ms worth), at least 1. */
  burst?: number;
  /**
   * Tokens of the burst that queries leave for replies (default a quarter of the burst, rounded
   * down): replies may use the whole bucket, queries only what is above this.
   */
  replyReserve?: number;
  /** Minimum ms between two queries to the same IP (0: no limit). */
  minQueryIntervalPerIpMs: number;
  /** Queries waiting for budget, at most. */
  maxPendingQueries: number;
  /** Reply deadline of a sent query (default 2000 ms, as k-rpc-socket). */
  queryTimeoutMs?: number;
  /** Longest a query may wait in the queue before failing (default 10 000 ms). */
  maxQueueWaitMs?: number;
  /** Deadline of a bootstrap host name lookup (default 5000 ms). */
  resolveTimeoutMs?: number;
  /** Concurrent host name lookups, at most (default 16). */
  maxResolving?: number;
  /**
   * A guard on every query destination (address policy; tests pass a loopback-only check). Refused
   * queries fail at once with `EDESTINATION`, counted. Replies go to the sender of the query.
   */
  allowDestination?: (ip: string, port: number) => boolean;
  /** An existing socket of `family` (default: a new one). */
  socket?: dgram.Socket;
  /** 4 (udp4, default) or 6 (udp6, IPv6 only): destinations of the other family are refused (`EFAMILY`). */
  family?: 4 | 6;
}

export interface BudgetedSocketStats {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  queriesReceived: number;
  responsesReceived: number;
  errorsReceived: number;
  queriesSent: number;
  repliesSent: number;
  timeouts: number;
  unexpectedReplies: number;
  decodeErrors: number;
  handlerErrors: number;
  sendErrors: number;
  /** Queries that had to wait for their IP's interval. */
  perIpDelayed: number;
  droppedQueueFull: number;
  droppedQueueTimeout: number;
  droppedReplyBudget: number;
  droppedDestination: number;
  /** Queries to an address of the other family (an IPv6 node on the IPv4 socket, or the reverse). */
  droppedOtherFamily: number;
  resolveFailures: number;
  /** ms epoch of the last reply to one of our queries (0: none yet): for the health check. */
  lastReplyAt: number;
  /** Queries sent per method (ping, find_node, get_peers, announce_peer, sample_infohashes, other). */
  queriesSentByType: Record<string, number>;
  /** Gauges. */
  queued: number;
  awaitingReply: number;
  queueHighWater: number;
}

interface Pending {
  peer: KrpcPeer;
  ip: string;
  port: number;
  message: { t: Buffer; y: 'q'; q: unknown; a: unknown };
  cb: KrpcCallback;
  enqueuedAt: number;
  sentAt: number;
}

function codedError(code: string, message: string): KrpcError {
  const err: KrpcError = new Error(message);
  err.code = code;
  return err;
}

// Shared instances, as k-rpc-socket does: no stack capture per timeout on a busy node.
const ETIMEDOUT = codedError('ETIMEDOUT', 'Query timed out');
const EUNEXPECTEDNODE = codedError('EUNEXPECTEDNODE', 'Unexpected node id');
const EQUEUEFULL = codedError('EQUEUEFULL', 'Outbound query queue is full');
const EQUEUETIMEOUT = codedError('EQUEUETIMEOUT', 'Query waited too long for outbound budget');
const EDESTROYED = codedError('EDESTROYED', 'Socket is destroyed');
const EFAMILY = codedError('EFAMILY', 'Destination is of the other address family than this socket');
const EDESTINATION = codedError('EDESTINATION', 'Destination refused by the address policy');
const ERESOLVE = codedError('ERESOLVE', 'Could not resolve host');

function canonicalV6(ip: string): string {
  try {
    return ipaddr.IPv6.parse(ip).toString();
  } catch {
    return ip;
  }
}

function isDict(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
}

export class BudgetedSocket extends EventEmitter {
  readonly socket: dgram.Socket;
  readonly family: 4 | 6;
  destroyed = false;
  private bound = false;

  private readonly bucket: TokenBucket;
  private readonly replyReserve: number;
  private readonly maxPending: number;
  private readonly timeoutMs: number;
  private readonly maxQueueWaitMs: number;
  private readonly resolveTimeoutMs: number;
  private readonly maxResolving: number;
  private readonly allowDestination: ((ip: string, port: number) => boolean) | undefined;

  /** Queries waiting for budget (global tokens and their IP's interval). */
  private readonly queue: PerIpQueue<Pending>;
  private readonly inFlight = new Map<number, Pending>();
  private nextTid = 0;
  private resolving = 0;
  private pumpTimer: NodeJS.Timeout | null = null;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly counters: Omit<BudgetedSocketStats, 'queued' | 'awaitingReply' | 'perIpDelayed' | 'queriesSentByType'>;
  private readonly sentByType: Record<string, number> = { ping: 0, find_node: 0, get_peers: 0, announce_peer: 0, sample_infohashes: 0, other: 0 };

  constructor(options: BudgetedSocketOptions) {
    super();
    this.bucket = new TokenBucket(
      options.maxPacketsPerSecond,
      Math.max(1, options.burst ?? Math.ceil(options.maxPacketsPerSecond / 10)),
    );
    this.replyReserve = Math.min(this.bucket.burst - 1, Math.max(0, Math.floor(options.replyReserve ?? this.bucket.burst / 4)));
    this.queue = new PerIpQueue(Math.max(0, options.minQueryIntervalPerIpMs));
    this.maxPending = Math.max(1, options.maxPendingQueries);
    this.timeoutMs = options.queryTimeoutMs ?? 2000;
    this.maxQueueWaitMs = options.maxQueueWaitMs ?? 10_000;
    this.resolveTimeoutMs = options.resolveTimeoutMs ?? 5000;
    this.maxResolving = options.maxResolving ?? 16;
    this.allowDestination = options.allowDestination;
    this.counters = {
      packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, queriesReceived: 0, responsesReceived: 0,
      errorsReceived: 0, queriesSent: 0, repliesSent: 0, timeouts: 0, unexpectedReplies: 0, decodeErrors: 0,
      handlerErrors: 0, sendErrors: 0, droppedQueueFull: 0, droppedQueueTimeout: 0,
      droppedReplyBudget: 0, droppedDestination: 0, droppedOtherFamily: 0, resolveFailures: 0, queueHighWater: 0, lastReplyAt: 0,
    };

    this.family = options.family ?? 4;
    this.socket = options.socket ?? dgram.createSocket(this.family === 6 ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
    this.socket.on('message', (buf, rinfo) => this.onMessage(buf, rinfo));
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      // Before 'listening' every error is a bind failure (e.g. EAFNOSUPPORT: a host without IPv6).
      if (!this.bound || err.code === 'EACCES' || err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL') this.emit('error', err);
      else {
        this.counters.sendErrors++;
        this.emit('warning', err);
      }
    });
    this.socket.on('listening', () => {
      this.bound = true;
      this.emit('listening');
    });
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(50, Math.min(250, Math.floor(this.timeoutMs / 4))));
  }

  /** Queued plus sent-and-unanswered queries: k-rpc's concurrency limit reads this. */
  get inflight(): number {
    return this.queue.size + this.inFlight.size;
  }

  stats(): BudgetedSocketStats {
    return {
      ...this.counters,
      queriesSentByType: { ...this.sentByType },
      perIpDelayed: this.queue.delayed,
      queued: this.queue.size,
      awaitingReply: this.inFlight.size,
    };
  }

  address(): { address: string; family: string; port: number } {
    return this.socket.address();
  }

  // bind([port], [address], [callback]), as dgram and k-rpc-socket.
  bind(...args: unknown[]): void {
    (this.socket.bind as (...a: unknown[]) => void)(...args);
  }

  destroy(cb?: () => void): void {
    if (this.destroyed) {
      if (cb) process.nextTick(cb);
      return;
    }
    this.destroyed = true;
    clearInterval(this.sweepTimer);
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    this.pumpTimer = null;
    const failed: Pending[] = [...this.inFlight.values(), ...this.queue.drain()];
    this.inFlight.clear();
    for (const p of failed) this.invoke(p.cb, EDESTROYED, null, p.peer);
    if (cb) this.socket.once('close', cb);
    try {
      this.socket.close();
    } catch {
      if (cb) process.nextTick(cb); // never bound, already closed
    }
  }

  /** Sends a query when the budgets allow (k-rpc-socket's signature). Returns 0 (no cancel by id). */
  query(peer: KrpcPeer, query: KrpcMessage, cb?: KrpcCallback): number {
    const callback: KrpcCallback = cb ?? (() => {});
    if (this.destroyed) {
      process.nextTick(callback, EDESTROYED, null, peer);
      return 0;
    }
    let host = peer.host ?? peer.address ?? '';
    const family = isIP(host);
    if (family !== 0 && family !== this.family) {
      this.counters.droppedOtherFamily++;
      process.nextTick(callback, EFAMILY, null, peer);
      return 0;
    }
    // One spelling per address (replies are matched against dgram's, RFC 5952): "FD00:0::1" → "fd00::1".
    if (family === 6) host = canonicalV6(host);
    if (family === 0) {
      this.resolveAndQuery(host, peer, query, callback);
      return 0;
    }
    if (this.allowDestination && !this.allowDestination(host, peer.port)) {
      this.counters.droppedDestination++;
      process.nextTick(callback, EDESTINATION, null, peer);
      return 0;
    }
    if (this.queue.size >= this.maxPending) {
      this.counters.droppedQueueFull++;
      process.nextTick(callback, EQUEUEFULL, null, peer);
      return 0;
    }
    const p: Pending = {
      peer,
      ip: host,
      port: peer.port,
      message: { t: Buffer.alloc(2), y: 'q', q: query.q, a: query.a },
      cb: callback,
      enqueuedAt: Date.now(),
      sentAt: 0,
    };
    this.queue.push(p, p.enqueuedAt);
    if (this.queue.size > this.counters.queueHighWater) this.counters.queueHighWater = this.queue.size;
    this.pump();
    return 0;
  }

  response(peer: KrpcPeer, req: KrpcMessage, res: Record<string, unknown>, cb?: () => void): void {
    this.send(peer, { t: req.t, y: 'r', r: res }, cb);
  }

  error(peer: KrpcPeer, req: KrpcMessage, error: unknown, cb?: () => void): void {
    const e = error instanceof Error ? [error.message] : ([] as unknown[]).concat(error);
    this.send(peer, { t: req.t, y: 'e', e }, cb);
  }

  /** Sends a reply (or any unsolicited message) now if the budget allows; drops it otherwise. */
  send(peer: KrpcPeer, message: Record<string, unknown>, cb?: () => void): void {
    if (this.destroyed || !this.bucket.tryTake()) {
      this.counters.droppedReplyBudget++;
      if (cb) process.nextTick(cb);
      return;
    }
    this.transmit(message, peer.port, peer.address ?? peer.host ?? '');
    this.counters.repliesSent++;
    if (cb) process.nextTick(cb);
  }

  cancel(): void {
    // k-rpc-socket API; nothing in k-rpc or bittorrent-dht calls it.
  }

  private resolveAndQuery(host: string, peer: KrpcPeer, query: KrpcMessage, cb: KrpcCallback): void {
    if (this.resolving >= this.maxResolving || host === '') {
      this.counters.resolveFailures++;
      process.nextTick(cb, ERESOLVE, null, peer);
      return;
    }
    this.resolving++;
    let done = false;
    const finish = (ip: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.resolving--;
      if (!ip || this.destroyed) {
        this.counters.resolveFailures++;
        this.invoke(cb, ERESOLVE, null, peer);
        return;
      }
      this.query({ ...peer, host: ip }, query, cb);
    };
    const timer = setTimeout(() => finish(null), this.resolveTimeoutMs);
    dns.lookup(host, { family: this.family }, (err, address) => finish(err ? null : address));
  }

  private pump(): void {
    if (this.destroyed) return;
    const now = Date.now();
    while (this.queue.hasReady(now) && this.bucket.tryTake(this.replyReserve)) this.sendQuery(this.queue.take(now), now);
    if (this.pumpTimer) return;
    const untilReady = this.queue.msUntilReady(now);
    if (untilReady === undefined) return;
    this.pumpTimer = setTimeout(() => {
      this.pumpTimer = null;
      this.pump();
    }, Math.max(1, untilReady, this.bucket.msUntilToken(this.replyReserve)));
  }

  private sendQuery(p: Pending, now: number): void {
    // 16-bit transaction ids, never 0, skipping ids still in flight (bounded: at most 65535 tries).
    let tid = 0;
    for (let i = 0; i < 65535; i++) {
      this.nextTid = this.nextTid >= 65535 ? 1 : this.nextTid + 1;
      if (!this.inFlight.has(this.nextTid)) {
        tid = this.nextTid;
        break;
      }
    }
    if (tid === 0) {
      this.counters.droppedQueueFull++;
      this.invoke(p.cb, EQUEUEFULL, null, p.peer);
      return;
    }
    p.message.t.writeUInt16BE(tid, 0);
    p.sentAt = now;
    this.transmit(p.message, p.port, p.ip);
    this.inFlight.set(tid, p);
    this.counters.queriesSent++;
    // A fixed key set: a method name we do not know counts as "other" (no unbounded labels).
    const q = p.message.q;
    const name = typeof q === 'string' ? q : q instanceof Uint8Array ? Buffer.from(q).toString('latin1') : 'other';
    if (name !== 'other' && Object.hasOwn(this.sentByType, name)) this.sentByType[name] = (this.sentByType[name] as number) + 1;
    else this.sentByType.other = (this.sentByType.other as number) + 1;
  }

  private transmit(message: Record<string, unknown>, port: number, ip: string): void {
    const buf = encodeKrpc(message);
    this.counters.packetsOut++;
    this.counters.bytesOut += buf.length;
    // No per-packet callback (a closure and a tick each): send errors arrive as socket 'error' events.
    this.socket.send(buf, port, ip);
  }

  private sweep(): void {
    if (this.destroyed) return;
    const now = Date.now();
    const timedOut: Pending[] = [];
    for (const [tid, p] of this.inFlight) {
      if (now - p.sentAt >= this.timeoutMs) {
        this.inFlight.delete(tid);
        timedOut.push(p);
      }
    }
    const stale = this.queue.expire(now, this.maxQueueWaitMs);
    this.counters.timeouts += timedOut.length;
    this.counters.droppedQueueTimeout += stale.length;
    for (const p of timedOut) this.invoke(p.cb, ETIMEDOUT, null, p.peer);
    for (const p of stale) this.invoke(p.cb, EQUEUETIMEOUT, null, p.peer);
    if (timedOut.length > 0 || stale.length > 0) this.emitUpdate();
    this.pump();
  }

  private emitUpdate(): void {
    this.emit('update');
    this.emit('postupdate');
  }

  /** Runs a callback; an exception in a layer above never escapes into the socket handler. */
  private invoke(cb: KrpcCallback, err: KrpcError | null, res: KrpcMessage | null, peer: KrpcPeer | undefined, req?: KrpcMessage): void {
    try {
      cb(err, res, peer, req);
    } catch (e) {
      this.counters.handlerErrors++;
      this.emit('warning', e);
    }
  }

  private onMessage(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    this.counters.packetsIn++;
    this.counters.bytesIn += buf.length;
    if (this.destroyed || !rinfo.port) return;
    let message: unknown;
    try {
      message = decodeKrpc(buf);
    } catch {
      this.counters.decodeErrors++;
      return;
    }
    if (!isDict(message) || !Buffer.isBuffer(message.y) || message.y.length !== 1) {
      this.counters.decodeErrors++;
      return;
    }
    const y = message.y[0];
    try {
      if (y === 0x71 /* q */) {
        this.counters.queriesReceived++;
        this.emit('query', message, rinfo);
      } else if (y === 0x72 /* r */ || y === 0x65 /* e */) {
        this.onReply(message as KrpcMessage, y === 0x65, rinfo);
      } else this.counters.decodeErrors++;
    } catch (err) {
      this.counters.handlerErrors++;
      this.emit('warning', err);
    }
  }

  private onReply(message: KrpcMessage, isError: boolean, rinfo: dgram.RemoteInfo): void {
    const t = message.t;
    const tid = Buffer.isBuffer(t) && t.length === 2 ? t.readUInt16BE(0) : 0;
    const p = tid === 0 ? undefined : this.inFlight.get(tid);
    if (!p || p.ip !== rinfo.address) {
      // Unsolicited or spoofed: not handed on (k-rpc-socket would add its sender to the table).
      this.counters.unexpectedReplies++;
      return;
    }
    this.inFlight.delete(tid);
    this.counters.lastReplyAt = Date.now();
    const peer: KrpcPeer = rinfo;
    if (isError) {
      this.counters.errorsReceived++;
      const e = message.e;
      const list = Array.isArray(e) ? e : [];
      const err = codedError('', list.map((x) => (Buffer.isBuffer(x) ? x.toString() : String(x))).join(' ') || 'Unknown error');
      err.code = typeof list[0] === 'number' ? list[0] : 0;
      this.invoke(p.cb, err, message, peer, p.message as KrpcMessage);
      this.emitUpdate();
      return;
    }
    this.counters.responsesReceived++;
    const rid = isDict(message.r) ? message.r.id : undefined;
    if (p.peer.id && Buffer.isBuffer(rid) && !p.peer.id.equals(rid)) {
      this.invoke(p.cb, EUNEXPECTEDNODE, null, peer);
      this.emitUpdate();
      return;
    }
    this.invoke(p.cb, null, message, peer, p.message as KrpcMessage);
    this.emitUpdate();
    this.emit('response', message, rinfo);
  }
}
