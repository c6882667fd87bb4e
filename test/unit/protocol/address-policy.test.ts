import { describe, expect, it } from 'vitest';
import { AddressPolicy } from '../../../src/protocol/address-policy.js';

const policy = new AddressPolicy();

function reason(ip: string, port = 6881, p: AddressPolicy = policy): string {
  const d = p.isDialable(ip, port);
  return d.ok ? 'ok' : d.reason;
}

describe('AddressPolicy defaults: IPv4', () => {
  it.each([
    // private (RFC 1918)
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.254', 'private'],
    ['172.15.255.255', 'ok'],
    ['172.32.0.0', 'ok'],
    ['192.168.1.1', 'private'],
    ['192.167.255.255', 'ok'],
    // loopback
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    // link-local
    ['169.254.1.1', 'link-local'],
    ['169.253.255.255', 'ok'],
    // CGNAT (RFC 6598)
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['100.63.255.255', 'ok'],
    ['100.128.0.0', 'ok'],
    // multicast
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    // reserved, broadcast, "this network"
    ['240.0.0.1', 'reserved'],
    ['254.1.2.3', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['192.88.99.1', 'reserved'],
    // documentation (RFC 5737)
    ['192.0.2.1', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.200', 'documentation'],
    ['203.0.114.1', 'ok'],
    // benchmarking (RFC 2544)
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['198.20.0.0', 'ok'],
    ['198.17.255.255', 'ok'],
    // public
    ['1.1.1.1', 'ok'],
    ['8.8.8.8', 'ok'],
    ['87.98.162.88', 'ok'],
    ['223.255.255.255', 'ok'],
  ])('%s → %s', (ip, expected) => {
    expect(reason(ip)).toBe(expected);
  });
});

describe('AddressPolicy defaults: IPv6', () => {
  it.each([
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fc00::1', 'private'],
    ['fd12:3456:789a::1', 'private'],
    ['fe80::1', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['fec0::1', 'private'],
    ['ff02::1', 'multicast'],
    ['ff0e::1234', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['2001:db8:ffff::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['2001:2::1', 'benchmarking'],
    ['2001:10::1', 'reserved'],
    ['2001:20::1', 'reserved'],
    ['100::1', 'reserved'],
    ['::1.2.3.4', 'reserved'], // deprecated IPv4-compatible
    ['64:ff9b:1::1', 'private'],
    ['4000::1', 'reserved'], // outside 2000::/3
    ['1::1', 'reserved'],
    // global unicast
    ['2001:4860:4860::8888', 'ok'],
    ['2a00:1450:4001:82a::200e', 'ok'],
    ['2606:4700:4700::1111', 'ok'],
    ['2002:c000:0204::1', 'ok'], // 6to4
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'ok'], // Teredo
  ])('%s → %s', (ip, expected) => {
    expect(reason(ip)).toBe(expected);
  });
});

describe('AddressPolicy: addresses embedding IPv4', () => {
  it.each([
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:192.168.0.1', 'private'],
    ['::ffff:c0a8:1', 'private'],
    ['::ffff:8.8.8.8', 'ok'],
    ['::ffff:224.0.0.1', 'multicast'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::8.8.8.8', 'ok'],
    ['64:ff9b::203.0.113.1', 'documentation'],
  ])('%s → %s', (ip, expected) => {
    expect(reason(ip)).toBe(expected);
  });
});

describe('AddressPolicy defaults: IPv6 range boundaries', () => {
  it.each([
    // unique local fc00::/7: both halves, last address; just outside it
    ['fc00::', 'private'],
    ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'private'],
    ['fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
    ['fe00::1', 'reserved'],
    // link-local fe80::/10 ends at febf:…; site-local fec0::/10 follows
    ['febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'link-local'],
    ['fec0::', 'private'],
    ['feff:ffff::1', 'private'],
    // documentation: 2001:db8::/32 and 3fff::/20, and their neighbours
    ['2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', 'ok'],
    ['2001:db9::', 'ok'],
    ['3fff:fff::1', 'documentation'],
    ['3fff:1000::1', 'ok'],
    // benchmarking 2001:2::/48
    ['2001:2:0:ffff::1', 'benchmarking'],
    ['2001:2:1::1', 'ok'],
    // SRv6 SIDs 5f00::/16 (RFC 9602) lie outside 2000::/3: refused with it; discard-only 100::/64
    ['5f00::1', 'reserved'],
    ['100::ffff:ffff:ffff:ffff', 'reserved'],
    ['100:0:0:1::1', 'reserved'], // outside 2000::/3
    // IPv4-translated (SIIT, ::ffff:0:a.b.c.d) and IPv4-compatible: not dialable as IPv6
    ['::ffff:0:808:808', 'reserved'],
    ['::8.8.8.8', 'reserved'],
    // multicast of every scope
    ['ff01::1', 'multicast'],
    ['ff05::2', 'multicast'],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'multicast'],
    // the last global unicast address, and the first one after 2000::/3
    ['3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ok'],
    ['4000::', 'reserved'],
  ])('%s → %s', (ip, expected) => {
    expect(reason(ip)).toBe(expected);
  });

  it('v4-mapped addresses in compact and in text form get the same decision as their IPv4', () => {
    for (const [v4, expected] of [
      ['10.0.0.1', 'private'],
      ['169.254.1.1', 'link-local'],
      ['100.64.0.1', 'cgnat'],
      ['198.18.0.1', 'benchmarking'],
      ['192.0.2.1', 'documentation'],
      ['240.0.0.1', 'reserved'],
      ['1.1.1.1', 'ok'],
    ] as const) {
      expect(reason(v4)).toBe(expected);
      expect(reason(`::ffff:${v4}`)).toBe(expected);
      expect(reason(`0:0:0:0:0:ffff:${v4}`)).toBe(expected);
    }
  });
});

describe('AddressPolicy: ports and malformed input', () => {
  it.each([
    [0, 'port-zero'],
    [1, 'ok'],
    [65535, 'ok'],
    [65536, 'invalid-port'],
    [-1, 'invalid-port'],
    [80.5, 'invalid-port'],
    [Number.NaN, 'invalid-port'],
  ])('port %d → %s', (port, expected) => {
    expect(reason('8.8.8.8', port)).toBe(expected);
  });

  it.each(['', 'localhost', '1.2.3', '1.2.3.4.5', '01.2.3.4', '256.1.1.1', '0x7f.0.0.1', '127.1', 'fe80::1%eth0', ':::', '1.2.3.4/32'])(
    '%j → invalid-address',
    (ip) => {
      expect(reason(ip)).toBe('invalid-address');
    },
  );

  it('refuses port 0 even inside an allowed range', () => {
    expect(reason('127.0.0.1', 0, new AddressPolicy(['127.0.0.0/8']))).toBe('port-zero');
  });
});

describe('AddressPolicy: allowedRanges override', () => {
  const testPolicy = new AddressPolicy(['127.0.0.0/8']);

  it.each([
    ['127.0.0.1', 'ok'],
    ['127.10.20.30', 'ok'],
    ['::ffff:127.0.0.1', 'ok'], // mapped form judged as its IPv4
    ['64:ff9b::127.0.0.1', 'ok'],
    ['::1', 'loopback'], // IPv6 loopback is not in 127.0.0.0/8
    ['10.0.0.1', 'private'], // other refusals unchanged
    ['8.8.8.8', 'ok'],
  ])('with 127.0.0.0/8 allowed: %s → %s', (ip, expected) => {
    expect(reason(ip, 6881, testPolicy)).toBe(expected);
  });

  it('accepts IPv6 ranges, single addresses and mapped CIDRs', () => {
    const p = new AddressPolicy(['fd00::/8', '::1', '192.168.1.10', '::ffff:10.0.0.0/104']);
    expect(reason('fd00::5', 6881, p)).toBe('ok');
    expect(reason('fc00::5', 6881, p)).toBe('private');
    expect(reason('::1', 6881, p)).toBe('ok');
    expect(reason('192.168.1.10', 6881, p)).toBe('ok');
    expect(reason('192.168.1.11', 6881, p)).toBe('private');
    expect(reason('10.9.8.7', 6881, p)).toBe('ok');
    expect(reason('::ffff:10.9.8.7', 6881, p)).toBe('ok');
  });

  it('an explicit IPv6 range can allow NAT64 addresses as such', () => {
    const p = new AddressPolicy(['64:ff9b::/96']);
    expect(reason('64:ff9b::10.0.0.1', 6881, p)).toBe('ok');
  });

  it.each(['nonsense', '10.0.0.0/33', '10.0.0.0/', '::/129'])('throws on invalid range %j', (range) => {
    expect(() => new AddressPolicy([range])).toThrow(/invalid allowed range/);
  });
});
