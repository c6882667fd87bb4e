import { encodeCompactPeer } from '../protocol/compact.js';

/**
 * Peers announced to our node (announce_peer), served back in get_peers `values`. Bounded in total
 * and per infohash, entries expire after `ttlMs` (BEP 5 nodes forget peers; the library keeps them
 * forever with its default maxAge 0).
 */
export interface AnnouncedPeerStoreOptions {
  /** Peers kept in total (default 10 000); the least recently announced go first. */
  maxPeers?: number;
  /** Peers kept per infohash (default 500). */
  maxPerInfohash?: number;
  /** Lifetime of an announce (default 30 min). */
  ttlMs?: number;
}

interface Entry {
  infohash: string;
  key: string;
  /**
   * The compact peer (6 or 18 bytes) as a latin1 string, not a Buffer: a small Buffer from
   * `Buffer.allocUnsafe` is a slice of a shared 8 KiB pool slab and keeps the whole slab alive, so
   * 10,000 stored 6-byte Buffers could pin up to 78 MiB (the soak saw 8.7 MiB held by 6,000 entries
   * after 5 min). A 6-character string costs ~24 bytes of JS heap and pins nothing.
   */
  compact: string;
  at: number;
}

export class AnnouncedPeerStore {
  private readonly entries = new Map<string, Entry>(); // insertion order = announce order
  private readonly byInfohash = new Map<string, Map<string, Entry>>();
  private readonly maxPeers: number;
  private readonly maxPerInfohash: number;
  private readonly ttlMs: number;

  constructor(options: AnnouncedPeerStoreOptions = {}) {
    this.maxPeers = options.maxPeers ?? 10_000;
    this.maxPerInfohash = options.maxPerInfohash ?? 500;
    this.ttlMs = options.ttlMs ?? 30 * 60_000;
  }

  get size(): number {
    return this.entries.size;
  }

  add(infohash: string, ip: string, port: number, now = Date.now()): void {
    let compact: string;
    try {
      compact = encodeCompactPeer(ip, port).toString('latin1'); // 6 bytes (IPv4) or 18 (IPv6)
    } catch {
      return; // not an address: nothing to serve back
    }
    const key = `${infohash}|${ip}:${port}`;
    const old = this.entries.get(key);
    if (old) this.remove(old);
    let set = this.byInfohash.get(infohash);
    if (!set) {
      set = new Map();
      this.byInfohash.set(infohash, set);
    }
    if (set.size >= this.maxPerInfohash) {
      const oldest = set.values().next();
      if (!oldest.done) this.remove(oldest.value);
      if (!this.byInfohash.has(infohash)) this.byInfohash.set(infohash, set);
    }
    const entry: Entry = { infohash, key, compact, at: now };
    this.entries.set(key, entry);
    set.set(key, entry);
    while (this.entries.size > this.maxPeers) {
      const oldest = this.entries.values().next();
      if (oldest.done) break;
      this.remove(oldest.value);
    }
  }

  /** Up to `n` live peers of an infohash (compact form: 6 bytes IPv4, 18 bytes IPv6), chosen at random. */
  get(infohash: string, n: number, now = Date.now()): Buffer[] {
    const set = this.byInfohash.get(infohash);
    if (!set) return [];
    const live: string[] = [];
    for (const e of set.values()) if (now - e.at < this.ttlMs) live.push(e.compact);
    for (let i = 0; i < Math.min(n, live.length); i++) {
      const j = i + Math.floor(Math.random() * (live.length - i));
      const tmp = live[i]!;
      live[i] = live[j]!;
      live[j] = tmp;
    }
    return live.slice(0, n).map((c) => Buffer.from(c, 'latin1'));
  }

  /** Drops expired announces (the oldest are first in insertion order). */
  prune(now = Date.now()): void {
    for (const e of this.entries.values()) {
      if (now - e.at < this.ttlMs) break;
      this.remove(e);
    }
  }

  private remove(e: Entry): void {
    this.entries.delete(e.key);
    const set = this.byInfohash.get(e.infohash);
    if (set) {
      set.delete(e.key);
      if (set.size === 0) this.byInfohash.delete(e.infohash);
    }
  }
}
