import { describe, expect, it } from 'vitest';
import type { DhtContact } from 'bittorrent-dht';
import { encodeNodes, parseNodes, parseWant, wantList } from '../../../src/dht/krpc-nodes.js';

const contact = (fill: number, host: string, port: number): DhtContact => ({ id: Buffer.alloc(20, fill), host, port });

describe('krpc-nodes (BEP 32 compact node lists)', () => {
  it('encodes nodes6 as 38-byte entries byte for byte and parses them back', () => {
    const buf = encodeNodes([contact(0xaa, 'fd00:cd::2', 6881), contact(0xbb, '2001:db8::ff', 51413)], 6);
    expect(buf).toHaveLength(76);
    expect(buf.subarray(0, 20).equals(Buffer.alloc(20, 0xaa))).toBe(true);
    expect(buf.subarray(20, 36).toString('hex')).toBe('fd0000cd000000000000000000000002');
    expect(buf.readUInt16BE(36)).toBe(6881);
    const back = parseNodes(buf, 6).map((n) => ({ id: n.id.toString('hex'), host: n.host, port: n.port }));
    expect(back).toEqual([
      { id: 'aa'.repeat(20), host: 'fd00:cd::2', port: 6881 },
      { id: 'bb'.repeat(20), host: '2001:db8::ff', port: 51413 },
    ]);
  });

  it('keeps each family in its own list: nodes has only IPv4, nodes6 only IPv6', () => {
    const mixed = [contact(1, '127.0.0.2', 1000), contact(2, 'fd00:cd::3', 2000), contact(3, '::ffff:127.0.0.4', 3000)];
    const v4 = encodeNodes(mixed, 4);
    const v6 = encodeNodes(mixed, 6);
    expect(parseNodes(v4, 4).map((n) => n.host)).toEqual(['127.0.0.2']);
    expect(parseNodes(v6, 6).map((n) => n.host)).toEqual(['fd00:cd::3']); // the mapped one is IPv4, not listed
    // A 26-byte-entry string read as nodes6 yields nothing whole, and vice versa nothing bogus.
    expect(parseNodes(v4, 6)).toEqual([]);
  });

  it('skips port 0, mapped IPv4 in nodes6, and a trailing partial entry', () => {
    const good = encodeNodes([contact(1, 'fd00:cd::3', 2000)], 6);
    const zeroPort = Buffer.from(good);
    zeroPort.writeUInt16BE(0, 36);
    const mapped = Buffer.concat([Buffer.alloc(20, 9), Buffer.from('00000000000000000000ffff7f000001', 'hex'), Buffer.from([0, 80])]);
    const parsed = parseNodes(Buffer.concat([zeroPort, mapped, good, good.subarray(0, 30)]), 6);
    expect(parsed.map((n) => `${n.host}:${n.port}`)).toEqual(['fd00:cd::3:2000']);
    expect(parseNodes('not a buffer', 4)).toEqual([]);
  });

  it('reads want as a list of n4/n6 flags; anything else means "the transport family"', () => {
    expect(parseWant([Buffer.from('n4'), Buffer.from('n6')])).toEqual(new Set([4, 6]));
    expect(parseWant([Buffer.from('n6')])).toEqual(new Set([6]));
    expect(parseWant([Buffer.from('n5')])).toBeUndefined();
    expect(parseWant(Buffer.from('n4'))).toBeUndefined();
    expect(parseWant(undefined)).toBeUndefined();
    expect(wantList(4, false)).toEqual(['n4']);
    expect(wantList(6, false)).toEqual(['n6']);
    expect(wantList(6, true)).toEqual(['n4', 'n6']);
  });
});
