import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { configSchema, type FilterConfig } from '../../../src/config/config-schema.js';
import { CompiledFilters, type FilterDefinition } from '../../../src/filter/compiled-filters.js';
import { applyOverlay, FilterRegistry } from '../../../src/filter/filter-registry.js';
import { parseIpBytes } from '../../../src/filter/ip-bytes.js';
import { FilterError } from '../../../src/filter/filter-errors.js';
import { FakeOverlayStore, FakeTorrentLookup } from '../../helpers/fake-overlay-store.js';
import { parseNet } from '../../helpers/parse-net.js';
import { prng } from '../../helpers/prng.js';

const IH1 = '1111111111111111111111111111111111111111';
const IH2 = '2222222222222222222222222222222222222222';
const IH3 = '3333333333333333333333333333333333333333';
const IH_OTHER = 'ffffffffffffffffffffffffffffffffffffffff';

function def(name: string, d: Partial<Omit<FilterDefinition, 'name'>> = {}): FilterDefinition {
  return { name, infohashes: [], subnets: [], countryCodes: [], enabled: true, ...d };
}

function ip(s: string): Uint8Array {
  const b = parseIpBytes(s);
  if (!b) throw new Error(`not an IP address: ${s}`);
  return b;
}

/** Sorted names of the filters a peer matches. */
function names(c: CompiledFilters, infohash: string, address: string, cc?: string): string[] {
  return [...c.match(infohash, ip(address), cc)].sort();
}

// ---------------------------------------------------------------------------------------------
// parseIpBytes
// ---------------------------------------------------------------------------------------------

describe('parseIpBytes', () => {
  it('parses IPv4 into 4 bytes and IPv6 into 16', () => {
    expect([...ip('10.1.2.3')]).toEqual([10, 1, 2, 3]);
    expect([...ip('0.0.0.0')]).toEqual([0, 0, 0, 0]);
    expect([...ip('255.255.255.255')]).toEqual([255, 255, 255, 255]);
    expect(ip('2001:db8::1')).toHaveLength(16);
    expect([...ip('::1')]).toEqual([...new Array<number>(15).fill(0), 1]);
  });

  it('normalises IPv4-mapped IPv6 to IPv4', () => {
    expect([...ip('::ffff:10.1.2.3')]).toEqual([10, 1, 2, 3]);
    expect([...ip('::ffff:a01:203')]).toEqual([10, 1, 2, 3]);
    expect([...ip('0:0:0:0:0:ffff:10.1.2.3')]).toEqual([10, 1, 2, 3]);
  });

  it.each(['', 'abc', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1..2.3', '1.2.3.', ' 1.2.3.4', '1.2.3.4/8', ':::', '2001:db8::g', '1.2.3.-4'])(
    'rejects %j',
    (s) => {
      expect(parseIpBytes(s)).toBeUndefined();
    },
  );
});

// ---------------------------------------------------------------------------------------------
// CompiledFilters
// ---------------------------------------------------------------------------------------------

describe('CompiledFilters', () => {
  it('an empty filter matches every peer (empty = all, for each attribute)', () => {
    const c = new CompiledFilters([def('all')]);
    expect(names(c, IH1, '10.1.2.3', 'DE')).toEqual(['all']);
    expect(names(c, IH_OTHER, '2001:db8::1', undefined)).toEqual(['all']);
    expect(c.watchesAllTorrents).toBe(true);
    expect(c.wantsInfohash(IH_OTHER)).toBe(true);
  });

  it('no filters: nothing matches, nothing is wanted', () => {
    const c = new CompiledFilters([]);
    expect(c.filterCount).toBe(0);
    expect(names(c, IH1, '10.1.2.3', 'DE')).toEqual([]);
    expect(c.wantsInfohash(IH1)).toBe(false);
    expect([...c.watchedInfohashes()]).toEqual([]);
  });

  it('AND across attributes: every non-empty attribute must match', () => {
    const c = new CompiledFilters([def('f', { infohashes: [IH1], subnets: ['10.0.0.0/8'], countryCodes: ['DE'] })]);
    expect(names(c, IH1, '10.1.2.3', 'DE')).toEqual(['f']);
    expect(names(c, IH2, '10.1.2.3', 'DE')).toEqual([]); // infohash
    expect(names(c, IH1, '11.1.2.3', 'DE')).toEqual([]); // subnet
    expect(names(c, IH1, '10.1.2.3', 'FR')).toEqual([]); // country
    expect(names(c, IH1, '10.1.2.3', undefined)).toEqual([]); // unknown country
    expect(names(c, IH1, '2001:db8::1', 'DE')).toEqual([]); // other family
  });

  it('OR within an attribute', () => {
    const c = new CompiledFilters([
      def('f', { infohashes: [IH1, IH2], subnets: ['10.0.0.0/8', '192.168.1.0/24', '2001:db8::/32'], countryCodes: ['DE', 'FR'] }),
    ]);
    for (const ih of [IH1, IH2]) {
      for (const a of ['10.9.9.9', '192.168.1.77', '2001:db8:ffff::1']) {
        for (const cc of ['DE', 'FR']) expect(names(c, ih, a, cc)).toEqual(['f']);
      }
    }
    expect(names(c, IH3, '10.9.9.9', 'DE')).toEqual([]);
    expect(names(c, IH1, '192.168.2.1', 'DE')).toEqual([]);
    expect(names(c, IH1, '10.9.9.9', 'US')).toEqual([]);
  });

  it('each attribute alone: only infohash, only subnet, only country', () => {
    const c = new CompiledFilters([
      def('ih', { infohashes: [IH1] }),
      def('net', { subnets: ['10.0.0.0/8'] }),
      def('cc', { countryCodes: ['DE'] }),
    ]);
    expect(names(c, IH1, '10.0.0.1', 'DE')).toEqual(['cc', 'ih', 'net']);
    expect(names(c, IH1, '11.0.0.1', 'FR')).toEqual(['ih']);
    expect(names(c, IH2, '10.0.0.1', 'FR')).toEqual(['net']);
    expect(names(c, IH2, '11.0.0.1', 'DE')).toEqual(['cc']);
    expect(names(c, IH2, '11.0.0.1', undefined)).toEqual([]);
  });

  it('disabled filters never match and are not watched', () => {
    const c = new CompiledFilters([
      def('off-all', { enabled: false }),
      def('off-ih', { enabled: false, infohashes: [IH2] }),
      def('on', { infohashes: [IH1] }),
    ]);
    expect(c.names).toEqual(['on']);
    expect(c.filterCount).toBe(1);
    expect(names(c, IH1, '10.0.0.1', 'DE')).toEqual(['on']);
    expect(names(c, IH2, '10.0.0.1', 'DE')).toEqual([]);
    expect(names(c, IH_OTHER, '10.0.0.1', 'DE')).toEqual([]);
    expect(c.watchesAllTorrents).toBe(false);
    expect(c.wantsInfohash(IH2)).toBe(false);
    expect([...c.watchedInfohashes()]).toEqual([IH1]);
  });

  it('nested IPv4 prefixes of different filters, /0 and /32', () => {
    const c = new CompiledFilters([
      def('p0', { subnets: ['0.0.0.0/0'] }),
      def('p8', { subnets: ['10.0.0.0/8'] }),
      def('p16', { subnets: ['10.1.0.0/16'] }),
      def('p24', { subnets: ['10.1.2.0/24'] }),
      def('p32', { subnets: ['10.1.2.3/32'] }),
      def('sib', { subnets: ['10.1.3.0/24'] }),
    ]);
    expect(names(c, IH1, '10.1.2.3')).toEqual(['p0', 'p16', 'p24', 'p32', 'p8']);
    expect(names(c, IH1, '10.1.2.4')).toEqual(['p0', 'p16', 'p24', 'p8']);
    expect(names(c, IH1, '10.1.3.1')).toEqual(['p0', 'p16', 'p8', 'sib']);
    expect(names(c, IH1, '10.2.0.0')).toEqual(['p0', 'p8']);
    expect(names(c, IH1, '11.0.0.0')).toEqual(['p0']);
    expect(names(c, IH1, '255.255.255.255')).toEqual(['p0']);
    // IPv4 subnets say nothing about IPv6 peers.
    expect(names(c, IH1, '2001:db8::1')).toEqual([]);
  });

  it('a broader prefix listed after a narrower one still covers it (order does not matter)', () => {
    const c = new CompiledFilters([def('narrow', { subnets: ['10.1.2.0/24'] }), def('broad', { subnets: ['10.0.0.0/8'] })]);
    expect(names(c, IH1, '10.1.2.9')).toEqual(['broad', 'narrow']);
    const one = new CompiledFilters([def('f', { subnets: ['10.1.2.0/24', '10.0.0.0/8'] })]);
    expect(names(one, IH1, '10.1.2.9')).toEqual(['f']);
    expect(names(one, IH1, '10.200.0.1')).toEqual(['f']);
  });

  it('a prefix with host bits set matches like its network', () => {
    const c = new CompiledFilters([def('f', { subnets: ['10.1.2.3/16'] })]);
    expect(names(c, IH1, '10.1.200.200')).toEqual(['f']);
    expect(names(c, IH1, '10.2.0.0')).toEqual([]);
  });

  it('the same subnet in two filters, and twice in one filter', () => {
    const c = new CompiledFilters([
      def('x', { subnets: ['10.0.0.0/8', '10.0.0.0/8'] }),
      def('y', { subnets: ['10.0.0.0/8'], infohashes: [IH1, IH1] }),
    ]);
    expect(names(c, IH1, '10.0.0.1')).toEqual(['x', 'y']);
    expect(c.match(IH1, ip('10.0.0.1'), undefined)).toHaveLength(2);
  });

  it('nested IPv6 prefixes, /0 and /128', () => {
    const c = new CompiledFilters([
      def('v0', { subnets: ['::/0'] }),
      def('v32', { subnets: ['2001:db8::/32'] }),
      def('v48', { subnets: ['2001:db8:1::/48'] }),
      def('v64', { subnets: ['2001:db8:1:2::/64'] }),
      def('v128', { subnets: ['2001:db8:1:2::3/128'] }),
      def('v127', { subnets: ['2001:db8:1:2::2/127'] }),
    ]);
    expect(names(c, IH1, '2001:db8:1:2::3')).toEqual(['v0', 'v127', 'v128', 'v32', 'v48', 'v64']);
    expect(names(c, IH1, '2001:db8:1:2::2')).toEqual(['v0', 'v127', 'v32', 'v48', 'v64']);
    expect(names(c, IH1, '2001:db8:1:2::4')).toEqual(['v0', 'v32', 'v48', 'v64']);
    expect(names(c, IH1, '2001:db8:1:3::3')).toEqual(['v0', 'v32', 'v48']);
    expect(names(c, IH1, '2001:db8:2::1')).toEqual(['v0', 'v32']);
    expect(names(c, IH1, '2001:db9::1')).toEqual(['v0']);
    expect(names(c, IH1, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')).toEqual(['v0']);
    expect(names(c, IH1, '::')).toEqual(['v0']);
    // An IPv4 peer (even written mapped) is not an IPv6 one: ::/0 does not cover it.
    expect(names(c, IH1, '10.1.2.3')).toEqual([]);
    expect(names(c, IH1, '::ffff:10.1.2.3')).toEqual([]);
  });

  it('an IPv4-mapped IPv6 peer matches IPv4 subnets', () => {
    const c = new CompiledFilters([def('v4', { subnets: ['10.0.0.0/8'] }), def('host', { subnets: ['10.1.2.3/32'] })]);
    expect(names(c, IH1, '::ffff:10.1.2.3')).toEqual(['host', 'v4']);
    expect(names(c, IH1, '::ffff:10.1.2.4')).toEqual(['v4']);
    expect(names(c, IH1, '::ffff:11.1.2.3')).toEqual([]);
  });

  it('a subnet written IPv4-mapped (::ffff:10.0.0.0/104) matches IPv4 peers', () => {
    const c = new CompiledFilters([
      def('m104', { subnets: ['::ffff:10.0.0.0/104'] }),
      def('m96', { subnets: ['::ffff:0:0/96'] }),
      def('m128', { subnets: ['::ffff:10.1.2.3/128'] }),
    ]);
    expect(names(c, IH1, '10.1.2.3')).toEqual(['m104', 'm128', 'm96']);
    expect(names(c, IH1, '10.200.0.1')).toEqual(['m104', 'm96']);
    expect(names(c, IH1, '::ffff:10.9.9.9')).toEqual(['m104', 'm96']);
    expect(names(c, IH1, '11.0.0.1')).toEqual(['m96']);
    expect(names(c, IH1, '2001:db8::1')).toEqual([]);
  });

  it('country sets, with config-normalised (upper-case) codes', () => {
    const filters = configSchema.parse({
      filters: [
        { name: 'de', countryCodes: ['de'] },
        { name: 'de-fr', countryCodes: ['DE', 'fr'] },
        { name: 'us', countryCodes: ['US'] },
      ],
    }).filters;
    const c = new CompiledFilters(filters);
    expect(names(c, IH1, '10.0.0.1', 'DE')).toEqual(['de', 'de-fr']);
    expect(names(c, IH1, '10.0.0.1', 'FR')).toEqual(['de-fr']);
    expect(names(c, IH1, '10.0.0.1', 'US')).toEqual(['us']);
    expect(names(c, IH1, '10.0.0.1', 'JP')).toEqual([]);
    expect(names(c, IH1, '10.0.0.1', undefined)).toEqual([]);
  });

  it('a peer matching several filters gets all their names, each once', () => {
    const c = new CompiledFilters([
      def('a', { infohashes: [IH1] }),
      def('b', { infohashes: [IH1, IH2], subnets: ['10.0.0.0/8'] }),
      def('c', {}),
      def('d', { countryCodes: ['DE'], subnets: ['10.1.0.0/16', '2001:db8::/32'] }),
      def('e', { infohashes: [IH2] }),
    ]);
    const got = c.match(IH1, ip('10.1.2.3'), 'DE');
    expect([...got].sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(new Set(got).size).toBe(got.length);
    expect(names(c, IH2, '2001:db8::5', 'DE')).toEqual(['c', 'd', 'e']);
  });

  it('infohashes are compared in lower case', () => {
    const c = new CompiledFilters([def('f', { infohashes: [IH_OTHER.toUpperCase()] })]);
    expect(names(c, IH_OTHER, '10.0.0.1')).toEqual(['f']);
    expect([...c.watchedInfohashes()]).toEqual([IH_OTHER]);
  });

  it('the match result of a non-matching peer is shared and frozen (no allocation per miss)', () => {
    const c = new CompiledFilters([def('f', { infohashes: [IH1] })]);
    const miss = c.match(IH2, ip('10.0.0.1'), 'DE');
    expect(miss).toHaveLength(0);
    expect(Object.isFrozen(miss)).toBe(true);
  });

  describe('randomized cross-check against a naive ipaddr.js reference', () => {

    /** The obvious implementation: test every enabled filter, every subnet with ipaddr.js `match`. */
    function reference(defs: readonly FilterDefinition[]): (infohash: string, address: string, cc: string | undefined) => string[] {
      const nets = new Map(defs.map((d) => [d.name, d.subnets.map(parseNet)]));
      return (infohash, address, cc) => {
        const addr = ipaddr.process(address); // IPv4-mapped IPv6 → IPv4
        return defs
          .filter(
            (d) =>
              d.enabled &&
              (d.infohashes.length === 0 || d.infohashes.some((h) => h.toLowerCase() === infohash)) &&
              (d.subnets.length === 0 || (nets.get(d.name) ?? []).some(([net, len]) => net.kind() === addr.kind() && addr.match(net, len))) &&
              (d.countryCodes.length === 0 || (cc !== undefined && d.countryCodes.includes(cc))),
          )
          .map((d) => d.name)
          .sort();
      };
    }

    function run(seed: number, filterCount: number, peerCount: number): { matches: number; multi: number; v6: number; mapped: number } {
      const rnd = prng(seed);
      const int = (n: number): number => Math.floor(rnd() * n);
      const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
      const hex = (n: number): string => Array.from({ length: n }, () => '0123456789abcdef'[int(16)]).join('');
      const pool = Array.from({ length: 30 }, () => hex(40));
      const countries = ['DE', 'FR', 'US', 'RU', 'CN'];
      const v4 = (): string => `10.${int(4)}.${int(4)}.${int(256)}`;
      const v6 = (): string => `2001:db8:${int(4).toString(16)}:${int(4).toString(16)}::${int(256).toString(16)}:${int(65536).toString(16)}`;
      const anyV4 = (): string => `${int(256)}.${int(256)}.${int(256)}.${int(256)}`;
      const anyV6 = (): string => Array.from({ length: 8 }, () => int(65536).toString(16)).join(':');

      const subnet = (): string => {
        const r = rnd();
        if (r < 0.45) return `${rnd() < 0.1 ? anyV4() : v4()}/${pick([0, 1, 8, 12, 14, 15, 16, 20, 22, 24, 25, 26, 28, 30, 31, 32])}`;
        if (r < 0.85) return `${rnd() < 0.1 ? anyV6() : v6()}/${pick([0, 1, 16, 32, 44, 46, 48, 56, 62, 64, 96, 110, 112, 120, 126, 127, 128])}`;
        return `::ffff:${v4()}/${96 + pick([0, 8, 16, 20, 24, 28, 32])}`;
      };
      const defs: FilterDefinition[] = Array.from({ length: filterCount }, (_, i) => ({
        name: `f${i}`,
        enabled: rnd() < 0.9,
        infohashes: rnd() < 0.3 ? [] : Array.from({ length: 1 + int(4) }, () => pick(pool)),
        subnets: rnd() < 0.35 ? [] : Array.from({ length: 1 + int(3) }, subnet),
        countryCodes: rnd() < 0.4 ? [] : Array.from({ length: 1 + int(2) }, () => pick(countries)),
      }));
      const compiled = new CompiledFilters(defs);
      const naive = reference(defs);

      let matches = 0;
      let multi = 0;
      let v6Hits = 0;
      let mappedHits = 0;
      for (let i = 0; i < peerCount; i++) {
        const infohash = rnd() < 0.85 ? pick(pool) : hex(40);
        const r = rnd();
        const kind = r < 0.45 ? 'v4' : r < 0.55 ? 'mapped' : r < 0.9 ? 'v6' : 'any';
        const address =
          kind === 'v4' ? v4() : kind === 'mapped' ? `::ffff:${v4()}` : kind === 'v6' ? v6() : rnd() < 0.5 ? anyV4() : anyV6();
        const cc = rnd() < 0.2 ? undefined : pick([...countries, 'JP']);
        const want = naive(infohash, address, cc);
        const got = [...compiled.match(infohash, ip(address), cc)].sort();
        if (got.join() !== want.join()) expect(got, `peer ${infohash} ${address} ${cc}`).toEqual(want);
        matches += got.length;
        if (got.length > 1) multi++;
        if (got.length > 0 && kind === 'v6') v6Hits++;
        if (got.length > 0 && kind === 'mapped') mappedHits++;
      }
      return { matches, multi, v6: v6Hits, mapped: mappedHits };
    }

    it('300 filters × 5,000 peers give identical results', () => {
      const stats = run(20240617, 300, 5000);
      // The cross-check is only meaningful if plenty of peers match, and many match several filters.
      expect(stats.matches).toBeGreaterThan(2000);
      expect(stats.multi).toBeGreaterThan(300);
      expect(stats.v6).toBeGreaterThan(100);
      expect(stats.mapped).toBeGreaterThan(50);
    });

    it.each([1, 2, 3, 4, 5])('seed %i: 40 filters × 1,000 peers give identical results', (seed) => {
      run(seed, 40, 1000);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// applyOverlay and FilterRegistry
// ---------------------------------------------------------------------------------------------

function filterConfigs(filters: unknown[]): FilterConfig[] {
  return configSchema.parse({ filters }).filters;
}

describe('applyOverlay', () => {
  const config = filterConfigs([
    { name: 'a', description: 'A', infohashes: [IH2, IH1], subnets: ['10.0.0.0/8'], countryCodes: ['DE'], storeTCPDumpFile: true },
    { name: 'b', infohashes: [IH1] },
    { name: 'c' },
  ]);

  it('adds and deletes on top of the config list, result sorted and deduplicated', () => {
    const out = applyOverlay(config, [
      { filter: 'a', infohash: IH3, op: 'add', changedAt: 1 },
      { filter: 'a', infohash: IH2, op: 'delete', changedAt: 2 },
      { filter: 'a', infohash: IH1, op: 'add', changedAt: 3 }, // already there
      { filter: 'c', infohash: IH2, op: 'add', changedAt: 4 },
    ]);
    expect(out.map((f) => [f.name, f.infohashes])).toEqual([
      ['a', [IH1, IH3]],
      ['b', [IH1]],
      ['c', [IH2]],
    ]);
  });

  it('keeps every other attribute and does not mutate its input', () => {
    const before = structuredClone(config);
    const out = applyOverlay(config, [{ filter: 'a', infohash: IH3, op: 'add', changedAt: 1 }]);
    expect(config).toEqual(before);
    expect(out[0]).toEqual({ ...config[0], infohashes: [IH1, IH2, IH3] });
    expect(out[0]?.infohashes).not.toBe(config[0]?.infohashes);
  });

  it('ignores changes of filters no longer in the config and deletes of absent infohashes', () => {
    const out = applyOverlay(config, [
      { filter: 'gone', infohash: IH3, op: 'add', changedAt: 1 },
      { filter: 'b', infohash: IH3, op: 'delete', changedAt: 2 },
    ]);
    expect(out.map((f) => f.name)).toEqual(['a', 'b', 'c']);
    expect(out.map((f) => f.infohashes)).toEqual([[IH1, IH2], [IH1], []]);
  });

  it('a later change of the same infohash wins (overlay order)', () => {
    const out = applyOverlay(config, [
      { filter: 'b', infohash: IH3, op: 'add', changedAt: 1 },
      { filter: 'b', infohash: IH3, op: 'delete', changedAt: 2 },
      { filter: 'c', infohash: IH3, op: 'delete', changedAt: 3 },
      { filter: 'c', infohash: IH3, op: 'add', changedAt: 4 },
    ]);
    expect(out.find((f) => f.name === 'b')?.infohashes).toEqual([IH1]);
    expect(out.find((f) => f.name === 'c')?.infohashes).toEqual([IH3]);
  });

  it('an API delete of a config infohash can empty the list (the registry guards against that)', () => {
    const out = applyOverlay(config, [{ filter: 'b', infohash: IH1, op: 'delete', changedAt: 1 }]);
    expect(out.find((f) => f.name === 'b')?.infohashes).toEqual([]);
  });
});

describe('FilterRegistry', () => {
  function setup(filters: unknown[], overlay = new FakeOverlayStore(), torrents = new FakeTorrentLookup([IH1, IH2, IH3])) {
    const registry = new FilterRegistry({ overlay, torrents }, filterConfigs(filters));
    return { registry, overlay, torrents };
  }

  function apiError(fn: () => void): FilterError {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(FilterError);
      // A domain error: a code, no HTTP status (only http/ maps codes to statuses).
      expect(err).not.toHaveProperty('status');
      return err as FilterError;
    }
    throw new Error('expected a FilterError');
  }

  it('applies the stored overlay at construction', () => {
    const overlay = new FakeOverlayStore([
      { filter: 'a', infohash: IH2, op: 'add' },
      { filter: 'a', infohash: IH1, op: 'delete' },
    ]);
    const { registry } = setup([{ name: 'a', infohashes: [IH1, IH3] }], overlay);
    expect(registry.get('a')?.infohashes).toEqual([IH2, IH3]);
    expect(registry.compiled.wantsInfohash(IH1)).toBe(false);
    expect(registry.compiled.wantsInfohash(IH2)).toBe(true);
  });

  it('swaps atomically: a reference taken before a change keeps answering with the old set', () => {
    const { registry } = setup([{ name: 'a', infohashes: [IH1] }, { name: 'b', infohashes: [IH1, IH2] }]);
    const before = registry.compiled;
    const listBefore = registry.list();
    const aBefore = registry.get('a');
    const peer = ip('10.0.0.1');

    registry.addInfohash('a', IH3);
    const afterAdd = registry.compiled;
    expect(afterAdd).not.toBe(before);
    expect(before.match(IH3, peer, undefined)).toEqual([]);
    expect(before.wantsInfohash(IH3)).toBe(false);
    expect(afterAdd.match(IH3, peer, undefined)).toEqual(['a']);
    // The old list and filter objects are not mutated either.
    expect(listBefore.find((f) => f.name === 'a')?.infohashes).toEqual([IH1]);
    expect(aBefore?.infohashes).toEqual([IH1]);
    expect(registry.get('a')?.infohashes).toEqual([IH1, IH3]);

    registry.deleteInfohash('b', IH2);
    expect(registry.compiled).not.toBe(afterAdd);
    expect(afterAdd.match(IH2, peer, undefined)).toEqual(['b']);
    expect(registry.compiled.match(IH2, peer, undefined)).toEqual([]);

    const beforeReload = registry.compiled;
    registry.setConfig(filterConfigs([{ name: 'a', infohashes: [IH1], enabled: false }, { name: 'b', infohashes: [IH1, IH2] }]));
    expect(beforeReload.match(IH1, peer, undefined)).toEqual(expect.arrayContaining(['a', 'b']));
    expect([...registry.compiled.match(IH1, peer, undefined)]).toEqual(['b']);
  });

  it('notifies listeners with each new compiled set, until unsubscribed', () => {
    const { registry } = setup([{ name: 'a', infohashes: [IH1] }]);
    const seen: unknown[] = [];
    const changes: unknown[] = [];
    const off = registry.onChange((c, change) => {
      seen.push(c);
      changes.push(change);
    });
    registry.addInfohash('a', IH2);
    expect(seen).toEqual([registry.compiled]);
    expect(registry.compiled.listsInfohash(IH2)).toBe(true);
    registry.setConfig(filterConfigs([{ name: 'a', infohashes: [IH1] }]));
    expect(seen).toHaveLength(2);
    expect(seen[1]).toBe(registry.compiled);
    // an API change names itself; a reload does not (listeners compare the sets)
    expect(changes).toEqual([{ infohash: IH2, op: 'add' }, undefined]);
    registry.deleteInfohash('a', IH2);
    expect(changes[2]).toEqual({ infohash: IH2, op: 'delete' });
    expect(registry.compiled.listsInfohash(IH2)).toBe(false);
    off();
    registry.addInfohash('a', IH3);
    expect(seen).toHaveLength(3);
  });

  it('setConfig keeps API changes (adds and deletes) on top of the new config', () => {
    const { registry, overlay } = setup([{ name: 'a', infohashes: [IH1, IH2] }, { name: 'b' }]);
    registry.addInfohash('a', IH3);
    registry.deleteInfohash('a', IH1);
    expect(registry.get('a')?.infohashes).toEqual([IH2, IH3]);

    registry.setConfig(filterConfigs([{ name: 'a', description: 'edited', infohashes: [IH1, IH2], subnets: ['10.0.0.0/8'] }, { name: 'b' }]));
    expect(registry.get('a')).toMatchObject({ description: 'edited', infohashes: [IH2, IH3], subnets: ['10.0.0.0/8'] });
    expect(registry.compiled.match(IH3, ip('10.0.0.1'), undefined)).toEqual(expect.arrayContaining(['a']));
    expect(registry.compiled.match(IH3, ip('11.0.0.1'), undefined)).toEqual(['b']);

    // A filter removed from the config disappears; put back, it gets its API changes again.
    registry.setConfig(filterConfigs([{ name: 'b' }]));
    expect(registry.get('a')).toBeUndefined();
    expect(registry.list().map((f) => f.name)).toEqual(['b']);
    expect(registry.compiled.names).toEqual(['b']);
    registry.setConfig(filterConfigs([{ name: 'a', infohashes: [IH1] }, { name: 'b' }]));
    expect(registry.get('a')?.infohashes).toEqual([IH3]);
    expect(overlay.list().map((c) => [c.filter, c.infohash, c.op])).toEqual([
      ['a', IH1, 'delete'],
      ['a', IH3, 'add'],
    ]);
  });

  it('an explicit add of an infohash already in the config survives its removal from the config', () => {
    const { registry, overlay } = setup([{ name: 'a', infohashes: [IH1, IH2] }]);
    const before = registry.compiled;
    registry.addInfohash('a', IH1);
    expect(overlay.calls).toEqual([{ filter: 'a', infohash: IH1, op: 'add' }]);
    expect(registry.compiled).toBe(before); // nothing changed: no rebuild needed
    registry.setConfig(filterConfigs([{ name: 'a', infohashes: [IH2] }]));
    expect(registry.get('a')?.infohashes).toEqual([IH1, IH2]);
  });

  it('re-adding a deleted infohash brings it back', () => {
    const { registry } = setup([{ name: 'a', infohashes: [IH1, IH2] }]);
    registry.deleteInfohash('a', IH2);
    expect(registry.get('a')?.infohashes).toEqual([IH1]);
    registry.addInfohash('a', IH2);
    expect(registry.get('a')?.infohashes).toEqual([IH1, IH2]);
  });

  it('adding to a filter that watches every torrent narrows it to that torrent', () => {
    const { registry } = setup([{ name: 'all' }]);
    expect(registry.compiled.wantsInfohash(IH_OTHER)).toBe(true);
    registry.addInfohash('all', IH1);
    expect(registry.get('all')?.infohashes).toEqual([IH1]);
    expect(registry.compiled.wantsInfohash(IH_OTHER)).toBe(false);
    expect(registry.compiled.wantsInfohash(IH1)).toBe(true);
  });

  it('addInfohash errors: FILTER_NOT_FOUND, INFOHASH_NOT_FOUND, TORRENT_FILE_NOT_FOUND; nothing recorded', () => {
    const torrents = new FakeTorrentLookup([IH1]).set(IH2, 'pending');
    const { registry, overlay } = setup([{ name: 'a', infohashes: [IH1] }], new FakeOverlayStore(), torrents);
    const compiled = registry.compiled;

    let e = apiError(() => registry.addInfohash('nope', IH1));
    expect(e.code).toBe('FILTER_NOT_FOUND');
    e = apiError(() => registry.addInfohash('a', IH3));
    expect(e.code).toBe('INFOHASH_NOT_FOUND');
    e = apiError(() => registry.addInfohash('a', IH2));
    expect(e.code).toBe('TORRENT_FILE_NOT_FOUND');
    expect(e.message.length).toBeGreaterThan(0);

    expect(overlay.calls).toEqual([]);
    expect(registry.compiled).toBe(compiled);

    torrents.set(IH2, 'known');
    registry.addInfohash('a', IH2);
    expect(registry.get('a')?.infohashes).toEqual([IH1, IH2]);
  });

  it('deleteInfohash errors: FILTER_NOT_FOUND, INFOHASH_NOT_FOUND, FILTER_WITHOUT_INFOHASHES_NOT_ALLOWED; nothing recorded', () => {
    const { registry, overlay } = setup([{ name: 'one', infohashes: [IH1] }, { name: 'all' }]);
    let e = apiError(() => registry.deleteInfohash('nope', IH1));
    expect(e.code).toBe('FILTER_NOT_FOUND');
    e = apiError(() => registry.deleteInfohash('one', IH2));
    expect(e.code).toBe('INFOHASH_NOT_FOUND');
    e = apiError(() => registry.deleteInfohash('all', IH2));
    expect(e.code).toBe('INFOHASH_NOT_FOUND');
    e = apiError(() => registry.deleteInfohash('one', IH1));
    expect(e.code).toBe('FILTER_WITHOUT_INFOHASHES_NOT_ALLOWED');
    expect(overlay.calls).toEqual([]);
    expect(registry.get('one')?.infohashes).toEqual([IH1]);
  });

  it('changes to a disabled filter are kept but it still matches nothing', () => {
    const { registry } = setup([{ name: 'off', infohashes: [IH1], enabled: false }]);
    registry.addInfohash('off', IH2);
    expect(registry.get('off')?.infohashes).toEqual([IH1, IH2]);
    expect(registry.compiled.wantsInfohash(IH2)).toBe(false);
    expect(registry.compiled.match(IH2, ip('10.0.0.1'), undefined)).toEqual([]);
  });
});
