/**
 * Infohash → set id (> 0), as an open-addressing table in one Int32Array. A lookup hashes 8
 * characters of the string (the first and last 4: an infohash is uniformly random hex, and keys
 * that share a prefix, like test data, still spread), tests a small Bloom filter (most infohashes
 * are in no filter and stop there, without touching the larger slot array) and probes the slots
 * (linear probing, load ≤ 1/2). A slot packs the low bits of that hash (a tag) above the set id,
 * so one 4-byte read tells whether the slot may hold the key and, if so, which filters list it.
 * The key itself is compared (`verify`) only when that matters: CompiledFilters.match first
 * checks whether one of the candidate's filters would match the peer at all (usually not), and
 * compares the string only then (the stored key is rarely in cache). `find` always compares.
 *
 * Keys are compared exactly, like Map keys (callers pass lowercase hex).
 *
 * Immutable: `withChanges` returns a patched copy and leaves this one untouched, so a reader of
 * the old index always sees a complete table.
 */

const GOLDEN = 0x9e3779b1 | 0;

/** 32-bit hash of a key from 8 of its characters. */
export function keyHash(s: string): number {
  const n = s.length;
  let a: number;
  let b: number;
  if (n >= 8) {
    a = s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24);
    b = s.charCodeAt(n - 4) | (s.charCodeAt(n - 3) << 8) | (s.charCodeAt(n - 2) << 16) | (s.charCodeAt(n - 1) << 24);
  } else {
    a = n;
    b = 0;
    for (let i = 0; i < n; i++) a = Math.imul(a ^ s.charCodeAt(i), 0x01000193);
  }
  // Hex digits vary mostly in their low nibble: move b's into the high nibbles, then mix.
  let h = Math.imul(a ^ ((b << 4) | (b >>> 28)), GOLDEN);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 12);
}

/** The two bits a hash sets in its Bloom word. */
export function bloomBits(h: number): number {
  return (1 << (h & 31)) | (1 << ((h >>> 5) & 31));
}

function bitsFor(n: number): number {
  return 32 - Math.clz32(n);
}

export class InfohashIndex {
  /**
   * Per slot: (hash << tagShift) | twin bit | set id, 0 = empty. The slot's home is the hash's
   * top bits, the tag its low (32 - tagShift) bits: `((slot ^ (hash << tagShift)) >>> tagShift)
   * === 0` on a candidate. The twin bit (`twinBit`) says that a key with the same tag lies later
   * in some key's probe run: a search that rejects this slot's key must go on; without it, it can
   * stop there.
   */
  readonly slots: Int32Array;
  /** Slot → key (the empty string for an empty slot). */
  private readonly keys: string[];
  /** Bits of a slot that hold the set id. */
  readonly idBits: number;
  readonly idMask: number;
  readonly tagShift: number;
  readonly twinBit: number;
  /** Slot count - 1. */
  readonly mask: number;
  /** 32 - log2(slot count): `hash >>> shift` is the home slot. */
  readonly shift: number;
  readonly size: number;
  /**
   * A one-word-per-key Bloom filter over the same hash, small enough to stay in the L2 cache:
   * word `(hash >>> bloomShift)`, bits `hash & 31` and `(hash >>> 5) & 31`. Most infohashes no
   * filter lists fail it without touching the (larger) slot array. Never cleared by removals
   * (a stale bit only costs a probe).
   */
  readonly bloom: Int32Array;
  readonly bloomShift: number;
  private constructor(slots: Int32Array, keys: string[], idBits: number, size: number, bloom: Int32Array) {
    this.slots = slots;
    this.keys = keys;
    this.idBits = idBits;
    this.idMask = (1 << idBits) - 1;
    this.tagShift = idBits + 1;
    this.twinBit = 1 << idBits;
    this.mask = slots.length - 1;
    this.shift = 32 - Math.log2(slots.length);
    this.size = size;
    this.bloom = bloom;
    this.bloomShift = 32 - Math.log2(bloom.length);
  }

  /** An index of the given keys (each once) with their set ids (1 ≤ id; `maxId` ≥ every id). */
  static build(entries: ReadonlyArray<readonly [string, number]>, maxId: number): InfohashIndex {
    // Room for ids created by later patches (withChanges rebuilds if they outgrow it).
    const idBits = Math.min(24, Math.max(8, bitsFor(maxId * 2 + 16)));
    const cap = slotCapacity(entries.length);
    // ~10 bits per key (at least 64 words).
    let words = 64;
    while (words * 32 < entries.length * 10) words *= 2;
    const index = new InfohashIndex(new Int32Array(cap), new Array<string>(cap).fill(''), idBits, entries.length, new Int32Array(words));
    for (const [k, id] of entries) index.place(k, id);
    return index;
  }

  /** The key of an occupied slot. */
  keyAt(slot: number): string {
    return this.keys[slot] as string;
  }

  /** Whether the key in an occupied slot is `s`. */
  verify(slot: number, s: string): boolean {
    return this.keys[slot] === s;
  }

  /** Bytes of the typed arrays (the key strings not counted). */
  get byteLength(): number {
    return this.slots.byteLength + this.bloom.byteLength;
  }

  /** Every key. */
  *keyIterator(): IterableIterator<string> {
    for (let i = 0; i < this.slots.length; i++) if ((this.slots[i] as number) !== 0) yield this.keys[i] as string;
  }

  /** Whether a key with this hash may be in the index (false: certainly not). */
  mayHold(h: number): boolean {
    return ((this.bloom[h >>> this.bloomShift] as number) & bloomBits(h)) === bloomBits(h);
  }

  /** The slot of a key, or -1. */
  find(s: string): number {
    const h = keyHash(s);
    if (!this.mayHold(h)) return -1;
    const hs = h << this.tagShift;
    const slots = this.slots;
    let i = h >>> this.shift;
    for (;;) {
      const v = slots[i] as number;
      if (v === 0) return -1;
      if ((v ^ hs) >>> this.tagShift === 0) {
        if (this.verify(i, s)) return i;
        if ((v & this.twinBit) === 0) return -1;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** The set id of a key, or 0 if it is not in the index. */
  get(s: string): number {
    const i = this.find(s);
    return i < 0 ? 0 : (this.slots[i] as number) & this.idMask;
  }

  private place(k: string, id: number): void {
    const h = keyHash(k);
    const hs = h << this.tagShift;
    let i = h >>> this.shift;
    // Keys with the same tag on the way (searches for this key pass them) get the twin bit. This
    // key's own bit matters only to searches that pass it: keys placed later set it. Removals
    // only shift keys back within their runs, so the bits stay valid (at worst needlessly set).
    for (let v = this.slots[i] as number; v !== 0; v = this.slots[i] as number) {
      if ((v ^ hs) >>> this.tagShift === 0) this.slots[i] = v | this.twinBit;
      i = (i + 1) & this.mask;
    }
    this.slots[i] = hs | id;
    this.keys[i] = k;
    const w = h >>> this.bloomShift;
    this.bloom[w] = (this.bloom[w] as number) | bloomBits(h);
  }

  /** Empties slot `i`, shifting later members of its probe run back (no tombstones). */
  private unplace(i: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const v = slots[j] as number;
      if (v === 0) break;
      const home = keyHash(this.keys[j] as string) >>> this.shift;
      // The entry at j may move back into the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!stays) {
        slots[hole] = v;
        this.keys[hole] = this.keys[j] as string;
        hole = j;
      }
    }
    slots[hole] = 0;
    this.keys[hole] = '';
  }

  /**
   * A copy with the given changes applied in order: key → new set id (> 0), or 0 to remove the
   * key. Costs a copy of the slot array and the key array (about a millisecond for 100,000 keys);
   * rebuilds when the table would get too full or an id does not fit.
   */
  withChanges(changes: ReadonlyArray<readonly [string, number]>, maxId: number): InfohashIndex {
    let adds = 0;
    for (const [k, v] of changes) if (v !== 0 && this.find(k) < 0) adds++;
    if (slotCapacity(this.size + adds) > this.slots.length || bitsFor(maxId) > this.idBits) {
      const map = new Map<string, number>();
      for (let i = 0; i < this.slots.length; i++) {
        const v = this.slots[i] as number;
        if (v !== 0) map.set(this.keys[i] as string, v & this.idMask);
      }
      for (const [k, v] of changes) {
        if (v === 0) map.delete(k);
        else map.set(k, v);
      }
      return InfohashIndex.build([...map], maxId);
    }
    let size = this.size;
    const next = new InfohashIndex(this.slots.slice(), this.keys.slice(), this.idBits, 0, this.bloom.slice());
    for (const [k, v] of changes) {
      const i = next.find(k);
      if (v !== 0) {
        if (i >= 0) next.slots[i] = ((next.slots[i] as number) & ~next.idMask) | v;
        else {
          next.place(k, v);
          size++;
        }
      } else if (i >= 0) {
        next.unplace(i);
        size--;
      }
    }
    return new InfohashIndex(next.slots, next.keys, next.idBits, size, next.bloom);
  }
}

/**
 * Slot count (a power of two ≥ 16) that keeps the load at or below 1/2 (measured: 2–3% faster
 * checks than 0.8 with 100,000 keys, for twice the 4-byte slots).
 */
function slotCapacity(count: number): number {
  let cap = 16;
  while (cap * 0.5 < count) cap *= 2;
  return cap;
}
