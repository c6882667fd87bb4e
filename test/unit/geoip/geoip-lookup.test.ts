import { Writable } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createLogger } from '../../../src/util/logger.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeIp, openGeoIp } from '../../../src/geoip/geoip-lookup.js';
import { writeMmdb } from '../../helpers/mmdb-writer.js';

/** A pino logger whose JSON lines at warn level and above are collected in `lines`. */
function captureLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('warn', { pretty: false, destination: new Writable({ write: (chunk: Buffer, _enc, cb) => { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } }) });
  return { logger, lines };
}

const germany = { geoname_id: 2921044, iso_code: 'DE', names: { en: 'Germany', de: 'Deutschland' } };
const us = { geoname_id: 6252001, iso_code: 'US', names: { en: 'United States' } };

let dir: string;
const p = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'geoip-test-'));
  // GeoLite2-Country layout, IPv6 tree holding IPv4 and IPv6 networks.
  writeMmdb(p('country.mmdb'), {
    databaseType: 'GeoLite2-Country',
    ipVersion: 6,
    records: [
      { cidr: '127.1.0.0/16', data: { country: germany, registered_country: germany } },
      { cidr: '127.2.0.0/16', data: { country: { iso_code: 'CA' } } }, // the City db disagrees and wins
      { cidr: '127.3.0.0/16', data: { country: { iso_code: 'NL' } } }, // not in the City db
      { cidr: '127.4.0.0/16', data: { registered_country: { iso_code: 'SE' } } }, // e.g. anycast: no location
      { cidr: '2001:db8::/32', data: { country: { iso_code: 'FR', names: { en: 'France' } } } },
    ],
  });
  // GeoLite2-City layout, IPv4-only tree.
  writeMmdb(p('city.mmdb'), {
    databaseType: 'GeoLite2-City',
    ipVersion: 4,
    records: [
      { cidr: '127.1.0.0/16', data: { city: { geoname_id: 2950159, names: { en: 'Berlin', de: 'Berlin' } }, country: germany, location: { latitude: 52.52, longitude: 13.405, accuracy_radius: 100 } } },
      { cidr: '127.2.0.0/16', data: { city: { names: { en: 'Dallas' } }, country: us, subdivisions: [{ iso_code: 'TX' }] } },
    ],
  });
  writeMmdb(p('asn.mmdb'), {
    databaseType: 'GeoLite2-ASN',
    ipVersion: 6,
    records: [
      { cidr: '127.1.0.0/16', data: { autonomous_system_number: 64500, autonomous_system_organization: 'Example Telecom' } },
      { cidr: '2001:db8::/32', data: { autonomous_system_number: 64501, autonomous_system_organization: 'Example v6 Net' } },
    ],
  });
  // Flat @ip-location-db layouts (country-mmdb / dbip-city-mmdb).
  writeMmdb(p('flat-country.mmdb'), {
    databaseType: 'country ipvAll',
    ipVersion: 6,
    records: [{ cidr: '127.5.0.0/16', data: { country_code: 'JP' } }],
  });
  writeMmdb(p('flat-city.mmdb'), {
    databaseType: 'city ipv4',
    ipVersion: 4,
    records: [{ cidr: '127.5.0.0/16', data: { city: 'Osaka', country_code: 'jp', latitude: 34.69, state1: 'Osaka' } }],
  });
  // GeoIP2-ISP layout: `isp` is preferred over the organization / AS names.
  writeMmdb(p('isp.mmdb'), {
    databaseType: 'GeoIP2-ISP',
    ipVersion: 6,
    records: [
      { cidr: '127.1.0.0/16', data: { isp: 'Example ISP', organization: 'Example Org', autonomous_system_organization: 'Example AS' } },
      { cidr: '127.2.0.0/16', data: { organization: 'Only Org' } },
    ],
  });
  writeFileSync(p('corrupt.mmdb'), Buffer.from('definitely not a MaxMind database'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('openGeoIp with test databases', () => {
  it('combines country, city and ASN databases', async () => {
    const { logger, lines } = captureLogger();
    const geo = await openGeoIp({ countryDb: p('country.mmdb'), cityDb: p('city.mmdb'), asnDb: p('asn.mmdb') }, logger);
    expect(geo.lookup('127.1.2.3')).toEqual({ countryCode: 'DE', city: 'Berlin', isp: 'Example Telecom' });
    expect(geo.lookup('127.2.0.9')).toEqual({ countryCode: 'US', city: 'Dallas' }); // City db beats Country db
    expect(geo.lookup('127.3.0.1')).toEqual({ countryCode: 'NL' }); // falls back to the Country db
    expect(geo.lookup('127.4.0.1')).toEqual({ countryCode: 'SE' }); // registered country as a last resort
    // IPv6: the IPv4-only City db is skipped, the IPv6-capable ones answer.
    expect(geo.lookup('2001:db8:0:1::42')).toEqual({ countryCode: 'FR', isp: 'Example v6 Net' });
    // 7f01::/16 shares its first bits with 127.1.0.0/16: it must not be walked through the IPv4 tree.
    expect(geo.lookup('7f01::1')).toEqual({});
    expect(geo.lookup('2001:0DB8::1%eth0')).toEqual({ countryCode: 'FR', isp: 'Example v6 Net' });
    expect(lines).toEqual([]);
  });

  it('looks up IPv4-mapped IPv6 addresses as IPv4', async () => {
    const { logger } = captureLogger();
    const geo = await openGeoIp({ countryDb: p('country.mmdb'), cityDb: p('city.mmdb'), asnDb: p('asn.mmdb') }, logger);
    const expected = { countryCode: 'DE', city: 'Berlin', isp: 'Example Telecom' };
    expect(geo.lookup('::ffff:127.1.2.3')).toEqual(expected);
    expect(geo.lookup('::FFFF:7f01:0203')).toEqual(expected);
  });

  it('returns {} for unknown and invalid addresses', async () => {
    const { logger } = captureLogger();
    const geo = await openGeoIp({ countryDb: p('country.mmdb'), cityDb: p('city.mmdb'), asnDb: p('asn.mmdb') }, logger);
    for (const ip of ['127.9.9.9', '10.0.0.1', '2001:db9::1', '::1']) expect(geo.lookup(ip)).toEqual({});
    for (const ip of ['', 'not-an-ip', '127.1', '0x7f.1.2.3', '256.1.2.3', '1.2.3.4.5', '2001:db8::g', ':::']) {
      expect(geo.lookup(ip)).toEqual({});
    }
  });

  it('understands the flat @ip-location-db layout and ISP databases', async () => {
    const { logger } = captureLogger();
    const geo = await openGeoIp({ countryDb: p('flat-country.mmdb'), cityDb: p('flat-city.mmdb'), asnDb: p('isp.mmdb') }, logger);
    expect(geo.lookup('127.5.1.1')).toEqual({ countryCode: 'JP', city: 'Osaka' });
    expect(geo.lookup('127.1.1.1')).toEqual({ isp: 'Example ISP' });
    expect(geo.lookup('127.2.1.1')).toEqual({ isp: 'Only Org' });
  });

  it('warns once per missing or unreadable file and leaves those fields empty', async () => {
    const { logger, lines } = captureLogger();
    const missing = p('does-not-exist.mmdb');
    const geo = await openGeoIp({ countryDb: p('country.mmdb'), cityDb: missing, asnDb: p('corrupt.mmdb'), cacheSize: 2 }, logger);
    expect(lines).toHaveLength(2);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 'warn', db: 'city', path: missing, reason: expect.stringMatching(/ENOENT/) }),
        expect.objectContaining({ level: 'warn', db: 'asn', path: p('corrupt.mmdb'), reason: expect.any(String) }),
      ]),
    );
    for (let i = 0; i < 5; i++) expect(geo.lookup('127.1.2.3')).toEqual({ countryCode: 'DE' });
    expect(lines).toHaveLength(2); // no further logging on lookups
  });

  it('null disables the default country db; close() empties results', async () => {
    const { logger, lines } = captureLogger();
    const none = await openGeoIp({ countryDb: null }, logger);
    expect(none.lookup('8.8.8.8')).toEqual({});
    const geo = await openGeoIp({ countryDb: p('country.mmdb') }, logger);
    expect(geo.lookup('127.1.0.1')).toEqual({ countryCode: 'DE' });
    geo.close?.();
    expect(geo.lookup('127.1.0.1')).toEqual({});
    expect(lines).toEqual([]);
  });
});

describe('openGeoIp with the bundled country database', () => {
  it('opens by default and returns ISO country codes for IPv4, IPv6 and mapped addresses', async () => {
    const { logger, lines } = captureLogger();
    const geo = await openGeoIp({}, logger);
    const v4 = geo.lookup('8.8.8.8'); // lookup in the local file only, no network traffic
    expect(v4.countryCode).toMatch(/^[A-Z]{2}$/);
    expect(geo.lookup('::ffff:8.8.8.8')).toEqual(v4);
    expect(geo.lookup('2001:4860:4860::8888').countryCode).toMatch(/^[A-Z]{2}$/);
    expect(geo.lookup('127.0.0.1')).toEqual({}); // loopback is in no registry
    expect(lines).toEqual([]);
  });
});

describe('normalizeIp', () => {
  it('canonicalises addresses for maxmind', () => {
    expect(normalizeIp(' 127.0.0.1 ')).toEqual({ ip: '127.0.0.1', version: 4 });
    expect(normalizeIp('::ffff:1.2.3.4')).toEqual({ ip: '1.2.3.4', version: 4 });
    expect(normalizeIp('fe80::1%eth0')).toEqual({ ip: 'fe80:0:0:0:0:0:0:1', version: 6 });
    expect(normalizeIp('1.2.3')).toBeNull();
  });
});
