import { describe, expect, it } from 'vitest';
import {
  addressFamily,
  decodeCompactNode,
  decodeCompactNodes,
  decodeCompactPeer,
  decodeCompactPeers,
  encodeCompactNode,
  encodeCompactNodes,
  encodeCompactPeer,
  parseIpAddress,
} from '../../../src/protocol/compact.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ID_A = hex('0102030405060708090a0b0c0d0e0f1011121314');
const ID_B = hex('ffeeddccbbaa99887766554433221100fedcba98');

describe('compact peer info', () => {
  it.each([
    ['1.2.3.4', 6881, '01020304 1ae1'],
    ['203.0.113.255', 65535, 'cb0071ff ffff'],
    ['255.255.255.255', 1, 'ffffffff 0001'],
    ['2001:db8::1', 51413, '20010db8000000000000000000000001 c8d5'],
    ['2a00:1450:4001:82a::200e', 443, '2a0014504001082a000000000000200e 01bb'],
    ['::ffff:10.0.0.1', 80, '0a000001 0050'], // IPv4-mapped → 6-byte IPv4 form
  ])('%s:%d ⇄ %s', (ip, port, wire) => {
    expect(encodeCompactPeer(ip, port).toString('hex')).toBe(wire.replace(' ', ''));
    const canonical = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
    expect(decodeCompactPeer(hex(wire))).toEqual({ ip: canonical, port });
  });

  it('returns canonical (RFC 5952) IPv6 text', () => {
    expect(decodeCompactPeer(hex('20010DB8000000000000000000000001 1ae1'))?.ip).toBe('2001:db8::1');
    expect(decodeCompactPeer(hex('fe800000000000000000000000000001 1ae1'))?.ip).toBe('fe80::1');
  });

  it('decodes an 18-byte IPv4-mapped entry as IPv4', () => {
    expect(decodeCompactPeer(hex('00000000000000000000ffff01020304 1ae1'))).toEqual({ ip: '1.2.3.4', port: 6881 });
  });

  it.each([
    ['empty', ''],
    ['5 bytes', '0102030405'],
    ['7 bytes', '01020304050607'],
    ['17 bytes', '20010db80000000000000000000000011a'],
    ['19 bytes', '20010db8000000000000000000000001 1ae1 00'],
    ['IPv4 port 0', '01020304 0000'],
    ['IPv6 port 0', '20010db8000000000000000000000001 0000'],
  ])('rejects %s', (_label, wire) => {
    expect(decodeCompactPeer(hex(wire))).toBeUndefined();
  });

  it.each([
    ['1.2.3.4', 0],
    ['1.2.3.4', 65536],
    ['1.2.3.4', -1],
    ['1.2.3.4', 1.5],
    ['1.2.3', 80],
    ['01.2.3.4', 80],
    ['fe80::1%eth0', 80],
    ['example.com', 80],
  ])('encode refuses %s port %d', (ip, port) => {
    expect(() => encodeCompactPeer(ip, port)).toThrow(RangeError);
  });

  it('decodes get_peers values, skipping and counting malformed entries', () => {
    const values: unknown[] = [
      hex('01020304 1ae1'),
      hex('0102030405'), // short
      hex('05060708 0000'), // port 0
      hex('2001067c04e8f00200000000000000aa c8d5'),
      42, // not a string at all
      new Uint8Array(hex('08080808 0035')),
    ];
    expect(decodeCompactPeers(values)).toEqual({
      peers: [
        { ip: '1.2.3.4', port: 6881 },
        { ip: '2001:67c:4e8:f002::aa', port: 51413 },
        { ip: '8.8.8.8', port: 53 },
      ],
      malformed: 3,
    });
    expect(decodeCompactPeers([])).toEqual({ peers: [], malformed: 0 });
  });

  it('keeps the deprecated IPv4-compatible notation ::a.b.c.d as IPv6 (ipaddr.js would map it)', () => {
    expect(encodeCompactPeer('::1.2.3.4', 80).toString('hex')).toBe('00000000000000000000000001020304' + '0050');
    expect(parseIpAddress('::1.2.3.4')?.toNormalizedString()).toBe('0:0:0:0:0:0:102:304');
    expect(parseIpAddress('::ffff:1.2.3.4')?.toNormalizedString()).toBe('0:0:0:0:0:ffff:102:304');
    expect(parseIpAddress('127.1')).toBeUndefined();
    expect(parseIpAddress('fe80::1%eth0')).toBeUndefined();
  });

  it('reports address family', () => {
    expect(addressFamily('1.2.3.4')).toBe(4);
    expect(addressFamily('::ffff:1.2.3.4')).toBe(4);
    expect(addressFamily('2001:db8::1')).toBe(6);
    expect(() => addressFamily('nope')).toThrow(RangeError);
  });
});

describe('compact node info', () => {
  it('round-trips a 26-byte IPv4 node', () => {
    const wire = encodeCompactNode({ id: ID_A, ip: '87.98.162.88', port: 6881 });
    expect(wire.toString('hex')).toBe('0102030405060708090a0b0c0d0e0f1011121314' + '5762a258' + '1ae1');
    const node = decodeCompactNode(wire);
    expect(node).toEqual({ id: new Uint8Array(ID_A), ip: '87.98.162.88', port: 6881 });
  });

  it('round-trips a 38-byte IPv6 node', () => {
    const wire = encodeCompactNode({ id: ID_B, ip: '2001:41d0:2:e15a::1', port: 6881 });
    expect(wire).toHaveLength(38);
    expect(decodeCompactNode(wire)).toEqual({ id: new Uint8Array(ID_B), ip: '2001:41d0:2:e15a::1', port: 6881 });
  });

  it('copies the id rather than viewing the packet', () => {
    const wire = encodeCompactNode({ id: ID_A, ip: '1.2.3.4', port: 1 });
    const node = decodeCompactNode(wire)!;
    wire[0] = 0xaa;
    expect(node.id[0]).toBe(0x01);
  });

  it.each([
    ['25 bytes', 25],
    ['27 bytes', 27],
    ['37 bytes', 37],
    ['20 bytes', 20],
  ])('rejects %s', (_label, n) => {
    expect(decodeCompactNode(new Uint8Array(n).fill(1))).toBeUndefined();
  });

  it('rejects port 0 and short ids', () => {
    expect(decodeCompactNode(Buffer.concat([ID_A, hex('01020304 0000')]))).toBeUndefined();
    expect(() => encodeCompactNode({ id: ID_A.subarray(0, 19), ip: '1.2.3.4', port: 1 })).toThrow(RangeError);
  });

  it('encodes and decodes a nodes string', () => {
    const nodes = [
      { id: new Uint8Array(ID_A), ip: '1.2.3.4', port: 6881 },
      { id: new Uint8Array(ID_B), ip: '5.6.7.8', port: 6882 },
    ];
    const wire = encodeCompactNodes(nodes, 4);
    expect(wire).toHaveLength(52);
    expect(decodeCompactNodes(wire, 4)).toEqual({ nodes, malformed: 0 });
    expect(encodeCompactNodes([], 4)).toHaveLength(0);
  });

  it('refuses to put a node of the wrong family in a nodes string', () => {
    expect(() => encodeCompactNodes([{ id: ID_A, ip: '2001:db8::1', port: 1 }], 4)).toThrow(RangeError);
    expect(() => encodeCompactNodes([{ id: ID_A, ip: '1.2.3.4', port: 1 }], 6)).toThrow(RangeError);
  });

  it('decodes whole entries of a nodes string and counts a trailing partial one', () => {
    const good = encodeCompactNode({ id: ID_A, ip: '1.2.3.4', port: 6881 });
    const bad = Buffer.concat([ID_B, hex('05060708 0000')]);
    const result = decodeCompactNodes(Buffer.concat([good, bad, good.subarray(0, 10)]), 4);
    expect(result.nodes).toHaveLength(1);
    expect(result.malformed).toBe(2);
  });

  it('decodes a nodes6 string', () => {
    const n6 = { id: new Uint8Array(ID_B), ip: '2001:db8::2', port: 7000 };
    const wire = encodeCompactNodes([n6, n6], 6);
    expect(wire).toHaveLength(76);
    expect(decodeCompactNodes(wire, 6)).toEqual({ nodes: [n6, n6], malformed: 0 });
  });
});
