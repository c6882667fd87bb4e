import { Reader } from 'maxmind';
import { describe, expect, it } from 'vitest';
import { buildMmdb, encode, mmdbType } from '../../helpers/mmdb-writer.js';

// Round-trips the test-only MMDB writer through maxmind's own Reader (mmdb-lib).
describe('mmdb-writer', () => {
  const rich = {
    str: 'Berlin',
    unicode: 'Zürich – 東京',
    empty: '',
    u16: mmdbType('uint16', 65_535),
    u32: 4_000_000_000,
    zero: 0,
    neg: -42,
    dbl: 52.52,
    flt: mmdbType('float', 1.5),
    big64: 2n ** 63n + 5n,
    big128: 2n ** 100n,
    yes: true,
    no: false,
    bytes: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
    list: ['a', 1, { nested: true }],
    map: { names: { en: 'Germany', de: 'Deutschland' } },
    long: 'x'.repeat(300), // size needs 2 extra bytes
    medium: 'y'.repeat(100), // size needs 1 extra byte
  };

  it.each([24, 28, 32] as const)('round-trips data types and metadata with %i-bit records', (recordSize) => {
    const buf = buildMmdb({
      databaseType: 'Test-Rich',
      ipVersion: 6,
      recordSize,
      buildEpoch: 1_700_000_000,
      languages: ['en', 'de'],
      records: [{ cidr: '127.1.0.0/16', data: rich }],
    });
    const reader = new Reader(buf);
    expect(reader.metadata).toMatchObject({
      binaryFormatMajorVersion: 2,
      binaryFormatMinorVersion: 0,
      databaseType: 'Test-Rich',
      ipVersion: 6,
      recordSize,
      languages: ['en', 'de'],
      description: { en: 'Test-Rich (test database)' },
    });
    expect(reader.metadata.buildEpoch.getTime()).toBe(1_700_000_000_000);
    const got = reader.get('127.1.200.3') as unknown as Record<string, unknown>;
    expect(got).toEqual({
      ...rich,
      u16: 65_535,
      flt: 1.5,
      bytes: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
    });
    expect(reader.get('127.2.0.1')).toBeNull();
    expect(reader.get('::1')).toBeNull();
  });

  it('builds IPv4 trees and resolves overlapping networks (later, more specific wins)', () => {
    const reader = new Reader(
      buildMmdb({
        databaseType: 'Test-V4',
        ipVersion: 4,
        records: [
          { cidr: '127.0.0.0/8', data: { v: 'wide' } },
          { cidr: '127.1.2.0/24', data: { v: 'narrow' } },
          { cidr: '10.0.0.1/32', data: { v: 'host' } },
        ],
      }),
    );
    expect(reader.metadata.ipVersion).toBe(4);
    expect(reader.getWithPrefixLength('127.1.2.77')).toEqual([{ v: 'narrow' }, 24]);
    // The /8 was split on the way down to the /24, so readers report the depth of the leaf.
    expect(reader.getWithPrefixLength('127.1.3.77')).toEqual([{ v: 'wide' }, 24]);
    expect(reader.getWithPrefixLength('127.200.0.1')).toEqual([{ v: 'wide' }, 9]);
    expect(reader.get('10.0.0.1')).toEqual({ v: 'host' });
    expect(reader.get('10.0.0.2')).toBeNull();
    expect(() => buildMmdb({ databaseType: 'x', ipVersion: 4, records: [{ cidr: '2001:db8::/32', data: {} }] })).toThrow(
      /IPv6 network/,
    );
  });

  it('puts IPv4 networks at ::/96 in IPv6 trees, next to real IPv6 networks', () => {
    const reader = new Reader(
      buildMmdb({
        databaseType: 'Test-V6',
        ipVersion: 6,
        records: [
          { cidr: '127.1.0.0/16', data: { cc: 'DE' } },
          { cidr: '2001:db8::/32', data: { cc: 'FR' } },
        ],
      }),
    );
    expect(reader.getWithPrefixLength('127.1.0.1')).toEqual([{ cc: 'DE' }, 16]);
    expect(reader.get('::127.1.0.1')).toEqual({ cc: 'DE' }); // the same slot, seen as IPv6
    expect(reader.getWithPrefixLength('2001:db8:1::1')).toEqual([{ cc: 'FR' }, 32]);
    expect(reader.get('2001:db9::1')).toBeNull();
  });

  it('handles an empty tree, a /0 network and shared data objects', () => {
    expect(new Reader(buildMmdb({ databaseType: 'Empty', ipVersion: 6, records: [] })).get('1.2.3.4')).toBeNull();
    const shared = { same: 'object' };
    const buf = buildMmdb({
      databaseType: 'All',
      ipVersion: 4,
      records: [
        { cidr: '0.0.0.0/0', data: { any: true } },
        { cidr: '127.1.0.0/16', data: shared },
        { cidr: '127.3.0.0/16', data: shared },
      ],
    });
    expect(buf.indexOf('object')).toBe(buf.lastIndexOf('object')); // encoded once
    const reader = new Reader(buf);
    expect(reader.get('8.8.8.8')).toEqual({ any: true });
    expect(reader.get('127.1.0.1')).toEqual(shared);
    expect(reader.get('127.3.0.1')).toEqual(shared);
  });

  it('uses the high nibbles of 28-bit records for values >= 2^24 and rejects overflows', () => {
    // A 16 MiB first record (near the largest encodable size) pushes the second record's data pointer past 2^24.
    const records = [
      { cidr: '127.1.0.0/16', data: { blob: Buffer.alloc(16 * 1024 * 1024, 7) } },
      { cidr: '127.2.0.0/16', data: { cc: 'US' } },
    ];
    const reader = new Reader(buildMmdb({ databaseType: 'Big', ipVersion: 4, recordSize: 28, records }));
    expect(reader.get('127.2.3.4')).toEqual({ cc: 'US' });
    expect((reader.get('127.1.0.1') as unknown as { blob: Buffer }).blob.length).toBe(16 * 1024 * 1024);
    expect(() => buildMmdb({ databaseType: 'Big', ipVersion: 4, recordSize: 24, records })).toThrow(/24 bits/);
    expect(() => encode(Buffer.alloc(65_821 + 0x1000000))).toThrow(/too large/);
  });

  it('encodes control bytes as the spec examples show', () => {
    expect(encode('ab')).toEqual(Buffer.from([0x42, 0x61, 0x62])); // utf8 string, size 2
    expect(encode(mmdbType('uint16', 0))).toEqual(Buffer.from([0xa0])); // zero = no payload bytes
    expect(encode(true)).toEqual(Buffer.from([0x01, 0x07])); // extended type 14, value in size bits
    expect(encode([])).toEqual(Buffer.from([0x00, 0x04])); // extended type 11 (array)
    expect(encode({})).toEqual(Buffer.from([0xe0])); // map with 0 pairs
  });
});
