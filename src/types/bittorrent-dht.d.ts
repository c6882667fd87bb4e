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

  /** k-rpc: the KRPC layer between the socket and the DHT (routing table, lookups, pending queue). */
  export interface KRPC extends EventEmitter {
    id: Buffer;
    nodes: KBucket;
    /** Queries waiting for an in-flight slot: unbounded in the library. */
    pending: Array<[KrpcPeer, KrpcMessage, KrpcCallback]>;
    concurrency: number;
    k: number;
    bootstrap: Array<{ host: string; port: number }>;
    destroyed: boolean;
    query(node: KrpcPeer, message: KrpcMessage, cb?: KrpcCallback): void;
    closest(
      target: Uint8Array,
      message: KrpcMessage,
      visit: ((res: KrpcMessage, peer: KrpcPeer) => boolean | void) | null,
      cb?: (err: Error | null, count: number) => void,
    ): void;
    populate(target: Uint8Array, message: KrpcMessage, cb?: (err: Error | null, count: number) => void): void;
    response(node: KrpcPeer, query: KrpcMessage, response: Record<string, unknown>, nodes?: DhtContact[] | null, cb?: () => void): void;
    error(node: KrpcPeer, query: KrpcMessage, error: [number, string], cb?: () => void): void;
    destroy(cb?: () => void): void;
  }

  export interface DhtOptions {
    /** `false`: no automatic bootstrap at construction (the caller populates). */
    bootstrap?: false | string[] | Array<{ host: string; port: number }>;
    /** Bootstrap list handed to k-rpc (takes precedence over `bootstrap` there). */
    nodes?: Array<{ host: string; port: number }>;
    nodeId?: Uint8Array | string;
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
    /** The k-rpc instance (library-internal field; see src/dht/dht-node.ts for why it is used). */
    _rpc: KRPC;
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
