import type { PrefixTable } from './cidr-trie.js';
import { buildCore, namesOf, NONE, type Core, type FilterDefinition } from './filter-core.js';
import { intersectSorted, mergeSorted } from './filter-sets.js';
import { keyHash, type InfohashIndex } from './infohash-index.js';
import { buildInfohashPart, patchInfohashPart, type InfohashPart } from './infohash-part.js';

export type { FilterDefinition } from './filter-core.js';

const EMPTY = new Int32Array(0);

/** The memo of combined results holds at most this many slots (half of them used). */
const MAX_MEMO_SLOTS = 1 << 17;

/** What a patched CompiledFilters is made of (internal to this module). */
export interface CompiledParts {
  readonly core: Core;
  readonly ih: InfohashPart;
}

/**
 * The compiled, immutable form of all enabled filters. A check is a few typed-array reads, with
 * every structure it touches small enough to stay in the CPU caches (see bench/README.md):
 *
 * - the address → the id of the interned set of filters whose subnets contain it (PrefixTable:
 *   2 reads for IPv4, longest prefix wins, shorter prefixes merged in at compile time);
 * - the infohash → the id of the interned set of filters listing it (InfohashIndex: a Bloom
 *   filter, then a tag probe; the string itself is compared only if it decides the result);
 * - the country → a small id (its two character codes index a 26×26 table);
 * - the watch-all filters (empty infohash list) pass or fail together per (address set, country):
 *   one read in a table of interned results; each listed filter is a bit test for the country and
 *   a search in the address set's (short) filter list.
 *
 * Results are shared frozen arrays (interned per watch-all group, memoised per combination with
 * listed filters), so a check allocates nothing; names come in filter order.
 *
 * API infohash changes do not recompile: `withInfohashChange` returns a new CompiledFilters that
 * shares the subnet/country part and has a patched copy of the infohash part.
 */
export class CompiledFilters {
  /** Filter index → name, for enabled filters only. */
  readonly names: readonly string[];
  readonly watchesAllTorrents: boolean;
  private readonly core: Core;
  private readonly ih: InfohashPart;
  // Hot fields, copied from core and ih so a check reads them from this object.
  private readonly index: InfohashIndex;
  private readonly slots: Int32Array;
  private readonly bloom: Int32Array;
  private readonly bloomShift: number;
  private readonly slotMask: number;
  private readonly slotShift: number;
  private readonly tagShift: number;
  private readonly twinBit: number;
  private readonly idMask: number;
  private readonly ihStart: Int32Array;
  private readonly ihFlat: Int32Array;
  private readonly anyCount: number;
  private readonly v4: PrefixTable;
  private readonly v6: PrefixTable;
  private readonly top4: Int32Array;
  private readonly nodes4: Int32Array;
  /** Infohash set ids 1..singles are the single filters (id = filter index + 1). */
  private readonly singles: number;
  private readonly words: number;
  private readonly noSubnet: Int32Array;
  private readonly netStart: Int32Array;
  private readonly netFlat: Int32Array;
  private readonly ccBits: Int32Array;
  private readonly ccTable: Int32Array;
  private readonly anyNet: Int32Array;
  private readonly anyCc: Int32Array;
  private readonly pairStride: number;
  private readonly pairTable: Int32Array;
  private readonly groupNames: Array<readonly string[]>;
  // Memo of results that combine listed filters with the watch-all group: (set, mask, group) → names.
  private memoKeys: Int32Array;
  private memoNames: Array<readonly string[]>;
  private memoUsed = 0;

  /** Compiles `definitions` (the second argument is internal: see withInfohashChange). */
  constructor(definitions: readonly FilterDefinition[], parts?: CompiledParts) {
    const core = parts?.core ?? buildCore(definitions);
    const ih = parts?.ih ?? buildInfohashPart(definitions, core);
    this.core = core;
    this.ih = ih;
    this.names = core.names;
    this.watchesAllTorrents = core.any.length > 0;
    this.index = ih.index;
    this.slots = ih.index.slots;
    this.bloom = ih.index.bloom;
    this.bloomShift = ih.index.bloomShift;
    this.slotMask = ih.index.mask;
    this.slotShift = ih.index.shift;
    this.tagShift = ih.index.tagShift;
    this.twinBit = ih.index.twinBit;
    this.idMask = ih.index.idMask;
    this.ihStart = ih.ihStart;
    this.ihFlat = ih.ihFlat;
    this.anyCount = core.any.length;
    this.v4 = core.v4;
    this.v6 = core.v6;
    this.top4 = core.v4.top;
    this.nodes4 = core.v4.nodes;
    this.singles = core.names.length;
    this.words = core.words;
    this.noSubnet = core.noSubnet;
    this.netStart = core.netStart;
    this.netFlat = core.netFlat;
    this.ccBits = core.ccBits;
    this.ccTable = core.ccTable;
    this.anyNet = core.anyNet;
    this.anyCc = core.anyCc;
    this.pairStride = core.anyCcSets.size;
    this.pairTable = core.pairTable ?? EMPTY;
    this.groupNames = core.groupNames;
    this.memoKeys = EMPTY;
    this.memoNames = [];
  }

  get filterCount(): number {
    return this.names.length;
  }

  /** Every infohash some enabled filter lists (what the DHT looks up). */
  watchedInfohashes(): IterableIterator<string> {
    return this.index.keyIterator();
  }

  /** Whether some enabled filter lists this infohash (lowercase hex). */
  listsInfohash(infohash: string): boolean {
    return this.index.find(infohash) >= 0;
  }

  /** Whether any enabled filter could match a peer of this torrent (cheap pre-check). */
  wantsInfohash(infohash: string): boolean {
    return this.watchesAllTorrents || this.index.find(infohash) >= 0;
  }

  /** Sizes of the compiled structures (for benchmarks and diagnostics). */
  stats(): { infohashes: number; infohashSets: number; netSets: number; tableBytes: number; bitRowBytes: number; indexBytes: number } {
    return {
      infohashes: this.index.size,
      infohashSets: this.ih.setCount,
      netSets: this.core.netSetCount,
      indexBytes: this.index.byteLength,
      tableBytes: this.v4.byteLength + this.v6.byteLength,
      bitRowBytes: this.netStart.byteLength + this.netFlat.byteLength + this.ccBits.byteLength,
    };
  }

  /**
   * Names of the enabled filters a peer matches (AND across attributes, OR within one), in filter
   * order. `ip` is 4 or 16 bytes (see parseIpBytes); `infohash` lowercase hex. The result is shared
   * and frozen.
   */
  match(infohash: string, ip: Uint8Array, countryCode: string | undefined): readonly string[] {
    // Everything on the common path is written out here (not in helpers): V8 stops inlining
    // once a function grows, and a call per step costs more than the step.

    // 1. The address → net set id (PrefixTable.lookup4 written out for IPv4). First, so that its
    //    table reads overlap those of the infohash (which end in data-dependent branches).
    let net = 0;
    if (ip.length === 4) {
      const nodes = this.nodes4;
      const base = ~(this.top4[((ip[0] as number) << 8) | (ip[1] as number)] as number);
      const c = ((ip[2] as number) << 8) | (ip[3] as number);
      net =
        (nodes[base] as number) < 0
          ? this.v4.lookup4(ip)
          : (nodes[
              base + 4 +
                (((nodes[base + 1] as number) - c - 1) >>> 31) +
                (((nodes[base + 2] as number) - c - 1) >>> 31) +
                (((nodes[base + 3] as number) - c - 1) >>> 31)
            ] as number);
    } else if (ip.length === 16) {
      net = this.v6.lookup6(ip);
    }

    // 2. The infohash: its hash (as keyHash), the Bloom filter, then the first slot whose tag
    //    matches (usually none: v === 0).
    let h: number;
    if (infohash.length === 40) {
      const x =
        infohash.charCodeAt(0) | (infohash.charCodeAt(1) << 8) | (infohash.charCodeAt(2) << 16) | (infohash.charCodeAt(3) << 24);
      const y =
        infohash.charCodeAt(36) | (infohash.charCodeAt(37) << 8) | (infohash.charCodeAt(38) << 16) | (infohash.charCodeAt(39) << 24);
      h = Math.imul(x ^ ((y << 4) | (y >>> 28)), 0x9e3779b1);
      h ^= h >>> 15;
      h = Math.imul(h, 0x2c1b3c6d);
      h ^= h >>> 12;
    } else {
      h = keyHash(infohash);
    }
    const slots = this.slots;
    const tagShift = this.tagShift;
    const hs = h << tagShift;
    let i = h >>> this.slotShift;
    const bb = (1 << (h & 31)) | (1 << ((h >>> 5) & 31));
    let v = ((this.bloom[h >>> this.bloomShift] as number) & bb) === bb ? (slots[i] as number) : 0;
    while (v !== 0 && (v ^ hs) >>> tagShift !== 0) {
      i = (i + 1) & this.slotMask;
      v = slots[i] as number;
    }
    if (v === 0 && this.anyCount === 0) return NONE;

    // 3. The country → id.
    let cc = 0;
    if (countryCode !== undefined) {
      if (countryCode.length === 2) {
        const x = countryCode.charCodeAt(0) - 65;
        const y = countryCode.charCodeAt(1) - 65;
        cc = x >>> 0 < 26 && y >>> 0 < 26 ? (this.ccTable[x * 26 + y] as number) : this.otherCountry(countryCode);
      } else {
        cc = this.otherCountry(countryCode);
      }
    }

    // 4. The watch-all filters' result for (address, country).
    const pairIndex = (this.anyNet[net] as number) * this.pairStride + (this.anyCc[cc] as number);
    let group = pairIndex < this.pairTable.length ? (this.pairTable[pairIndex] as number) : -1;
    if (group < 0) group = this.pair(this.anyNet[net] as number, this.anyCc[cc] as number);

    // 5. Candidates: the tag says the slot may hold the infohash. Its key is compared only if one
    //    of its filters passes the address and country tests (otherwise the answer does not
    //    depend on whether it is the infohash). Only if the slot has the twin bit can the
    //    infohash be further on (another key with the same tag), so usually the search ends here.
    while (v !== 0) {
      if ((v ^ hs) >>> tagShift === 0) {
        const set = v & this.idMask;
        if (set <= this.singles) {
          // Listed by one filter (set id = filter index + 1): the common case, written out.
          const f = set - 1;
          const w = f >> 5;
          const bit = f & 31;
          if (((this.ccBits[cc * this.words + w] as number) >>> bit) & 1 && this.inNet(f, w, bit, net) && this.index.verify(i, infohash)) {
            return this.combined(set, 1, group);
          }
        } else {
          const r = this.listed(set, net, cc, group, infohash, i);
          if (r !== undefined) return r;
        }
        if ((v & this.twinBit) === 0) break;
      }
      i = (i + 1) & this.slotMask;
      v = slots[i] as number;
    }
    return this.groupNames[group] as readonly string[];
  }

  /** Whether filter f (word w, bit) has no subnets or one containing the address (net set `net`). */
  private inNet(f: number, w: number, bit: number, net: number): boolean {
    if ((((this.noSubnet[w] as number) >>> bit) & 1) === 1) return true;
    const flat = this.netFlat;
    let lo = this.netStart[net] as number;
    let hi = (this.netStart[net + 1] as number) - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const x = flat[mid] as number;
      if (x === f) return true;
      if (x < f) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /** The result if the infohash in `slot` (set `set`) is `infohash` and one of its filters passes. */
  private listed(set: number, net: number, cc: number, group: number, infohash: string, slot: number): readonly string[] | undefined {
    const from = this.ihStart[set] as number;
    const to = this.ihStart[set + 1] as number;
    if (to - from > 31) return this.matchMany(set, net, cc, group, infohash, slot);
    const flat = this.ihFlat;
    let mask = 0;
    for (let k = from; k < to; k++) if (this.passes(flat[k] as number, net, cc)) mask |= 1 << (k - from);
    if (mask === 0 || !this.index.verify(slot, infohash)) return undefined;
    return this.combined(set, mask, group);
  }

  /** Whether filter f passes the country test and the address test (net set `net`). */
  private passes(f: number, net: number, cc: number): boolean {
    const w = f >> 5;
    const bit = f & 31;
    return (((this.ccBits[cc * this.words + w] as number) >>> bit) & 1) === 1 && this.inNet(f, w, bit, net);
  }

  /** The id of a country code that is not two letters A-Z (0 if no filter lists it). */
  private otherCountry(cc: string): number {
    return this.core.ccOther?.get(cc) ?? 0;
  }

  /** The watch-all group for (address projection, country projection), computed once. */
  private pair(a: number, b: number): number {
    const core = this.core;
    const key = a * this.pairStride + b;
    const known = core.pairTable === undefined ? core.pairMap.get(key) : undefined;
    if (known !== undefined) return known;
    const group = core.groups.intern(intersectSorted(core.anyNetSets.get(a), core.anyCcSets.get(b)));
    if (group === core.groupNames.length) core.groupNames.push(namesOf(core.names, core.groups.get(group)));
    if (core.pairTable !== undefined) core.pairTable[key] = group;
    else core.pairMap.set(key, group);
    return group;
  }

  /** Listed filters (the bits of `mask` over the set's list) plus the watch-all group, memoised. */
  private combined(set: number, mask: number, group: number): readonly string[] {
    let keys = this.memoKeys;
    if (keys.length > 0) {
      const slots = keys.length >> 2;
      let i = memoHash(set, mask, group) & (slots - 1);
      for (;;) {
        const at = i << 2;
        const v = keys[at + 3] as number;
        if (v === 0) break;
        if (keys[at] === set && keys[at + 1] === mask && keys[at + 2] === group) return this.memoNames[v - 1] as readonly string[];
        i = (i + 1) & (slots - 1);
      }
    }
    const from = this.ihStart[set] as number;
    const listed: number[] = [];
    for (let k = 0; k < 31; k++) if ((mask >>> k) & 1) listed.push(this.ihFlat[from + k] as number);
    const names = namesOf(this.names, mergeSorted(listed, this.core.groups.get(group)));
    if ((this.memoUsed + 1) * 2 > keys.length >> 2) {
      if (keys.length >> 2 >= MAX_MEMO_SLOTS) return names; // full: no more memoising
      keys = this.growMemo();
    }
    const slots = keys.length >> 2;
    let i = memoHash(set, mask, group) & (slots - 1);
    while ((keys[(i << 2) + 3] as number) !== 0) i = (i + 1) & (slots - 1);
    this.memoNames.push(names);
    this.memoUsed++;
    keys.set([set, mask, group, this.memoNames.length], i << 2);
    return names;
  }

  private growMemo(): Int32Array {
    const old = this.memoKeys;
    const slots = Math.max(1024, (old.length >> 2) * 2);
    const keys = new Int32Array(slots * 4);
    for (let at = 0; at < old.length; at += 4) {
      if ((old[at + 3] as number) === 0) continue;
      let i = memoHash(old[at] as number, old[at + 1] as number, old[at + 2] as number) & (slots - 1);
      while ((keys[(i << 2) + 3] as number) !== 0) i = (i + 1) & (slots - 1);
      keys.set(old.subarray(at, at + 4), i << 2);
    }
    this.memoKeys = keys;
    return keys;
  }

  /** An infohash listed by more than 31 filters: tests each one, not memoised. */
  private matchMany(set: number, net: number, cc: number, group: number, infohash: string, slot: number): readonly string[] | undefined {
    const from = this.ihStart[set] as number;
    const to = this.ihStart[set + 1] as number;
    const listed: number[] = [];
    for (let k = from; k < to; k++) {
      const f = this.ihFlat[k] as number;
      if (this.passes(f, net, cc)) listed.push(f);
    }
    if (listed.length === 0 || !this.index.verify(slot, infohash)) return undefined;
    return namesOf(this.names, mergeSorted(listed, this.core.groups.get(group)));
  }

  /**
   * The filters after one API change of one filter's infohash list, without recompiling: the
   * subnet/country part is shared, the infohash part is a patched copy (this object is unchanged).
   * `definitionIndex` is the filter's index in the definitions this was compiled from. Returns
   * undefined when the change needs a full compile: it would turn a watch-all filter (empty list)
   * into a listing one or the reverse.
   */
  withInfohashChange(definitionIndex: number, infohash: string, op: 'add' | 'delete'): CompiledFilters | undefined {
    const f = this.core.enabledIndex[definitionIndex];
    if (f === undefined) return undefined;
    // A disabled filter (f < 0): nothing to match changes.
    const ih = f < 0 ? 'same' : patchInfohashPart(this.ih, f, infohash, op);
    if (ih === undefined) return undefined;
    return new CompiledFilters([], { core: this.core, ih: ih === 'same' ? this.ih : ih });
  }
}

function memoHash(set: number, mask: number, group: number): number {
  return (Math.imul(set, 0x9e3779b1) ^ Math.imul(mask, 0x85ebca6b) ^ Math.imul(group + 1, 0xc2b2ae35)) >>> 7;
}
