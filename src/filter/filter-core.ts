import { CidrTrie, parseCidrBytes, PrefixTable } from './cidr-trie.js';
import { SetInterner } from './filter-sets.js';

/**
 * The address and country part of the compiled filters (see CompiledFilters): subnet prefix
 * tables, the country table, per-set filter lists and the watch-all filters' projections, built
 * from the filter definitions in one pass.
 */

/** A filter as the matcher needs it: the effective infohash list (config + API overlay). */
export interface FilterDefinition {
  name: string;
  infohashes: readonly string[];
  subnets: readonly string[];
  countryCodes: readonly string[];
  enabled: boolean;
}

/** The shared empty result. */
export const NONE: readonly string[] = Object.freeze([]);

/** Pair tables larger than this (entries) are replaced by a Map. */
const MAX_PAIR_TABLE = 1 << 22;

/**
 * Everything but the infohash part: subnet tables, country table, per-set filter lists and the
 * watch-all filters' results. Built once per full compile and shared, unchanged, by every
 * CompiledFilters patched from it (its caches only grow).
 */
export interface Core {
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

/** Names of the filters (indexes into `names`), frozen; NONE when empty. */
export function namesOf(names: readonly string[], filters: ArrayLike<number>): readonly string[] {
  if (filters.length === 0) return NONE;
  return Object.freeze(Array.from(filters, (f) => names[f] as string));
}

function setBit(row: Int32Array, base: number, f: number): void {
  row[base + (f >> 5)] = (row[base + (f >> 5)] as number) | (1 << (f & 31));
}

function hasBit(row: Int32Array, base: number, f: number): boolean {
  return (((row[base + (f >> 5)] as number) >>> (f & 31)) & 1) === 1;
}

/** Compiles the address and country part of the enabled definitions. */
export function buildCore(definitions: readonly FilterDefinition[]): Core {
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
