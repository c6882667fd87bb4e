import { CidrTrie, parseCidrBytes } from './cidr-trie.js';

/** A filter as the matcher needs it: the effective infohash list (config + API overlay). */
export interface FilterDefinition {
  name: string;
  infohashes: readonly string[];
  subnets: readonly string[];
  countryCodes: readonly string[];
  enabled: boolean;
}

const NONE: readonly string[] = Object.freeze([]);

/**
 * The compiled, immutable form of all enabled filters. A check costs one hash lookup for the
 * infohash; only when some filter can match does it walk the CIDR trie (v4 or v6) and look up
 * the country, and then tests one bit per candidate filter.
 */
export class CompiledFilters {
  /** Filter index → name, for enabled filters only. */
  readonly names: readonly string[];
  /** Infohash → indexes of filters that list it. */
  private readonly byInfohash = new Map<string, Int32Array>();
  /** Indexes of filters that watch every torrent (empty infohash list). */
  private readonly anyInfohash: Int32Array;
  private readonly anySubnet: Uint8Array;
  private readonly anyCountry: Uint8Array;
  private readonly trie4 = new CidrTrie(32);
  private readonly trie6 = new CidrTrie(128);
  /** Deduplicated filter sets: the tries' values index into this. */
  private readonly subnetSets: Uint8Array[] = [];
  private readonly countrySets = new Map<string, Uint8Array>();
  readonly watchesAllTorrents: boolean;

  constructor(definitions: readonly FilterDefinition[]) {
    const enabled = definitions.filter((d) => d.enabled);
    const n = enabled.length;
    this.names = enabled.map((d) => d.name);
    this.anySubnet = new Uint8Array(n);
    this.anyCountry = new Uint8Array(n);
    const any: number[] = [];
    const lists = new Map<string, number[]>();
    const setIds = new Map<string, number>();
    const internSet = (set: Uint8Array): number => {
      const key = Buffer.from(set.buffer, set.byteOffset, set.byteLength).toString('latin1');
      let id = setIds.get(key);
      if (id === undefined) {
        id = this.subnetSets.length;
        this.subnetSets.push(set);
        setIds.set(key, id);
      }
      return id;
    };
    const union = (a: number, b: number): number => {
      if (b < 0) return a;
      const sa = this.subnetSets[a] as Uint8Array;
      const sb = this.subnetSets[b] as Uint8Array;
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = (sa[i] as number) | (sb[i] as number);
      return internSet(out);
    };

    enabled.forEach((d, idx) => {
      if (d.infohashes.length === 0) any.push(idx);
      for (const ih of new Set(d.infohashes)) {
        const key = ih.toLowerCase();
        let list = lists.get(key);
        if (!list) lists.set(key, (list = []));
        list.push(idx);
      }
      if (d.subnets.length === 0) this.anySubnet[idx] = 1;
      for (const cidr of d.subnets) {
        const { bytes, prefix } = parseCidrBytes(cidr);
        const trie = bytes.length === 4 ? this.trie4 : this.trie6;
        const node = trie.insert(bytes, prefix);
        const own = new Uint8Array(n);
        own[idx] = 1;
        const prev = trie.getValue(node);
        trie.setValue(node, prev < 0 ? internSet(own) : union(prev, internSet(own)));
      }
      if (d.countryCodes.length === 0) this.anyCountry[idx] = 1;
      for (const cc of d.countryCodes) {
        const key = cc.toUpperCase();
        let set = this.countrySets.get(key);
        if (!set) this.countrySets.set(key, (set = new Uint8Array(n)));
        set[idx] = 1;
      }
    });
    for (const [ih, list] of lists) this.byInfohash.set(ih, Int32Array.from(list));
    this.anyInfohash = Int32Array.from(any);
    this.watchesAllTorrents = any.length > 0;
    this.trie4.pushDown(union);
    this.trie6.pushDown(union);
  }

  get filterCount(): number {
    return this.names.length;
  }

  /** Every infohash some enabled filter lists (what the DHT looks up). */
  watchedInfohashes(): IterableIterator<string> {
    return this.byInfohash.keys();
  }

  /** Whether any enabled filter could match a peer of this torrent (cheap pre-check). */
  wantsInfohash(infohash: string): boolean {
    return this.watchesAllTorrents || this.byInfohash.has(infohash);
  }

  /**
   * Names of the enabled filters a peer matches (AND across attributes, OR within one).
   * `ip` is 4 or 16 bytes (see parseIpBytes); `infohash` lowercase hex.
   */
  match(infohash: string, ip: Uint8Array, countryCode: string | undefined): readonly string[] {
    const listed = this.byInfohash.get(infohash);
    if (listed === undefined && this.anyInfohash.length === 0) return NONE;
    let subnetSet: Uint8Array | undefined;
    const sid = ip.length === 4 ? this.trie4.lookup(ip) : this.trie6.lookup(ip);
    if (sid >= 0) subnetSet = this.subnetSets[sid];
    const countrySet = countryCode === undefined ? undefined : this.countrySets.get(countryCode);
    let out: string[] | undefined;
    const consider = (list: Int32Array): void => {
      for (let i = 0; i < list.length; i++) {
        const f = list[i] as number;
        if (this.anySubnet[f] === 0 && (subnetSet === undefined || subnetSet[f] === 0)) continue;
        if (this.anyCountry[f] === 0 && (countrySet === undefined || countrySet[f] === 0)) continue;
        (out ??= []).push(this.names[f] as string);
      }
    };
    if (listed !== undefined) consider(listed);
    if (this.anyInfohash.length > 0) consider(this.anyInfohash);
    return out ?? NONE;
  }
}
