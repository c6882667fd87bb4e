/** Types for k-bucket 5 (the Kademlia routing table): only what this project uses. */
declare module 'k-bucket' {
  import { EventEmitter } from 'node:events';
  import type { DhtContact } from 'bittorrent-dht';

  export interface KBucketOptions {
    localNodeId: Uint8Array;
    numberOfNodesPerKBucket?: number;
    numberOfNodesToPing?: number;
  }

  /** Emits 'ping' (oldest contacts of a full bucket, the new contact) and 'added' / 'removed' / 'updated'. */
  export default class KBucket extends EventEmitter {
    constructor(options: KBucketOptions);
    count(): number;
    toArray(): DhtContact[];
    closest(id: Uint8Array, n?: number): DhtContact[];
    get(id: Uint8Array): DhtContact | null;
    add(contact: DhtContact): KBucket;
    remove(id: Uint8Array): KBucket;
    metadata: { lastChange?: number };
  }
}
