import { HashedPeerRing, hashA, hashB } from './hashed-peer-ring.js';

/**
 * Remembers when each (ip, port, infohash) was last scheduled, to capture a peer again only after
 * the recapture interval. Bounded: at most `maxEntries` slots, the oldest go first (a refreshed
 * entry moves to the end).
 *
 * Compact, because a busy daemon keeps it full (1,000 distinct peers/s with the default 6 h
 * interval reach the 1,000,000 bound in 17 minutes): a HashedPeerRing (64-bit key hashes in typed
 * arrays, ~25 B per entry; a false "recently seen" needs a 64-bit collision).
 */
export class RecentPeers {
  private readonly ring: HashedPeerRing;

  constructor(
    private readonly intervalMs: number,
    maxEntries = 1_000_000,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries ${maxEntries}`);
    this.ring = new HashedPeerRing(maxEntries);
  }

  static key(ip: string, port: number, infohash: string): string {
    return `${infohash}|${ip}|${port}`;
  }

  /** True (and records `now`) when the peer is due; false when it was scheduled within the interval. */
  admit(key: string, now: number): boolean {
    const a = hashA(key);
    const b = hashB(key);
    const e = this.ring.getHashed(a, b);
    if (e !== undefined && now - e.time < this.intervalMs) return false;
    this.ring.setHashed(a, b, now, 1);
    return true;
  }

  /** Forgets a peer (e.g. a capture that could not even start), so it may be tried again. */
  forget(key: string): void {
    this.ring.delete(key);
  }

  /** Live entries. */
  get size(): number {
    return this.ring.size;
  }

  /** Bytes held by the typed arrays (fixed at construction). */
  get bytes(): number {
    return this.ring.bytes;
  }
}
