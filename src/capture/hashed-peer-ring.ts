/**
 * A bounded map from string keys (peers: ip, port, maybe an infohash) to a time and a small tag,
 * kept compact because the daemon's peer memories hold hundreds of thousands of entries: each key
 * is reduced to a 64-bit hash (two independent 32-bit hashes; a false match needs a 64-bit
 * collision, about 1 in 10^7 over a full table's lifetime), kept in typed arrays: a ring of slots
 * in insertion order (hash halves, time, tag: 17 B) and an open-addressing index over it (linear
 * probing, load ≤ 0.5: 4-B index slots, a power of two ≥ twice the capacity). 25-34 B per entry
 * (25 at 500,000 and 1,000,000) instead of ~218 B for a Map of strings (measured by
 * bench/capture-rate-recent.ts). Setting a key again moves it to the ring's end; when
 * the ring is full, its oldest slot goes. All memory is allocated at construction.
 */
export class HashedPeerRing {
  readonly capacity: number;
  /** Ring of slots in insertion order: hash halves, the entry's time and tag. */
  private readonly hashA: Uint32Array;
  private readonly hashB: Uint32Array;
  private readonly time: Float64Array;
  /** 0: the slot holds no live entry (never used, deleted or set again since); else the entry's tag. */
  private readonly tag: Uint8Array;
  /** Next ring slot to write; the oldest slot once the ring has wrapped. */
  private head = 0;
  private used = 0;
  private liveCount = 0;
  /** Open addressing: ring slot + 1, 0 = empty. */
  private readonly index: Int32Array;
  private readonly mask: number;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity ${capacity}`);
    this.capacity = capacity;
    this.hashA = new Uint32Array(capacity);
    this.hashB = new Uint32Array(capacity);
    this.time = new Float64Array(capacity);
    this.tag = new Uint8Array(capacity);
    let size = 2;
    while (size < capacity * 2) size *= 2;
    this.index = new Int32Array(size);
    this.mask = size - 1;
  }

  /** The entry for `key`, or undefined. */
  get(key: string): { time: number; tag: number } | undefined {
    return this.getHashed(hashA(key), hashB(key));
  }

  getHashed(a: number, b: number): { time: number; tag: number } | undefined {
    const pos = this.find(a, b);
    if (pos < 0) return undefined;
    const slot = (this.index[pos] as number) - 1;
    return { time: this.time[slot] as number, tag: this.tag[slot] as number };
  }

  /**
   * Sets `key` (moved to the ring's end; an entry it had is replaced: delete it first to learn its
   * tag). `tag` 1-255. Returns the tag of an entry the full ring dropped to make room (0: none),
   * so that callers can keep per-tag counts.
   */
  set(key: string, time: number, tag: number): number {
    return this.setHashed(hashA(key), hashB(key), time, tag);
  }

  setHashed(a: number, b: number, time: number, tag: number): number {
    if (!Number.isInteger(tag) || tag < 1 || tag > 255) throw new RangeError(`tag ${tag}`);
    const pos = this.find(a, b);
    if (pos >= 0) this.removeAt(pos);
    return this.append(a >>> 0, b >>> 0, time, tag);
  }

  /** Deletes `key`; returns its tag (0: it was not there). */
  delete(key: string): number {
    return this.deleteHashed(hashA(key), hashB(key));
  }

  deleteHashed(a: number, b: number): number {
    const pos = this.find(a, b);
    return pos < 0 ? 0 : this.removeAt(pos);
  }

  /** Live entries. */
  get size(): number {
    return this.liveCount;
  }

  /** Bytes held by the typed arrays (fixed at construction). */
  get bytes(): number {
    return this.hashA.byteLength + this.hashB.byteLength + this.time.byteLength + this.tag.byteLength + this.index.byteLength;
  }

  /** Live entries, oldest first: [hashA, hashB, time, tag]. */
  *entries(): IterableIterator<[number, number, number, number]> {
    const start = this.used === this.capacity ? this.head : 0;
    for (let n = 0; n < this.used; n++) {
      const slot = (start + n) % this.capacity;
      const t = this.tag[slot] as number;
      if (t !== 0) yield [this.hashA[slot] as number, this.hashB[slot] as number, this.time[slot] as number, t];
    }
  }

  /** Index position holding (a, b), or -1. */
  private find(a: number, b: number): number {
    const index = this.index;
    const ua = a >>> 0;
    const ub = b >>> 0;
    let pos = ua & this.mask;
    for (;;) {
      const v = index[pos] as number;
      if (v === 0) return -1;
      const slot = v - 1;
      if (this.hashA[slot] === ua && this.hashB[slot] === ub) return pos;
      pos = (pos + 1) & this.mask;
    }
  }

  private append(a: number, b: number, time: number, tag: number): number {
    const slot = this.head;
    let evicted = 0;
    if (this.used === this.capacity) {
      // The ring is full: its oldest slot goes (if still live, out of the index too).
      if (this.tag[slot] !== 0) evicted = this.removeAt(this.find(this.hashA[slot] as number, this.hashB[slot] as number));
    } else {
      this.used++;
    }
    this.hashA[slot] = a;
    this.hashB[slot] = b;
    this.time[slot] = time;
    this.tag[slot] = tag;
    this.liveCount++;
    this.head = slot + 1 === this.capacity ? 0 : slot + 1;
    let pos = a & this.mask;
    while ((this.index[pos] as number) !== 0) pos = (pos + 1) & this.mask;
    this.index[pos] = slot + 1;
    return evicted;
  }

  /** Removes the entry at index position `pos` (backward-shift deletion keeps probes unbroken); returns its tag. */
  private removeAt(pos: number): number {
    const index = this.index;
    const mask = this.mask;
    const slot = (index[pos] as number) - 1;
    const tag = this.tag[slot] as number;
    this.tag[slot] = 0;
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
    return tag;
  }
}

/** FNV-1a over the UTF-16 code units. */
export function hashA(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return fmix32(h); // the low bits index the table: avalanche them
}

/** A second, independent 32-bit hash (murmur3-style mixing, other seed). */
export function hashB(s: string): number {
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
