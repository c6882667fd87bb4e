/**
 * Remembers when each (ip, port, infohash) was last scheduled, to capture a peer again only after
 * the recapture interval. Bounded: at most `maxEntries` slots, the oldest go first (a refreshed
 * entry moves to the end).
 *
 * Compact, because a busy daemon keeps it full (1,000 distinct peers/s with the default 6 h
 * interval reach the 1,000,000 bound in 17 minutes): each key is reduced to a 64-bit hash (two
 * independent 32-bit hashes; a false "recently seen" needs a 64-bit collision, about 1 in 10^7
 * over a full table's lifetime), kept in typed arrays: a ring of slots in insertion order (hash and
 * time, 16 B) and an open-addressing index over it (linear probing, load ≤ 0.5, 8 B per slot). About
 * 24 B per entry instead of ~218 B for a Map of strings (measured by bench/capture-rate-recent.ts).
 */
export class RecentPeers {
  private readonly capacity: number;
  /** Ring of slots in insertion order: hash halves and the time each was admitted (ms). */
  private readonly hashA: Uint32Array;
  private readonly hashB: Uint32Array;
  private readonly time: Float64Array;
  /** Whether a ring slot holds a live entry (false: never used, forgotten or refreshed since). */
  private readonly live: Uint8Array;
  /** Next ring slot to write; the oldest slot once the ring has wrapped. */
  private head = 0;
  private used = 0;
  private liveCount = 0;
  /** Open addressing: ring slot + 1, 0 = empty. */
  private readonly index: Int32Array;
  private readonly mask: number;

  constructor(
    private readonly intervalMs: number,
    maxEntries = 1_000_000,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries ${maxEntries}`);
    this.capacity = maxEntries;
    this.hashA = new Uint32Array(maxEntries);
    this.hashB = new Uint32Array(maxEntries);
    this.time = new Float64Array(maxEntries);
    this.live = new Uint8Array(maxEntries);
    let size = 2;
    while (size < maxEntries * 2) size *= 2;
    this.index = new Int32Array(size);
    this.mask = size - 1;
  }

  static key(ip: string, port: number, infohash: string): string {
    return `${infohash}|${ip}|${port}`;
  }

  /** True (and records `now`) when the peer is due; false when it was scheduled within the interval. */
  admit(key: string, now: number): boolean {
    const a = hashA(key);
    const b = hashB(key);
    const pos = this.find(a, b);
    if (pos >= 0) {
      const slot = (this.index[pos] as number) - 1;
      if (now - (this.time[slot] as number) < this.intervalMs) return false;
      this.removeAt(pos);
    }
    this.append(a, b, now);
    return true;
  }

  /** Forgets a peer (e.g. a capture that could not even start), so it may be tried again. */
  forget(key: string): void {
    const pos = this.find(hashA(key), hashB(key));
    if (pos >= 0) this.removeAt(pos);
  }

  /** Live entries. */
  get size(): number {
    return this.liveCount;
  }

  /** Bytes held by the typed arrays (fixed at construction). */
  get bytes(): number {
    return this.hashA.byteLength + this.hashB.byteLength + this.time.byteLength + this.live.byteLength + this.index.byteLength;
  }

  /** Index position holding (a, b), or -1. */
  private find(a: number, b: number): number {
    const index = this.index;
    let pos = a & this.mask;
    for (;;) {
      const v = index[pos] as number;
      if (v === 0) return -1;
      const slot = v - 1;
      if (this.hashA[slot] === a && this.hashB[slot] === b) return pos;
      pos = (pos + 1) & this.mask;
    }
  }

  private append(a: number, b: number, now: number): void {
    const slot = this.head;
    if (this.used === this.capacity) {
      // The ring is full: its oldest slot goes (if still live, out of the index too).
      if (this.live[slot] === 1) this.removeAt(this.find(this.hashA[slot] as number, this.hashB[slot] as number));
    } else {
      this.used++;
    }
    this.hashA[slot] = a;
    this.hashB[slot] = b;
    this.time[slot] = now;
    this.live[slot] = 1;
    this.liveCount++;
    this.head = slot + 1 === this.capacity ? 0 : slot + 1;
    let pos = a & this.mask;
    while ((this.index[pos] as number) !== 0) pos = (pos + 1) & this.mask;
    this.index[pos] = slot + 1;
  }

  /** Removes the entry at index position `pos` (backward-shift deletion keeps probes unbroken). */
  private removeAt(pos: number): void {
    const index = this.index;
    const mask = this.mask;
    this.live[(index[pos] as number) - 1] = 0;
    this.liveCount--;
    let hole = pos;
    let next = (hole + 1) & mask;
    for (;;) {
      const v = index[next] as number;
      if (v === 0) break;
      const home = (this.hashA[v - 1] as number) & mask;
      // Move the entry at `next` into the hole unless its home lies cyclically in (hole, next].
      const inRange = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (!inRange) {
        index[hole] = v;
        hole = next;
      }
      next = (next + 1) & mask;
    }
    index[hole] = 0;
  }
}

/** FNV-1a over the UTF-16 code units. */
function hashA(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return fmix32(h); // the low bits index the table: avalanche them
}

/** A second, independent 32-bit hash (murmur3-style mixing, other seed). */
function hashB(s: string): number {
  let h = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    let k = Math.imul(s.charCodeAt(i), 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  return fmix32(h ^ s.length);
}

/** murmur3's final avalanche. */
function fmix32(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
