/**
 * Property-style tests of the compiled matcher and its parts against naive references, on random
 * data from seeded generators: results (in filter order), prefix tables, the infohash index, and
 * incremental API changes (CompiledFilters.withInfohashChange, FilterRegistry) against full
 * rebuilds.
 */
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { configSchema, type FilterConfig } from '../../../src/config/config-schema.js';
import { CidrTrie, parseCidrBytes, PrefixTable } from '../../../src/filter/cidr-trie.js';
import { CompiledFilters, type FilterDefinition } from '../../../src/filter/compiled-filters.js';
import { applyOverlay, FilterRegistry } from '../../../src/filter/filter-registry.js';
import { SetInterner } from '../../../src/filter/filter-sets.js';
import { InfohashIndex, keyHash } from '../../../src/filter/infohash-index.js';
import { formatIpBytes, parseIpBytes } from '../../../src/filter/ip-bytes.js';
import { FakeOverlayStore, FakeTorrentLookup } from '../../helpers/fake-overlay-store.js';
import { parseNet } from '../../helpers/parse-net.js';
import { prng } from '../../helpers/prng.js';


class Gen {
  readonly rnd: () => number;
  constructor(seed: number) {
    this.rnd = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  chance(p: number): boolean {
    return this.rnd() < p;
  }
  hex(n: number): string {
    return Array.from({ length: n }, () => '0123456789abcdef'[this.int(16)]).join('');
  }
  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(256));
  }
}

function ip(s: string): Uint8Array {
  const b = parseIpBytes(s);
  if (!b) throw new Error(`not an IP address: ${s}`);
  return b;
}

// ---------------------------------------------------------------------------------------------
// The naive reference: every enabled filter in order, every subnet with ipaddr.js
// ---------------------------------------------------------------------------------------------

function reference(defs: readonly FilterDefinition[]): (infohash: string, address: string, cc: string | undefined) => string[] {
  const prepared = defs.map((d) => ({
    d,
    nets: d.subnets.map(parseNet),
    ihs: new Set(d.infohashes.map((h) => h.toLowerCase())),
    ccs: d.countryCodes.map((c) => c.toUpperCase()),
  }));
  return (infohash, address, cc) => {
    const addr = ipaddr.process(address); // IPv4-mapped IPv6 → IPv4
    return prepared
      .filter(
        ({ d, nets, ihs, ccs }) =>
          d.enabled &&
          (d.infohashes.length === 0 || ihs.has(infohash)) &&
          (nets.length === 0 || nets.some(([net, len]) => net.kind() === addr.kind() && addr.match(net, len))) &&
          (ccs.length === 0 || (cc !== undefined && ccs.includes(cc))),
      )
      .map(({ d }) => d.name);
  };
}

// ---------------------------------------------------------------------------------------------
// Random filters and peers, concentrated on a few networks so that prefixes nest and overlap
// ---------------------------------------------------------------------------------------------

interface World {
  g: Gen;
  pool: string[];
  countries: string[];
  subnet(): string;
  address(): string;
  infohash(): string;
  country(): string | undefined;
  filters(n: number, opts?: { manyListers?: boolean }): FilterDefinition[];
}

function world(seed: number): World {
  const g = new Gen(seed);
  // Infohashes; some share their first and last 4 characters (the same keyHash: tag twins).
  const pool = Array.from({ length: 40 }, () => g.hex(40));
  for (let i = 0; i < 8; i++) {
    const base = g.pick(pool);
    pool.push(base.slice(0, 4) + g.hex(32) + base.slice(36));
  }
  const countries = ['DE', 'FR', 'US', 'RU', 'CN'];
  const v4 = (): string => `10.${g.int(3)}.${g.int(4)}.${g.int(256)}`;
  const v6 = (): string => `2001:db8:${g.int(3).toString(16)}:${g.int(4).toString(16)}::${g.int(256).toString(16)}:${g.int(65536).toString(16)}`;
  const anyV4 = (): string => formatIpBytes(g.bytes(4));
  const anyV6 = (): string => formatIpBytes(g.bytes(16));
  const w: World = {
    g,
    pool,
    countries,
    subnet() {
      const r = g.rnd();
      if (r < 0.45) return `${g.chance(0.1) ? anyV4() : v4()}/${g.pick([0, 1, 7, 8, 12, 15, 16, 17, 20, 22, 24, 25, 26, 28, 30, 31, 32])}`;
      if (r < 0.85) return `${g.chance(0.1) ? anyV6() : v6()}/${g.pick([0, 1, 15, 16, 17, 32, 33, 44, 48, 56, 62, 64, 65, 96, 110, 112, 120, 127, 128])}`;
      return `::ffff:${v4()}/${96 + g.pick([0, 8, 16, 20, 24, 28, 32])}`;
    },
    address() {
      const r = g.rnd();
      if (r < 0.4) return v4();
      if (r < 0.5) return `::ffff:${v4()}`;
      if (r < 0.85) return v6();
      return g.chance(0.5) ? anyV4() : anyV6();
    },
    infohash() {
      return g.chance(0.85) ? g.pick(pool) : g.hex(40);
    },
    country() {
      return g.chance(0.2) ? undefined : g.pick([...countries, 'JP']);
    },
    filters(n, opts = {}) {
      return Array.from({ length: n }, (_, i) => ({
        name: `f${i}`,
        enabled: g.rnd() < 0.9,
        infohashes: g.chance(0.25)
          ? []
          : Array.from({ length: opts.manyListers && g.chance(0.5) ? 1 : 1 + g.int(4) }, () =>
              opts.manyListers ? (pool[0] as string) : g.chance(0.1) ? g.pick(pool).toUpperCase() : g.pick(pool),
            ),
        subnets: g.chance(0.35) ? [] : Array.from({ length: 1 + g.int(3) }, () => w.subnet()),
        countryCodes: g.chance(0.4) ? [] : Array.from({ length: 1 + g.int(2) }, () => (g.chance(0.1) ? g.pick(countries).toLowerCase() : g.pick(countries))),
      }));
    },
  };
  return w;
}

function crossCheck(w: World, defs: readonly FilterDefinition[], compiled: CompiledFilters, peers: number): number {
  const naive = reference(defs);
  let matches = 0;
  for (let i = 0; i < peers; i++) {
    const infohash = w.infohash();
    const address = w.address();
    const cc = w.country();
    const want = naive(infohash, address, cc);
    const got = compiled.match(infohash, ip(address), cc);
    if (got.join() !== want.join()) expect([...got], `peer ${infohash} ${address} ${cc}`).toEqual(want);
    expect(Object.isFrozen(got)).toBe(true);
    matches += got.length;
  }
  return matches;
}

describe('CompiledFilters against a naive reference (names in filter order)', () => {
  it.each([11, 12, 13, 14, 15, 16, 17, 18])('seed %i: 60 filters × 1,500 peers', (seed) => {
    const w = world(seed);
    const defs = w.filters(60);
    expect(crossCheck(w, defs, new CompiledFilters(defs), 1500)).toBeGreaterThan(300);
  });

  it('200 filters (bit rows of several words) × 4,000 peers', () => {
    const w = world(99);
    const defs = w.filters(200);
    expect(crossCheck(w, defs, new CompiledFilters(defs), 4000)).toBeGreaterThan(2000);
  });

  it('one infohash listed by more than 31 filters', () => {
    const w = world(7);
    const defs = w.filters(80, { manyListers: true });
    const listers = defs.filter((d) => d.enabled && d.infohashes.includes(w.pool[0] as string)).length;
    expect(listers).toBeGreaterThan(31);
    const compiled = new CompiledFilters(defs);
    crossCheck(w, defs, compiled, 1500);
    const naive = reference(defs);
    for (let i = 0; i < 500; i++) {
      const address = w.address();
      const cc = w.country();
      expect([...compiled.match(w.pool[0] as string, ip(address), cc)]).toEqual(naive(w.pool[0] as string, address, cc));
    }
  });

  it('many subnets of one filter inside one /16 (table nodes with more than 4 boundaries)', () => {
    const w = world(3);
    const subnets = Array.from({ length: 40 }, (_, i) => `10.1.${i * 5}.0/24`);
    const defs: FilterDefinition[] = [
      { name: 'many', enabled: true, infohashes: [], subnets, countryCodes: [] },
      { name: 'some', enabled: true, infohashes: [], subnets: ['10.1.7.0/24', '10.1.7.128/25', '10.1.8.1/32', '2001:db8::/32'], countryCodes: [] },
      { name: 'v6', enabled: true, infohashes: [], subnets: Array.from({ length: 12 }, (_, i) => `2001:db8:${i * 3}::/48`), countryCodes: [] },
    ];
    const compiled = new CompiledFilters(defs);
    const naive = reference(defs);
    for (let i = 0; i < 3000; i++) {
      const address = i % 2 === 0 ? `10.1.${w.g.int(256)}.${w.g.int(256)}` : `2001:db8:${w.g.int(40).toString(16)}::${w.g.int(65536).toString(16)}`;
      expect([...compiled.match(w.pool[0] as string, ip(address), undefined)], address).toEqual(naive(w.pool[0] as string, address, undefined));
    }
  });

  it('a miss allocates nothing: the same frozen empty array every time', () => {
    const compiled = new CompiledFilters([{ name: 'f', enabled: true, infohashes: ['a'.repeat(40)], subnets: [], countryCodes: [] }]);
    const a = compiled.match('b'.repeat(40), ip('10.0.0.1'), 'DE');
    const b = compiled.match('c'.repeat(40), ip('2001:db8::1'), undefined);
    expect(a).toHaveLength(0);
    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it('the same peer gets the same (shared) result array', () => {
    const ih = 'a'.repeat(40);
    const compiled = new CompiledFilters([
      { name: 'x', enabled: true, infohashes: [ih], subnets: ['10.0.0.0/8'], countryCodes: [] },
      { name: 'all', enabled: true, infohashes: [], subnets: [], countryCodes: ['DE'] },
    ]);
    const first = compiled.match(ih, ip('10.1.2.3'), 'DE');
    expect(first).toEqual(['x', 'all']);
    expect(compiled.match(ih, ip('10.9.9.9'), 'DE')).toBe(first);
  });
});

// ---------------------------------------------------------------------------------------------
// PrefixTable: longest-prefix lookups against a scan of all prefixes
// ---------------------------------------------------------------------------------------------

describe('PrefixTable', () => {
  function check(seed: number, family: 4 | 16, count: number): void {
    const g = new Gen(seed);
    const bits = family === 4 ? 32 : 128;
    const sets = new SetInterner();
    const trie = new CidrTrie(bits);
    const prefixes: Array<{ bytes: Uint8Array; len: number; id: number }> = [];
    // Few base networks, so that prefixes nest; lengths at, around and between 16-bit steps.
    const bases = Array.from({ length: 4 }, () => g.bytes(family));
    for (let i = 0; i < count; i++) {
      const bytes = Uint8Array.from(g.pick(bases));
      const len = g.chance(0.05) ? 0 : g.int(bits + 1);
      for (let b = Math.max(len - 12, 8); b < bits; b++) if (g.chance(0.3)) bytes[b >> 3] = (bytes[b >> 3] as number) ^ (0x80 >> (b & 7));
      const id = sets.intern(Int32Array.of(i));
      const node = trie.insert(bytes, len);
      trie.setValue(node, sets.union(trie.getValue(node), id));
      prefixes.push({ bytes, len, id });
    }
    trie.pushDown((p, own) => sets.union(p, own));
    const table = new PrefixTable(trie);
    const contains = (p: { bytes: Uint8Array; len: number }, a: Uint8Array): boolean => {
      for (let b = 0; b < p.len; b++) if ((((p.bytes[b >> 3] as number) ^ (a[b >> 3] as number)) & (0x80 >> (b & 7))) !== 0) return false;
      return true;
    };
    for (let i = 0; i < 3000; i++) {
      // Addresses near the prefixes' edges and inside them.
      const p = g.pick(prefixes);
      const a = Uint8Array.from(p.bytes);
      for (let b = p.len; b < bits; b++) {
        const r = g.rnd();
        if (r < 0.4) a[b >> 3] = (a[b >> 3] as number) | (0x80 >> (b & 7));
        else if (r < 0.8) a[b >> 3] = (a[b >> 3] as number) & ~(0x80 >> (b & 7));
      }
      if (g.chance(0.2)) a[g.int(family)] = g.int(256);
      const want = [...new Set(prefixes.filter((q) => contains(q, a)).map((q) => sets.get(q.id)[0] as number))].sort((x, y) => x - y);
      const got = family === 4 ? table.lookup4(a) : table.lookup6(a);
      expect([...sets.get(got)], formatIpBytes(a)).toEqual(want);
    }
  }

  it.each([1, 2, 3])('IPv4, seed %i', (seed) => check(seed, 4, 120));
  it.each([1, 2, 3])('IPv6, seed %i', (seed) => check(seed, 16, 120));

  it('no prefixes: every address gets 0; /0 covers everything', () => {
    const empty = new PrefixTable(new CidrTrie(32));
    expect(empty.lookup4(ip('1.2.3.4'))).toBe(0);
    const t = new CidrTrie(128);
    t.setValue(t.insert(parseCidrBytes('::/0').bytes, 0), 7);
    const all = new PrefixTable(t);
    expect(all.lookup6(ip('::'))).toBe(7);
    expect(all.lookup6(ip('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'))).toBe(7);
  });
});

// ---------------------------------------------------------------------------------------------
// InfohashIndex: a Map, built at once or patched
// ---------------------------------------------------------------------------------------------

describe('InfohashIndex', () => {
  function keys(g: Gen, n: number): string[] {
    const out = Array.from({ length: n }, () => g.hex(40));
    // Keys that share the hashed characters (the same hash: same home slot and tag).
    for (let i = 0; i < n / 4; i++) {
      const base = g.pick(out);
      out.push(base.slice(0, 4) + g.hex(32) + base.slice(36));
    }
    out.push('not-an-infohash', '', 'ABCDEF'.repeat(7).slice(0, 40)); // any string is a key
    return [...new Set(out)];
  }

  function agrees(index: InfohashIndex, map: Map<string, number>, probes: readonly string[]): void {
    for (const k of probes) {
      expect(index.get(k), k).toBe(map.get(k) ?? 0);
      expect(index.find(k) >= 0, k).toBe(map.has(k));
    }
    expect(index.size).toBe(map.size);
    expect([...index.keyIterator()].sort()).toEqual([...map.keys()].sort());
  }

  it('same-hash keys (tag twins) are told apart', () => {
    const a = 'abcd' + '0'.repeat(32) + 'wxyz';
    const b = 'abcd' + '1'.repeat(32) + 'wxyz';
    const c = 'abcd' + '2'.repeat(32) + 'wxyz';
    expect(keyHash(a)).toBe(keyHash(b));
    const index = InfohashIndex.build([[a, 1], [b, 2]], 2);
    expect([index.get(a), index.get(b), index.get(c)]).toEqual([1, 2, 0]);
  });

  it.each([1, 2, 3, 4])('seed %i: random adds, updates and removals equal a Map (and a fresh build)', (seed) => {
    const g = new Gen(seed);
    const all = keys(g, 300);
    const map = new Map<string, number>();
    for (const k of all.slice(0, 100)) map.set(k, 1 + g.int(50));
    let index = InfohashIndex.build([...map], 50);
    agrees(index, map, all);
    for (let step = 0; step < 60; step++) {
      const before = index;
      const snapshot = new Map(map);
      const changes: Array<[string, number]> = Array.from({ length: 1 + g.int(8) }, () => [g.pick(all), g.chance(0.35) ? 0 : 1 + g.int(60)]);
      for (const [k, v] of changes) {
        if (v === 0) map.delete(k);
        else map.set(k, v);
      }
      index = index.withChanges(changes, 60);
      agrees(index, map, all);
      agrees(before, snapshot, all); // copy-on-write: the previous index is unchanged
    }
    agrees(InfohashIndex.build([...map], 60), map, all);
  });

  it('grows past its capacity and past its id width through withChanges', () => {
    const g = new Gen(5);
    const all = keys(g, 2000);
    const map = new Map<string, number>();
    let index = InfohashIndex.build([], 1);
    for (let i = 0; i < all.length; i += 50) {
      const changes = all.slice(i, i + 50).map((k, j): [string, number] => [k, 1 + ((i + j) % 5000)]);
      for (const [k, v] of changes) map.set(k, v);
      index = index.withChanges(changes, 5000);
    }
    agrees(index, map, all);
  });
});

// ---------------------------------------------------------------------------------------------
// Incremental API changes: patched equals rebuilt
// ---------------------------------------------------------------------------------------------

describe('CompiledFilters.withInfohashChange', () => {
  it.each([21, 22, 23])('seed %i: a sequence of adds and deletes gives what a full compile gives', (seed) => {
    const w = world(seed);
    let defs = w.filters(40);
    let compiled = new CompiledFilters(defs);
    let patched = 0;
    for (let step = 0; step < 120; step++) {
      const di = w.g.int(defs.length);
      const d = defs[di] as FilterDefinition;
      const op = w.g.chance(0.6) ? 'add' : 'delete';
      const infohash = op === 'delete' && d.infohashes.length > 0 && w.g.chance(0.8) ? (w.g.pick(d.infohashes) as string).toLowerCase() : w.infohash();
      const lower = new Set(d.infohashes.map((h) => h.toLowerCase()));
      if (op === 'add') lower.add(infohash);
      else lower.delete(infohash);
      const next = defs.slice();
      next[di] = { ...d, infohashes: [...lower] };

      const before = compiled;
      const beforeResults = Array.from({ length: 30 }, () => [w.infohash(), w.address(), w.country()] as const).map(
        ([h, a, c]) => [h, a, c, [...before.match(h, ip(a), c)]] as const,
      );
      const result = compiled.withInfohashChange(di, infohash, op);
      const emptiesOrFills = d.enabled && (d.infohashes.length === 0) !== (lower.size === 0);
      if (emptiesOrFills) expect(result).toBeUndefined();
      else expect(result).toBeInstanceOf(CompiledFilters);
      if (result) patched++;
      compiled = result ?? new CompiledFilters(next);
      defs = next;

      // The previous set is unchanged (a concurrent reader keeps its answers)...
      for (const [h, a, c, got] of beforeResults) expect([...before.match(h, ip(a), c)]).toEqual(got);
      // ...and the new one equals a full compile, also in what it watches.
      const full = new CompiledFilters(defs);
      crossCheck(w, defs, compiled, 60);
      expect([...compiled.watchedInfohashes()].sort()).toEqual([...full.watchedInfohashes()].sort());
      expect(compiled.watchesAllTorrents).toBe(full.watchesAllTorrents);
      for (const h of [infohash, w.infohash()]) expect(compiled.wantsInfohash(h)).toBe(full.wantsInfohash(h));
    }
    expect(patched).toBeGreaterThan(60);
  });
});

describe('FilterRegistry: API changes patch instead of recompiling', () => {
  function filterConfigs(filters: unknown[]): FilterConfig[] {
    return configSchema.parse({ filters }).filters;
  }

  it('random API adds and deletes: lists equal applyOverlay, matches equal a full compile', () => {
    const w = world(31);
    const pool = w.pool.filter((h) => /^[0-9a-f]{40}$/.test(h));
    const config = filterConfigs(
      Array.from({ length: 12 }, (_, i) => ({
        name: `f${i}`,
        enabled: i % 5 !== 4,
        infohashes: i % 4 === 3 ? [] : [w.g.pick(pool), w.g.pick(pool)],
        subnets: i % 3 === 0 ? [] : [w.subnet()],
        countryCodes: i % 2 === 0 ? [] : [w.g.pick(w.countries)],
      })),
    );
    const overlay = new FakeOverlayStore();
    const registry = new FilterRegistry({ overlay, torrents: new FakeTorrentLookup(pool) }, config);
    let notified = 0;
    registry.onChange(() => notified++);
    let ops = 0;
    for (let step = 0; step < 150; step++) {
      const f = w.g.pick(registry.list());
      const ih = w.g.pick(pool);
      try {
        if (w.g.chance(0.55)) registry.addInfohash(f.name, ih);
        else registry.deleteInfohash(f.name, f.infohashes.length > 0 && w.g.chance(0.7) ? w.g.pick(f.infohashes) : ih);
        ops++;
      } catch {
        // API errors (e.g. deleting a filter's last infohash) change nothing
      }
      const expected = applyOverlay(config, overlay.list());
      expect(registry.list()).toEqual(expected);
      if (step % 10 === 0) crossCheck(w, expected, registry.compiled, 40);
    }
    expect(ops).toBeGreaterThan(80);
    expect(notified).toBeGreaterThan(40);
    crossCheck(w, applyOverlay(config, overlay.list()), registry.compiled, 500);
  });
});
