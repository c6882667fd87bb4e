import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import bencode from 'bencode';
import { describe, expect, it } from 'vitest';
import {
  MAX_SAMPLE_INTERVAL_SEC,
  decodeSamplesPacket,
  decodeSamplesResponse,
  encodeSamplesResponse,
} from '../../../src/protocol/bep51-samples.js';

/**
 * KRPC packets written out byte by byte (bencode by hand, binary parts as hex), so the decoder
 * is checked against the wire format itself rather than against our own encoder. The .bin
 * fixtures must equal these bytes; run with UPDATE_KRPC_FIXTURES=1 to rewrite them.
 */
const FIXTURE_DIR = path.resolve('test/fixtures/krpc');

/** latin1 text and hex-tagged binary, concatenated. */
function bytes(...parts: Array<string | { hex: string }>): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p.hex, 'hex'))));
}

const RESPONDER_ID = 'abcdefghij0123456789'; // BEP 5's example node id
const NODE_ID = 'mnopqrstuvwxyz123456';
const SAMPLE_1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709'; // SHA-1 of ""
const SAMPLE_2 = 'a9993e364706816aba3e25717850c26c9cd0d89d'; // SHA-1 of "abc"
const SAMPLE_3 = '000102030405060708090a0b0c0d0e0f10111213'; // any offset slip shows here

const FIXTURES: Record<string, Buffer> = {
  // libtorrent-style response: ip (our address as seen), r, t, v, y — keys in sorted order.
  'sample-infohashes-3.bin': bytes(
    'd',
    '2:ip', '6:', { hex: 'cb007107' + '1ae1' }, // 203.0.113.7:6881
    '1:r', 'd',
    '2:id', '20:', RESPONDER_ID,
    '8:interval', 'i21600e',
    '5:nodes', '26:', NODE_ID, { hex: '5762a258' + '1ae1' }, // 87.98.162.88:6881
    '3:num', 'i3e',
    '7:samples', '60:', { hex: SAMPLE_1 + SAMPLE_2 + SAMPLE_3 },
    'e',
    '1:t', '2:aa',
    '1:v', '4:', { hex: '4c540200' }, // "LT" 2.0
    '1:y', '1:r',
    'e',
  ),
  'sample-infohashes-0.bin': bytes(
    'd',
    '1:r', 'd',
    '2:id', '20:', RESPONDER_ID,
    '8:interval', 'i0e',
    '5:nodes', '0:',
    '3:num', 'i0e',
    '7:samples', '0:',
    'e',
    '1:t', '2:bb',
    '1:y', '1:r',
    'e',
  ),
  'sample-infohashes-41.bin': bytes(
    'd',
    '1:r', 'd',
    '2:id', '20:', RESPONDER_ID,
    '8:interval', 'i300e',
    '3:num', 'i2e',
    '7:samples', '41:', { hex: SAMPLE_1 + SAMPLE_2 + 'ff' },
    'e',
    '1:t', '2:cc',
    '1:y', '1:r',
    'e',
  ),
};

function fixture(name: string): Buffer {
  return readFileSync(path.join(FIXTURE_DIR, name));
}

describe('KRPC fixtures', () => {
  if (process.env.UPDATE_KRPC_FIXTURES) {
    mkdirSync(FIXTURE_DIR, { recursive: true });
    for (const [name, data] of Object.entries(FIXTURES)) writeFileSync(path.join(FIXTURE_DIR, name), data);
  }

  it.each(Object.keys(FIXTURES))('%s equals the hand-built bytes and is valid bencode', (name) => {
    expect(existsSync(path.join(FIXTURE_DIR, name))).toBe(true);
    const data = fixture(name);
    expect(data.equals(FIXTURES[name] as Buffer)).toBe(true);
    expect(() => bencode.decode(data)).not.toThrow();
  });
});

describe('decodeSamplesPacket', () => {
  it('decodes 3 samples at exact 20-byte offsets', () => {
    const result = decodeSamplesPacket(fixture('sample-infohashes-3.bin'));
    expect(result).toEqual({
      ok: true,
      value: {
        id: new Uint8Array(Buffer.from(RESPONDER_ID, 'latin1')),
        intervalSec: 21600,
        num: 3,
        infohashes: [SAMPLE_1, SAMPLE_2, SAMPLE_3],
        nodes: [{ id: new Uint8Array(Buffer.from(NODE_ID, 'latin1')), ip: '87.98.162.88', port: 6881 }],
        malformedNodes: 0,
      },
    });
  });

  it('decodes a response with 0 samples', () => {
    const result = decodeSamplesPacket(fixture('sample-infohashes-0.bin'));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value).toMatchObject({ intervalSec: 0, num: 0, infohashes: [], nodes: [], malformedNodes: 0 });
  });

  it('rejects 41 bytes of samples', () => {
    const result = decodeSamplesPacket(fixture('sample-infohashes-41.bin'));
    expect(result).toEqual({ ok: false, reason: 'samples length 41 is not a multiple of 20' });
  });

  it.each([
    ['not bencode', Buffer.from('garbage')],
    ['a list', Buffer.from('li1ei2ee')],
    ['an error packet', Buffer.from('d1:eli201e7:Generice1:t2:aa1:y1:ee')],
    ['a query', Buffer.from('d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q17:sample_infohashes1:t2:aa1:y1:qe')],
    ['a response without r', Buffer.from('d1:t2:aa1:y1:re')],
  ])('rejects %s', (_label, packet) => {
    expect(decodeSamplesPacket(packet).ok).toBe(false);
  });
});

describe('decodeSamplesResponse', () => {
  const id = Buffer.from(RESPONDER_ID, 'latin1');
  const base = { id, interval: 60, num: 1, samples: Buffer.from(SAMPLE_1, 'hex') };

  it.each([
    [86_400, MAX_SAMPLE_INTERVAL_SEC],
    [21_601, MAX_SAMPLE_INTERVAL_SEC],
    [21_600, 21_600],
    [-5, 0],
    [BigInt(2) ** BigInt(70), MAX_SAMPLE_INTERVAL_SEC],
  ])('clamps interval %s to %d', (interval, expected) => {
    const r = decodeSamplesResponse({ ...base, interval });
    expect(r.ok && r.value.intervalSec).toBe(expected);
  });

  it.each([
    ['not a dict', 'x', /dictionary/],
    ['missing id', { ...base, id: undefined }, /id/],
    ['short id', { ...base, id: id.subarray(1) }, /id/],
    ['missing interval', { ...base, interval: undefined }, /interval/],
    ['fractional interval', { ...base, interval: 1.5 }, /interval/],
    ['missing num', { ...base, num: undefined }, /num/],
    ['negative num', { ...base, num: -1 }, /num/],
    ['missing samples', { ...base, samples: undefined }, /samples/],
    ['samples not a string', { ...base, samples: 5 }, /samples/],
    ['19-byte samples', { ...base, samples: Buffer.alloc(19) }, /19/],
    ['21-byte samples', { ...base, samples: Buffer.alloc(21) }, /21/],
    ['nodes not a string', { ...base, nodes: [1] }, /nodes/],
  ])('rejects %s', (_label, r, reason) => {
    const result = decodeSamplesResponse(r);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('keeps num larger than the sample count (the responder stores more)', () => {
    const r = decodeSamplesResponse({ ...base, num: 12_345 });
    expect(r.ok && r.value.num).toBe(12_345);
  });

  it('decodes nodes6 and counts malformed node entries', () => {
    const v6node = Buffer.concat([Buffer.from(NODE_ID, 'latin1'), Buffer.from('2001067c04e8f00200000000000000aa1ae1', 'hex')]);
    const portZero = Buffer.concat([Buffer.from(NODE_ID, 'latin1'), Buffer.from('0102030400 00'.replace(' ', ''), 'hex')]);
    const r = decodeSamplesResponse({ ...base, nodes: Buffer.concat([portZero, Buffer.alloc(3)]), nodes6: v6node });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.nodes).toEqual([{ id: new Uint8Array(Buffer.from(NODE_ID, 'latin1')), ip: '2001:67c:4e8:f002::aa', port: 6881 }]);
    expect(r.value.malformedNodes).toBe(2);
  });

  it('decodes 1000 samples without offset drift', () => {
    const hashes = Array.from({ length: 1000 }, (_, i) => Buffer.alloc(20, i % 251));
    const r = decodeSamplesResponse({ ...base, num: 1000, samples: Buffer.concat(hashes) });
    expect(r.ok && r.value.infohashes).toEqual(hashes.map((h) => h.toString('hex')));
  });

  it('handles samples that are a view into a larger buffer', () => {
    const big = Buffer.concat([Buffer.from('xxxxx'), Buffer.from(SAMPLE_2 + SAMPLE_3, 'hex'), Buffer.from('yyy')]);
    const r = decodeSamplesResponse({ ...base, num: 2, samples: big.subarray(5, 45) });
    expect(r.ok && r.value.infohashes).toEqual([SAMPLE_2, SAMPLE_3]);
  });
});

describe('encodeSamplesResponse', () => {
  const id = Buffer.from(RESPONDER_ID, 'latin1');
  const node = { id: Buffer.from(NODE_ID, 'latin1'), ip: '87.98.162.88', port: 6881 };
  const samples = [SAMPLE_1, SAMPLE_2, SAMPLE_3].map((h) => Buffer.from(h, 'hex'));

  it('produces the exact bytes of the 3-sample fixture', () => {
    const r = encodeSamplesResponse(id, samples, 3, 21600, [node]);
    const packet = bencode.encode({
      ip: Buffer.from('cb0071071ae1', 'hex'),
      r,
      t: Buffer.from('aa'),
      v: Buffer.from('4c540200', 'hex'),
      y: Buffer.from('r'),
    });
    expect(Buffer.from(packet).equals(fixture('sample-infohashes-3.bin'))).toBe(true);
  });

  it('produces the exact bytes of the 0-sample fixture', () => {
    const r = encodeSamplesResponse(id, [], 0, 0);
    const packet = bencode.encode({ r, t: Buffer.from('bb'), y: Buffer.from('r') });
    expect(Buffer.from(packet).equals(fixture('sample-infohashes-0.bin'))).toBe(true);
  });

  it('round-trips, splitting nodes by family and clamping the interval', () => {
    const v6 = { id: Buffer.from(NODE_ID, 'latin1'), ip: '2001:db8::7', port: 6882 };
    const r = encodeSamplesResponse(id, samples.slice(0, 2), 50, 99_999.7, [node, v6]);
    expect(r.interval).toBe(MAX_SAMPLE_INTERVAL_SEC);
    expect(r.nodes).toHaveLength(26);
    expect(r.nodes6).toHaveLength(38);
    const decoded = decodeSamplesResponse(bencode.decode(bencode.encode(r)));
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value.infohashes).toEqual([SAMPLE_1, SAMPLE_2]);
    expect(decoded.value.num).toBe(50);
    expect(decoded.value.nodes.map((n) => `${n.ip}:${n.port}`)).toEqual(['87.98.162.88:6881', '2001:db8::7:6882']);
  });

  it('omits nodes6 when there are no IPv6 nodes', () => {
    expect('nodes6' in encodeSamplesResponse(id, [], 0, 60, [node])).toBe(false);
  });

  it.each([
    ['a 19-byte id', () => encodeSamplesResponse(id.subarray(1), [], 0, 60)],
    ['a 21-byte infohash', () => encodeSamplesResponse(id, [Buffer.alloc(21)], 1, 60)],
    ['a negative num', () => encodeSamplesResponse(id, [], -1, 60)],
    ['a NaN interval', () => encodeSamplesResponse(id, [], 0, Number.NaN)],
    ['a node with port 0', () => encodeSamplesResponse(id, [], 0, 60, [{ ...node, port: 0 }])],
  ])('throws on %s', (_label, fn) => {
    expect(fn).toThrow(RangeError);
  });
});
