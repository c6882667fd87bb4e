/**
 * GeoIP port + MaxMind DB (.mmdb) adapter.
 *
 * Up to three databases: Country, City, ASN/ISP. Understood record layouts:
 *  - MaxMind GeoLite2/GeoIP2 and DB-IP lite (same layout): `country.iso_code`,
 *    `registered_country.iso_code`, `city.names.en`, `autonomous_system_organization`,
 *    and GeoIP2-ISP's `isp` / `organization`;
 *  - the flat @ip-location-db layout: `country_code`, `city` (a string),
 *    `autonomous_system_organization`.
 * A database that cannot be opened is logged once and skipped: lookups never throw.
 */
import { createRequire } from 'node:module';
import ipaddr from 'ipaddr.js';
import { open, type Reader, type Response } from 'maxmind';
import type { Logger } from '../util/logger.js';

export interface GeoInfo {
  countryCode?: string;
  city?: string;
  isp?: string;
}

export interface GeoIpLookup {
  lookup(ip: string): GeoInfo;
  close?(): void;
}

export interface GeoIpOptions {
  /** Path; undefined = the bundled @ip-location-db country db; null = disabled. */
  countryDb?: string | null;
  /** Path; undefined/null = disabled. */
  cityDb?: string | null;
  /** Path (GeoLite2-ASN, DB-IP ASN, ip-location-db ASN or a GeoIP2-ISP db); undefined/null = disabled. */
  asnDb?: string | null;
  /** Per-database cache of decoded records (maxmind's LRU). Default 10 000. */
  cacheSize?: number;
}

/** npm package (and file in it) used when `countryDb` is undefined: IPv4+IPv6 in one IPv6-tree db. */
export const DEFAULT_COUNTRY_DB_MODULE = '@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb';

type Kind = 'country' | 'city' | 'asn';

interface OpenDb {
  kind: Kind;
  path: string;
  reader: Reader<Response>;
  ipVersion: number;
  failed: boolean; // a lookup threw once (corrupt data): warned, then ignored
}

/** The bundled country db, or null (with the reason) when the package is not installed. */
function resolveDefaultCountryDb(): { path: string } | { error: string } {
  try {
    return { path: createRequire(import.meta.url).resolve(DEFAULT_COUNTRY_DB_MODULE) };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/** Path of the bundled country database (used when `geoip.countryDb` is not set), or undefined when it is not installed. */
export function bundledCountryDbPath(): string | undefined {
  const r = resolveDefaultCountryDb();
  return 'path' in r ? r.path : undefined;
}

async function openDb(kind: Kind, path: string, cacheSize: number, logger: Logger): Promise<OpenDb | null> {
  try {
    const reader = await open<Response>(path, { cache: { max: cacheSize } });
    const { databaseType, ipVersion, buildEpoch } = reader.metadata;
    logger.info({ db: kind, path, databaseType, ipVersion, buildEpoch }, 'GeoIP database opened');
    return { kind, path, reader, ipVersion, failed: false };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    logger.warn({ db: kind, path, reason }, 'GeoIP database unavailable: its fields stay empty');
    return null;
  }
}

/** Canonical form understood by maxmind, or null if not an IP. IPv4-mapped IPv6 becomes IPv4. */
export function normalizeIp(ip: string): { ip: string; version: 4 | 6 } | null {
  const s = ip.trim();
  // Strict dotted quad only: ipaddr.js would also accept "127.1" or hex/octal forms.
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return { ip: ipaddr.IPv4.parse(s).toString(), version: 4 };
  if (!ipaddr.IPv6.isValid(s)) return null;
  const v6 = ipaddr.IPv6.parse(s);
  if (v6.isIPv4MappedAddress()) return { ip: v6.toIPv4Address().toString(), version: 4 };
  // Rebuild from the parts: drops any zone id ("%eth0"), which maxmind's parser does not expect.
  return { ip: v6.parts.map((p) => p.toString(16)).join(':'), version: 6 };
}

/** obj[k1][k2]... if that is a non-empty string. */
function str(obj: unknown, ...keys: string[]): string | undefined {
  let cur = obj;
  for (const k of keys) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return typeof cur === 'string' && cur.length > 0 ? cur : undefined;
}

const countryOf = (rec: unknown): string | undefined =>
  (str(rec, 'country', 'iso_code') ?? str(rec, 'country_code'))?.toUpperCase();
/** Where the block is registered (GeoLite2 layout): only a fallback when no location is known. */
const registeredCountryOf = (rec: unknown): string | undefined => str(rec, 'registered_country', 'iso_code')?.toUpperCase();
const cityOf = (rec: unknown): string | undefined => str(rec, 'city', 'names', 'en') ?? str(rec, 'city');
const ispOf = (rec: unknown): string | undefined =>
  str(rec, 'isp') ?? str(rec, 'organization') ?? str(rec, 'autonomous_system_organization');

export async function openGeoIp(options: GeoIpOptions, logger: Logger): Promise<GeoIpLookup> {
  const cacheSize = options.cacheSize ?? 10_000;

  let countryPath = options.countryDb;
  if (countryPath === undefined) {
    const def = resolveDefaultCountryDb();
    if ('error' in def) {
      logger.warn({ db: 'country', path: DEFAULT_COUNTRY_DB_MODULE, reason: def.error },
        'bundled GeoIP country database not found; country field stays empty');
      countryPath = null;
    } else countryPath = def.path;
  }

  const [country, city, asn] = await Promise.all([
    countryPath ? openDb('country', countryPath, cacheSize, logger) : null,
    options.cityDb ? openDb('city', options.cityDb, cacheSize, logger) : null,
    options.asnDb ? openDb('asn', options.asnDb, cacheSize, logger) : null,
  ]);
  let dbs: Array<OpenDb | null> = [country, city, asn];

  const get = (db: OpenDb | null, addr: { ip: string; version: 4 | 6 }): unknown => {
    // An IPv6 address cannot be looked up in an IPv4-only tree (maxmind would walk it anyway).
    if (!db || db.failed || (addr.version === 6 && db.ipVersion === 4)) return null;
    try {
      return db.reader.get(addr.ip);
    } catch (err) {
      db.failed = true;
      logger.warn({ db: db.kind, path: db.path, ip: addr.ip, reason: err instanceof Error ? err.message : String(err) },
        'GeoIP database lookup failed: database disabled');
      return null;
    }
  };

  return {
    lookup(ip: string): GeoInfo {
      const addr = normalizeIp(ip);
      const [countryDb, cityDb, asnDb] = dbs;
      if (!addr) return {};
      const info: GeoInfo = {};
      const cityRec = get(cityDb ?? null, addr);
      // Country: the City db first (more precise when both exist), then the Country db.
      let countryCode = countryOf(cityRec);
      if (!countryCode) {
        const countryRec = get(countryDb ?? null, addr);
        countryCode = countryOf(countryRec) ?? registeredCountryOf(cityRec) ?? registeredCountryOf(countryRec);
      }
      if (countryCode) info.countryCode = countryCode;
      const cityName = cityOf(cityRec);
      if (cityName) info.city = cityName;
      const isp = ispOf(get(asnDb ?? null, addr));
      if (isp) info.isp = isp;
      return info;
    },
    close(): void {
      dbs = []; // readers hold only in-memory buffers (no watchers): dropping them frees everything
    },
  };
}
