/**
 * The filter-match benchmark's data: 1,000 filters (100,000 infohashes, 10,000 CIDRs, 50 countries),
 * a peer workload, and the naive reference matcher. Deterministic: the same seed gives the same data.
 */
import ipaddr from 'ipaddr.js';
import type { FilterDefinition } from '../src/filter/compiled-filters.js';
import { formatIpBytes, parseIpBytes } from '../src/filter/ip-bytes.js';
import { Rng } from './lib.js';

export const FILTERS = 1_000;
export const INFOHASHES = 100_000;
export const CIDRS = 10_000;
export const COUNTRIES = 50;

export const rng = new Rng(0x5eed_f117);

/** A fresh flat copy of a string, so workload strings are not the objects the filters hold. */
function copyString(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

// ---------------------------------------------------------------- filters
const COUNTRY_CODES = [
  'US', 'DE', 'FR', 'GB', 'NL', 'RU', 'BR', 'IN', 'CN', 'JP', 'KR', 'CA', 'AU', 'IT', 'ES', 'PL', 'SE', 'UA', 'TR', 'MX',
  'AR', 'CL', 'CO', 'PE', 'ZA', 'EG', 'NG', 'KE', 'MA', 'DZ', 'SA', 'AE', 'IR', 'IL', 'PK', 'BD', 'VN', 'TH', 'MY', 'ID',
  'PH', 'SG', 'TW', 'HK', 'NZ', 'NO', 'FI', 'DK', 'AT', 'CH',
];
const OTHER_CODES = ['BE', 'PT', 'GR', 'CZ', 'RO', 'HU', 'BG', 'RS', 'HR', 'IE'];
if (COUNTRY_CODES.length !== COUNTRIES) throw new Error('country list');

/** Skewed pick: low indexes are more popular (r² concentrates near 0). */
function skewed<T>(items: readonly T[]): T {
  const r = rng.next();
  return items[Math.floor(r * r * items.length)] as T;
}

function v4Prefix(): number {
  const r = rng.next();
  if (r < 0.002) return 8;
  if (r < 0.04) return rng.int(9, 15);
  if (r < 0.2) return 16;
  if (r < 0.45) return rng.int(17, 23);
  if (r < 0.8) return 24;
  if (r < 0.9) return rng.int(25, 31);
  return 32;
}

function v6Prefix(): number {
  const r = rng.next();
  if (r < 0.15) return 32;
  if (r < 0.45) return 48;
  if (r < 0.6) return 56;
  if (r < 0.8) return 64;
  return rng.int(33, 63);
}

/** A random public-looking address: IPv4 1.x–223.x, IPv6 in 2000::/3. */
function randomAddress(v6: boolean): Uint8Array {
  const b = rng.bytes(v6 ? 16 : 4);
  if (v6) b[0] = 0x20 | ((b[0] as number) & 0x1f);
  else b[0] = rng.int(1, 223);
  return b;
}

export function maskTo(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length * 8; i++) {
    if (i >= prefix) out[i >> 3] = (out[i >> 3] as number) & ~(0x80 >> (i & 7));
  }
  return out;
}

export interface Cidr {
  bytes: Uint8Array; // network address (masked)
  prefix: number;
  text: string;
}

function makeCidr(v6: boolean): Cidr {
  const prefix = v6 ? v6Prefix() : v4Prefix();
  const net = maskTo(randomAddress(v6), prefix);
  // 5% written with host bits set (a common config slip: "10.1.2.3/8"); both matchers ignore them.
  const shown = rng.chance(0.05) ? randomInside({ bytes: net, prefix }) : net;
  return { bytes: net, prefix, text: `${formatIpBytes(shown)}/${prefix}` };
}

export function randomInside(c: { bytes: Uint8Array; prefix: number }): Uint8Array {
  const r = rng.bytes(c.bytes.length);
  const out = Uint8Array.from(c.bytes);
  for (let i = c.prefix; i < out.length * 8; i++) {
    if ((r[i >> 3] as number) & (0x80 >> (i & 7))) out[i >> 3] = (out[i >> 3] as number) | (0x80 >> (i & 7));
  }
  return out;
}

export function buildFilters(): { defs: FilterDefinition[]; watched: string[]; cidrs: Cidr[] } {
  const watched: string[] = [];
  const seen = new Set<string>();
  while (watched.length < INFOHASHES) {
    const h = rng.hex40();
    if (!seen.has(h)) {
      seen.add(h);
      watched.push(h);
    }
  }
  const anyIdx = new Set<number>();
  for (let i = 0; i < FILTERS; i++) if (i % 50 === 7) anyIdx.add(i); // 2%
  const listIdx = [...Array(FILTERS).keys()].filter((i) => !anyIdx.has(i));

  const infohashes: string[][] = Array.from({ length: FILTERS }, () => []);
  watched.forEach((h, i) => {
    // Every listing filter gets at least one; then skewed (a few big filters, many small ones).
    const f = i < listIdx.length ? (listIdx[i] as number) : skewed(listIdx);
    (infohashes[f] as string[]).push(h);
    if (rng.chance(0.05)) {
      const g = rng.pick(listIdx);
      if (g !== f) (infohashes[g] as string[]).push(h); // 5% shared by a second filter
    }
  });

  // Subnets: 30% of the listing filters have none; the others share 10,000 CIDRs (70% IPv4).
  const withSubnets = listIdx.filter(() => rng.chance(0.7));
  // Watch-all filters: half restrict by subnet, half by country only.
  const anyList = [...anyIdx];
  const anyWithSubnets = anyList.filter((_, i) => i % 2 === 0);
  const anyCountryOnly = anyList.filter((_, i) => i % 2 === 1);
  const subnets: string[][] = Array.from({ length: FILTERS }, () => []);
  const cidrs: Cidr[] = [];
  for (let i = 0; i < CIDRS; i++) {
    const c = makeCidr(rng.chance(0.3));
    cidrs.push(c);
    let f: number;
    if (i < withSubnets.length) f = withSubnets[i] as number;
    else if (i < withSubnets.length + anyWithSubnets.length * 5) f = anyWithSubnets[(i - withSubnets.length) % anyWithSubnets.length] as number;
    else f = skewed(withSubnets);
    (subnets[f] as string[]).push(c.text);
  }

  const defs: FilterDefinition[] = [];
  for (let i = 0; i < FILTERS; i++) {
    let countryCodes: string[] = [];
    if (anyCountryOnly.includes(i)) countryCodes = [COUNTRY_CODES[COUNTRIES - 1 - (i % 10)] as string];
    else if (rng.chance(0.5)) {
      const n = rng.int(1, 5);
      const set = new Set<string>();
      while (set.size < n) set.add(skewed(COUNTRY_CODES));
      countryCodes = [...set];
    }
    defs.push({
      name: `filter-${String(i).padStart(4, '0')}`,
      infohashes: infohashes[i] as string[],
      subnets: subnets[i] as string[],
      countryCodes,
      enabled: true,
    });
  }
  return { defs, watched, cidrs };
}

// ---------------------------------------------------------------- naive matcher
export interface NaiveFilter {
  name: string;
  infohashes: Set<string>;
  subnets: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]>;
  countryCodes: readonly string[];
}

export function buildNaive(defs: readonly FilterDefinition[]): NaiveFilter[] {
  return defs
    .filter((d) => d.enabled)
    .map((d) => ({
      name: d.name,
      infohashes: new Set(d.infohashes.map((h) => h.toLowerCase())),
      subnets: d.subnets.map((s) => ipaddr.parseCIDR(s)),
      countryCodes: d.countryCodes.map((c) => c.toUpperCase()),
    }));
}

/** The obvious implementation: every filter, cheapest test first (infohash, country, then each subnet). */
export function naiveMatch(filters: readonly NaiveFilter[], infohash: string, addr: ipaddr.IPv4 | ipaddr.IPv6, cc: string | undefined): string[] {
  const out: string[] = [];
  const kind = addr.kind();
  for (const f of filters) {
    if (f.infohashes.size > 0 && !f.infohashes.has(infohash)) continue;
    if (f.countryCodes.length > 0 && (cc === undefined || !f.countryCodes.includes(cc))) continue;
    if (f.subnets.length > 0) {
      let hit = false;
      for (const range of f.subnets) {
        if (range[0].kind() === kind && addr.match(range)) {
          hit = true;
          break;
        }
      }
      if (!hit) continue;
    }
    out.push(f.name);
  }
  return out;
}

// ---------------------------------------------------------------- workload
export function buildWorkload(watched: readonly string[], cidrs: readonly Cidr[], PEERS: number) {
  const infohashes: string[] = new Array(PEERS);
  const ihBytes = Buffer.alloc(PEERS * 20);
  const ips: Uint8Array[] = new Array(PEERS);
  const ipTexts: string[] = new Array(PEERS);
  const countries: Array<string | undefined> = new Array(PEERS);
  let inside = 0;
  for (let i = 0; i < PEERS; i++) {
    const ih = rng.chance(0.5) ? rng.pick(watched) : rng.hex40();
    infohashes[i] = copyString(ih);
    ihBytes.write(ih, i * 20, 'hex');
    let bytes: Uint8Array;
    if (rng.chance(0.35)) {
      bytes = randomInside(rng.pick(cidrs));
      inside++;
    } else {
      bytes = randomAddress(rng.chance(0.4));
    }
    const text = formatIpBytes(bytes);
    ipTexts[i] = text;
    ips[i] = parseIpBytes(text) as Uint8Array;
    const r = rng.next();
    countries[i] = r < 0.1 ? undefined : r < 0.9 ? skewed(COUNTRY_CODES) : rng.pick(OTHER_CODES);
  }
  return { infohashes, ihBytes, ips, ipTexts, countries, inside };
}

/** The address one above (+1) or below (-1), or undefined at the ends of the space. */
export function step(bytes: Uint8Array, delta: 1 | -1): Uint8Array | undefined {
  const out = Uint8Array.from(bytes);
  for (let i = out.length - 1; i >= 0; i--) {
    const v = (out[i] as number) + delta;
    if (v >= 0 && v <= 255) {
      out[i] = v;
      return out;
    }
    out[i] = delta > 0 ? 0 : 255;
  }
  return undefined;
}

