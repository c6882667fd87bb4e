/**
 * A private DHT on loopback for the integration tests: stock bittorrent-dht nodes, each on its own
 * 127.x address (so per-IP limits see distinct nodes), bootstrapped from the first one. Never the
 * library's default routers: every node gets an explicit bootstrap (false or a loopback node).
 */
import dgram from 'node:dgram';
import DHT from 'bittorrent-dht';
import bencode from 'bencode';
import { createDht, type DhtDeps } from '../../../src/dht/dht-module.js';

/** bencode 4 gives Uint8Arrays; the tests compare Buffers (an independent decoder from ours). */
export function toBuffers(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map(toBuffers);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toBuffers(x)]));
  return v;
}

export interface StockNode {
  dht: DHT;
  host: string;
  port: number;
}

/** Only loopback destinations (127/8 and ::1): the safety net every node of ours gets in the tests. */
export const loopbackOnly = (ip: string): boolean => ip.startsWith('127.') || ip === '::1';

function listen(dht: DHT, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    dht.once('error', reject);
    dht.listen(0, host, () => resolve(dht.address().port));
  });
}

/** `count` stock nodes on `${prefix}1`, `${prefix}2`, …; the first has bootstrap off. */
export async function startStockNodes(count: number, prefix: string): Promise<StockNode[]> {
  const nodes: StockNode[] = [];
  const firstHost = `${prefix}1`;
  const first = new DHT({ bootstrap: false, host: false });
  const firstPort = await listen(first, firstHost);
  nodes.push({ dht: first, host: firstHost, port: firstPort });
  for (let i = 2; i <= count; i++) {
    const host = `${prefix}${i}`;
    const dht = new DHT({ bootstrap: [`${firstHost}:${firstPort}`], host: false });
    const port = await listen(dht, host);
    nodes.push({ dht, host, port });
  }
  // Let every node learn the others (each bootstraps through the first).
  await Promise.all(nodes.slice(1).map((n) => new Promise<void>((r) => (n.dht as unknown as { ready?: boolean }).ready ? r() : n.dht.once('ready', () => r()))));
  return nodes;
}

export async function stopStockNodes(nodes: StockNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => new Promise<void>((r) => n.dht.destroy(() => r()))));
}

export function announce(node: StockNode, infohash: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => node.dht.announce(infohash, port, (err) => (err ? reject(err) : resolve())));
}

export async function waitFor(cond: () => boolean, timeoutMs: number, stepMs = 20): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return Date.now() - start;
}

export interface RawMessage {
  msg: Record<string, unknown>;
  raw: Buffer;
  from: dgram.RemoteInfo;
  at: number;
}

/** A raw KRPC endpoint on loopback: send queries, see every packet, optionally answer queries. */
export class RawKrpc {
  readonly socket: dgram.Socket;
  readonly received: RawMessage[] = [];
  private tid = 0;
  private waiters = new Map<number, (m: RawMessage) => void>();
  onQuery: ((m: RawMessage, reply: (r: Record<string, unknown>) => void, error: (e: [number, string]) => void) => void) | null = null;

  /** family 6: a udp6 socket, for ::1 only. */
  constructor(family: 4 | 6 = 4) {
    this.socket = dgram.createSocket(family === 6 ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
  }

  async bind(host: string): Promise<{ host: string; port: number }> {
    await new Promise<void>((r) => this.socket.bind(0, host, () => r()));
    this.socket.on('message', (raw, from) => {
      if (!loopbackOnly(from.address)) return;
      let msg: Record<string, unknown>;
      try {
        msg = toBuffers(bencode.decode(raw)) as Record<string, unknown>;
      } catch {
        return;
      }
      const m: RawMessage = { msg, raw, from, at: Date.now() };
      this.received.push(m);
      const y = String(msg.y);
      if (y === 'q' && this.onQuery) {
        this.onQuery(
          m,
          (r) => this.send({ t: msg.t, y: 'r', r }, from.address, from.port),
          (e) => this.send({ t: msg.t, y: 'e', e }, from.address, from.port),
        );
      } else if ((y === 'r' || y === 'e') && Buffer.isBuffer(msg.t) && msg.t.length === 2) {
        const w = this.waiters.get(msg.t.readUInt16BE(0));
        if (w) w(m);
      }
    });
    const a = this.socket.address();
    return { host: a.address, port: a.port };
  }

  send(message: Record<string, unknown>, host: string, port: number): void {
    if (!loopbackOnly(host)) throw new Error('loopback only');
    this.socket.send(bencode.encode(message), port, host);
  }

  /** Sends a query and resolves with the reply (or rejects after `timeoutMs`). */
  query(host: string, port: number, q: string, a: Record<string, unknown>, timeoutMs = 2000): Promise<RawMessage> {
    const tid = (this.tid = (this.tid % 65535) + 1);
    const t = Buffer.alloc(2);
    t.writeUInt16BE(tid);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(tid);
        reject(new Error(`no reply to ${q}`));
      }, timeoutMs);
      this.waiters.set(tid, (m) => {
        clearTimeout(timer);
        this.waiters.delete(tid);
        resolve(m);
      });
      this.send({ t, y: 'q', q, a }, host, port);
    });
  }

  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}

/** An in-memory DhtNodeStore for tests that do not look at persistence. */
export class MemoryNodeStore {
  rows: Array<{ host: string; port: number; id: Uint8Array | null; lastSeen: number }> = [];
  load(limit = 1000): typeof this.rows {
    return this.rows.slice(0, limit);
  }
  save(nodes: readonly { host: string; port: number; id: Uint8Array | null; lastSeen: number }[]): void {
    this.rows = [...nodes];
  }
}

/** createDht(...) then start(), as the composition root does. */
export async function startedDht(deps: DhtDeps, options: Parameters<typeof createDht>[1]): Promise<ReturnType<typeof createDht>> {
  const dht = createDht(deps, options);
  await dht.start();
  return dht;
}
