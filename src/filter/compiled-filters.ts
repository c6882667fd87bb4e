import { CidrTrie, parseCidrBytes, PrefixTable } from './cidr-trie.js';
import { mergeSorted, SetInterner } from './filter-sets.js';
import { InfohashIndex, keyHash } from './infohash-index.js';

/** A filter as the matcher needs it: the effective infohash list (config + API overlay). */
export interface FilterDefinition {
  name: string;
  infohashes: readonly string[];
  subnets: readonly string[];
  countryCodes: readonly string[];
  enabled: boolean;
}

const NONE: readonly string[] = Object.freeze([]);
const EMPTY = new Int32Array(0);

/** Pair tables larger than this (entries) are replaced by a Map. */
const MAX_PAIR_TABLE = 1 << 22;
/** The memo of combined results holds at most this many slots (half of them used). */
const MAX_MEMO_SLOTS = 1 << 17;

/**
 * Everything but the infohash part: subnet tables, country table, per-set filter lists and the
 * watch-all filters' results. Built once per full compile and shared, unchanged, by every
 * CompiledFilters patched from it (its caches only grow).
 */
interface Core {
  readonly names: readonly string[];
  /** Definition index → enabled filter index, or -1 for a disabled filter. */
  readonly enabledIndex: Int32Array;
  /** Enabled filters that list no infohash (watch every torrent), ascending. */
  readonly any: Int32Array;
  /** Int32 words per bit row (one bit per enabled filter). */
  readonly words: number;
  readonly v4: PrefixTable;
  readonly v6: PrefixTable;
  /** Bit row of the filters without subnets (every address passes them). */
  readonly noSubnet: Int32Array;
  /** Net set id → the filters whose subnets contain the address: netFlat[netStart[id] .. netStart[id + 1]), ascending. */
  readonly netStart: Int32Array;
  readonly netFlat: Int32Array;
  /** Country id → bit row: filters the country passes (listed, or no countries); id 0 = none. */
  readonly ccBits: Int32Array;
  /** "AA".."ZZ" → country id (index (c0 - 65) * 26 + (c1 - 65)). */
  readonly ccTable: Int32Array;
  /** Country codes of any other shape → country id. */
  readonly ccOther: Map<string, number> | undefined;
  /** Net set id → id of the watch-all filters it passes (in anyNetSets). */
  readonly anyNet: Int32Array;
  /** Country id → id of the watch-all filters it passes (in anyCcSets). */
  readonly anyCc: Int32Array;
  readonly anyNetSets: SetInterner;
  readonly anyCcSets: SetInterner;
  /** (anyNet, anyCc) → group id, filled on demand (-1 = not yet); undefined when too large. */
  readonly pairTable: Int32Array | undefined;
  readonly pairMap: Map<number, number>;
  /** Groups: results of the watch-all filters alone; group → names (frozen), filled on demand. */
  readonly groups: SetInterner;
  readonly groupNames: Array<readonly string[]>;
  readonly netSetCount: number;
}

/** The infohash part: which filters list each infohash. Replaced (copy-on-write) by API changes. */
interface InfohashPart {
  /** Infohash → set id (> 0). */
  readonly index: InfohashIndex;
  /** Set id → its filters: ihFlat[ihStart[id] .. ihStart[id + 1]), ascending. Id 0 = empty. */
  readonly ihStart: Int32Array;
  readonly ihFlat: Int32Array;
  readonly setCount: number;
  /** List text → set id. Shared and only appended to; an id is checked against ihFlat before use. */
  readonly interned: Map<string, number>;
  /** Enabled filter index → number of infohashes it lists. */
  readonly listCount: Int32Array;
}

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
    const same = (): CompiledFilters => new CompiledFilters([], { core: this.core, ih: this.ih });
    if (f < 0) return same(); // a disabled filter: nothing to match changes
    const ih = this.ih;
    const key = infohash.toLowerCase();
    const cur = ih.index.get(key);
    const list = cur === 0 ? EMPTY : ih.ihFlat.subarray(ih.ihStart[cur], ih.ihStart[cur + 1]);
    const has = list.includes(f);
    const count = ih.listCount[f] as number;
    let next: Int32Array;
    if (op === 'add') {
      if (has) return same();
      if (count === 0) return undefined;
      next = mergeSorted(list, [f]);
    } else {
      if (!has) return same();
      if (count === 1) return undefined;
      next = list.filter((x) => x !== f);
    }
    const listCount = ih.listCount.slice();
    listCount[f] = count + (op === 'add' ? 1 : -1);
    let { ihStart, ihFlat, setCount } = ih;
    let id = 0;
    if (next.length > 0) {
      const text = next.join(',');
      const known = ih.interned.get(text);
      if (known !== undefined && known < setCount && sameList(ihFlat, ihStart, known, next)) {
        id = known;
      } else {
        id = setCount++;
        const start = new Int32Array(setCount + 1);
        start.set(ihStart);
        const flat = new Int32Array(ihFlat.length + next.length);
        flat.set(ihFlat);
        flat.set(next, ihFlat.length);
        start[setCount] = flat.length;
        ihStart = start;
        ihFlat = flat;
        ih.interned.set(text, id);
      }
    }
    const index = ih.index.withChanges([[key, id]], setCount - 1);
    return new CompiledFilters([], { core: this.core, ih: { index, ihStart, ihFlat, setCount, interned: ih.interned, listCount } });
  }
}

function memoHash(set: number, mask: number, group: number): number {
  return (Math.imul(set, 0x9e3779b1) ^ Math.imul(mask, 0x85ebca6b) ^ Math.imul(group + 1, 0xc2b2ae35)) >>> 7;
}

function sameList(flat: Int32Array, start: Int32Array, id: number, list: Int32Array): boolean {
  const from = start[id] as number;
  if ((start[id + 1] as number) - from !== list.length) return false;
  for (let i = 0; i < list.length; i++) if (flat[from + i] !== list[i]) return false;
  return true;
}

function namesOf(names: readonly string[], filters: ArrayLike<number>): readonly string[] {
  if (filters.length === 0) return NONE;
  return Object.freeze(Array.from(filters, (f) => names[f] as string));
}

function intersectSorted(a: Int32Array, b: Int32Array): Int32Array {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as number;
    const y = b[j] as number;
    if (x < y) i++;
    else if (y < x) j++;
    else {
      out.push(x);
      i++;
      j++;
    }
  }
  return Int32Array.from(out);
}

function setBit(row: Int32Array, base: number, f: number): void {
  row[base + (f >> 5)] = (row[base + (f >> 5)] as number) | (1 << (f & 31));
}

function hasBit(row: Int32Array, base: number, f: number): boolean {
  return (((row[base + (f >> 5)] as number) >>> (f & 31)) & 1) === 1;
}

function buildCore(definitions: readonly FilterDefinition[]): Core {
  const enabledIndex = new Int32Array(definitions.length).fill(-1);
  const enabled: FilterDefinition[] = [];
  definitions.forEach((d, i) => {
    if (!d.enabled) return;
    enabledIndex[i] = enabled.length;
    enabled.push(d);
  });
  const n = enabled.length;
  const words = Math.max(1, Math.ceil(n / 32));
  const names = Object.freeze(enabled.map((d) => d.name));
  const any = Int32Array.from(enabled.flatMap((d, f) => (d.infohashes.length === 0 ? [f] : [])));

  // Subnets: a binary trie per family with each prefix's own filters, merged downwards, expanded.
  const nets = new SetInterner();
  const trie4 = new CidrTrie(32);
  const trie6 = new CidrTrie(128);
  enabled.forEach((d, f) => {
    const own = nets.intern(Int32Array.of(f));
    for (const cidr of d.subnets) {
      const { bytes, prefix } = parseCidrBytes(cidr);
      const trie = bytes.length === 4 ? trie4 : trie6;
      const node = trie.insert(bytes, prefix);
      trie.setValue(node, nets.union(trie.getValue(node), own));
    }
  });
  const merge = (parent: number, own: number): number => nets.union(parent, own);
  trie4.pushDown(merge);
  trie6.pushDown(merge);
  const v4 = new PrefixTable(trie4);
  const v6 = new PrefixTable(trie6);

  const noSubnet = new Int32Array(words);
  const noCountry = new Int32Array(words);
  enabled.forEach((d, f) => {
    if (d.subnets.length === 0) setBit(noSubnet, 0, f);
    if (d.countryCodes.length === 0) setBit(noCountry, 0, f);
  });
  const netStart = new Int32Array(nets.size + 1);
  for (let s = 0; s < nets.size; s++) netStart[s + 1] = (netStart[s] as number) + nets.get(s).length;
  const netFlat = new Int32Array(netStart[nets.size] as number);
  for (let s = 0; s < nets.size; s++) netFlat.set(nets.get(s), netStart[s] as number);

  // Countries: id 0 = unknown or listed by no filter.
  const ccIds = new Map<string, number>();
  const ccFilters: number[][] = [[]];
  enabled.forEach((d, f) => {
    for (const code of d.countryCodes) {
      const key = code.toUpperCase();
      let id = ccIds.get(key);
      if (id === undefined) {
        id = ccFilters.length;
        ccIds.set(key, id);
        ccFilters.push([]);
      }
      const list = ccFilters[id] as number[];
      if (list[list.length - 1] !== f) list.push(f);
    }
  });
  const ccBits = new Int32Array(ccFilters.length * words);
  ccFilters.forEach((list, c) => {
    ccBits.set(noCountry, c * words);
    for (const f of list) setBit(ccBits, c * words, f);
  });
  const ccTable = new Int32Array(26 * 26);
  let ccOther: Map<string, number> | undefined;
  for (const [code, id] of ccIds) {
    const x = code.charCodeAt(0) - 65;
    const y = code.charCodeAt(1) - 65;
    if (code.length === 2 && x >>> 0 < 26 && y >>> 0 < 26) ccTable[x * 26 + y] = id;
    else (ccOther ??= new Map()).set(code, id);
  }

  // The watch-all filters, projected onto each net set and each country.
  const anyNetSets = new SetInterner();
  const anyCcSets = new SetInterner();
  const anyNet = new Int32Array(nets.size);
  for (let s = 0; s < nets.size; s++) {
    const set = nets.get(s);
    anyNet[s] = anyNetSets.intern(any.filter((f) => hasBit(noSubnet, 0, f) || set.includes(f)));
  }
  const anyCc = new Int32Array(ccFilters.length);
  for (let c = 0; c < ccFilters.length; c++) anyCc[c] = anyCcSets.intern(any.filter((f) => hasBit(ccBits, c * words, f)));
  const pairSize = anyNetSets.size * anyCcSets.size;
  const pairTable = pairSize <= MAX_PAIR_TABLE ? new Int32Array(pairSize).fill(-1) : undefined;
  const groups = new SetInterner();

  return {
    names,
    enabledIndex,
    any,
    words,
    v4,
    v6,
    noSubnet,
    netStart,
    netFlat,
    ccBits,
    ccTable,
    ccOther,
    anyNet,
    anyCc,
    anyNetSets,
    anyCcSets,
    pairTable,
    pairMap: new Map(),
    groups,
    groupNames: [NONE],
    netSetCount: nets.size,
  };
}

function buildInfohashPart(definitions: readonly FilterDefinition[], core: Core): InfohashPart {
  const lists = new Map<string, number[]>();
  const listCount = new Int32Array(core.names.length);
  definitions.forEach((d, i) => {
    const f = core.enabledIndex[i] as number;
    if (f < 0) return;
    for (const ih of d.infohashes) {
      const key = ih.toLowerCase();
      let list = lists.get(key);
      if (!list) lists.set(key, (list = []));
      if (list[list.length - 1] !== f) {
        list.push(f);
        listCount[f] = (listCount[f] as number) + 1;
      }
    }
  });
  const interned = new Map<string, number>();
  const starts = [0, 0];
  const flat: number[] = [];
  const entries: Array<[string, number]> = [];
  // Ids 1..n: each filter alone (the matcher recognises them by id).
  for (let f = 0; f < core.names.length; f++) {
    interned.set(String(f), f + 1);
    flat.push(f);
    starts.push(flat.length);
  }
  for (const [key, list] of lists) {
    const text = list.join(',');
    let id = interned.get(text);
    if (id === undefined) {
      id = starts.length - 1;
      interned.set(text, id);
      for (const f of list) flat.push(f);
      starts.push(flat.length);
    }
    entries.push([key, id]);
  }
  return {
    index: InfohashIndex.build(entries, starts.length - 2),
    ihStart: Int32Array.from(starts),
    ihFlat: Int32Array.from(flat),
    setCount: starts.length - 1,
    interned,
    listCount,
  };
}
