/**
 * Types for bittorrent-dht 11 (and the k-rpc 5 / k-bucket 5 objects it exposes): only what this
 * project uses. Byte strings arrive as Buffers (k-rpc and bittorrent-dht call Buffer methods on them).
 */
declare module 'bittorrent-dht' {
  import { EventEmitter } from 'node:events';

  /** A routing-table entry (k-bucket contact). */
  export interface DhtContact {
    id: Buffer;
    host: string;
    port: number;
    token?: Buffer | null;
    /** ms epoch of the last message from it (k-rpc sets it). */
    seen?: number;
    distance?: number;
  }

  /** A UDP address as handed to the KRPC layers: `host` from the table, `address` from dgram. */
  export interface KrpcPeer {
    host?: string;
    address?: string;
    port: number;
    id?: Buffer;
    token?: Buffer | null;
  }

  /** A decoded KRPC message (BEP 5); every byte string is a Buffer. */
  export interface KrpcMessage {
    t?: Buffer;
    y?: Buffer | string;
    q?: Buffer | string;
    a?: Record<string, unknown>;
    r?: Record<string, unknown>;
    e?: unknown;
    [key: string]: unknown;
  }

  export interface KrpcError extends Error {
    code?: string | number;
  }

  export type KrpcCallback = (
    err: KrpcError | null,
    res: KrpcMessage | null,
    peer: KrpcPeer | undefined,
    req?: KrpcMessage,
  ) => void;

  export interface KBucket extends EventEmitter {
    count(): number;
    toArray(): DhtContact[];
    closest(id: Uint8Array, n?: number): DhtContact[];
    get(id: Uint8Array): DhtContact | null;
    add(contact: DhtContact): KBucket;
    remove(id: Uint8Array): KBucket;
    metadata: { lastChange?: number };
  }

  /**
   * The KRPC layer bittorrent-dht drives (its `opts.krpc` seam; k-rpc's shape): exactly what
   * bittorrent-dht 11 calls on it (`grep -o '_rpc\.[a-zA-Z_]*' node_modules/bittorrent-dht/client.js`),
   * plus the events it listens to: 'node', 'ping' (oldest contacts of a full bucket, the new one, and
   * a swap(dead) callback), 'warning', 'error', 'listening'. Our KrpcClient implements it.
   */
  export interface KRPC extends EventEmitter {
    id: Buffer;
    k: number;
    nodes: KBucket;
    query(node: KrpcPeer, message: KrpcMessage, cb?: KrpcCallback): void;
    queryAll(
      nodes: KrpcPeer[],
      message: KrpcMessage,
      visit: ((res: KrpcMessage, peer: KrpcPeer) => boolean | void) | null,
      cb: (err: Error | null, hits: number) => void,
    ): void;
    closest(
      target: Uint8Array,
      message: KrpcMessage,
      visit: ((res: KrpcMessage, peer: KrpcPeer) => boolean | void) | null,
      cb?: (err: Error | null, count: number) => void,
    ): void;
    populate(target: Uint8Array, message: KrpcMessage, cb?: (err: Error | null, count: number) => void): void;
    response(node: KrpcPeer, query: KrpcMessage, response: Record<string, unknown>, nodes?: DhtContact[] | null, cb?: () => void): void;
    error(node: KrpcPeer, query: KrpcMessage, error: [number, string], cb?: () => void): void;
    bind(...args: unknown[]): void;
    address(): { address: string; family: string; port: number };
    destroy(cb?: () => void): void;
  }

  export interface DhtOptions {
    /** `false`: no automatic bootstrap at construction (the caller populates). */
    bootstrap?: false | string[] | Array<{ host: string; port: number }>;
    /** Bootstrap list handed to k-rpc (takes precedence over `bootstrap` there). */
    nodes?: Array<{ host: string; port: number }>;
    nodeId?: Uint8Array | string;
    /** The KRPC layer to use instead of a k-rpc of its own (our KrpcClient). */
    krpc?: KRPC;
    /** Replacement for k-rpc-socket (k-rpc's `opts.krpcSocket`). */
    krpcSocket?: EventEmitter;
    concurrency?: number;
    k?: number;
    timeBucketOutdated?: number;
    maxTables?: number;
    maxValues?: number;
    maxPeers?: number;
    maxAge?: number;
    host?: string | false;
  }

  export default class DHT extends EventEmitter {
    constructor(opts?: DhtOptions);
    nodeId: Buffer;
    nodes: KBucket;
    listening: boolean;
    destroyed: boolean;
    addNode(node: { host: string; port: number; id?: Uint8Array | string }): void;
    removeNode(id: Uint8Array | string): void;
    listen(port?: number, host?: string, cb?: () => void): void;
    address(): { address: string; family: string; port: number };
    destroy(cb?: () => void): void;
    lookup(infoHash: Uint8Array | string, cb?: (err: Error | null, n?: number) => void): () => void;
    announce(infoHash: Uint8Array | string, port: number, cb?: (err: Error | null) => void): void;
    announce(infoHash: Uint8Array | string, cb?: (err: Error | null) => void): void;
    toJSON(): { nodes: Array<{ host: string; port: number }>; values: Record<string, unknown> };
  }
  export { DHT as Client };
}
