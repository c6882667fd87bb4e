import bencode from 'bencode';
import { describe, expect, it } from 'vitest';
import { bencodeEnd, decodeDictPrefix, own } from '../../../src/protocol/bencode-check.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('bencodeEnd', () => {
  it('finds the end of well-formed values', () => {
    for (const s of ['i0e', 'i-42e', '0:', '4:spam', 'le', 'de', 'l4:spami3ee', 'd3:cow3:moo4:spaml1:a1:bee', 'd1:md11:ut_metadatai3ee1:v5:qB/4.e']) {
      expect(bencodeEnd(b(s)), s).toBe(s.length);
    }
  });

  it('stops after the first value (BEP 9 data follows the dictionary)', () => {
    expect(bencodeEnd(b('d8:msg_typei1e5:piecei0eeRAWBYTES'))).toBe(25);
  });

  it('rejects what bencode 4 mis-steps on or chokes on', () => {
    for (const s of [
      'd-3:', // negative length: bencode.decode loops forever on this
      'd1:a-4:e',
      'l-2:e',
      'i12', // unterminated
      'ie',
      'i-e',
      'i1.5e',
      '5:abc', // longer than the data
      'd1:ae', // key without a value
      'di1ei2ee', // integer key
      'dlee1:ae', // list key
      'e',
      'x',
      '',
      'd9:__proto__de1:mdee', // __proto__ would replace the dict's prototype
      '9999999999:x',
    ]) {
      expect(bencodeEnd(b(s)), JSON.stringify(s)).toBe(-1);
    }
  });

  it('bounds the nesting depth', () => {
    const deep = (n: number): Buffer => b('l'.repeat(n) + 'e'.repeat(n));
    expect(bencodeEnd(deep(64))).toBe(128);
    expect(bencodeEnd(deep(65))).toBe(-1);
    expect(bencodeEnd(deep(100_000))).toBe(-1); // bencode.decode would overflow the stack
    expect(bencodeEnd(deep(3), 0, 2)).toBe(-1);
  });

  it('agrees with bencode.encode on real dictionaries', () => {
    const value = { m: { ut_metadata: 3, ut_pex: 1 }, v: 'qBittorrent/4.6.5', metadata_size: 31_337, yourip: Buffer.from([127, 0, 0, 1]), l: [1, [2, { x: 3 }]] };
    const encoded = Buffer.from(bencode.encode(value));
    expect(bencodeEnd(encoded)).toBe(encoded.length);
  });

  it('is fast on a megabyte of input', () => {
    const big = Buffer.from(bencode.encode({ list: Array.from({ length: 50_000 }, (_, i) => `item-${i}`) }));
    const t0 = performance.now();
    expect(bencodeEnd(big)).toBe(big.length);
    expect(performance.now() - t0).toBeLessThan(200);
  });
});

describe('decodeDictPrefix / own', () => {
  it('decodes a checked dictionary and says where it ends', () => {
    const r = decodeDictPrefix(b('d8:msg_typei1e5:piecei2e10:total_sizei9eeXYZ'));
    expect(r?.end).toBe(41);
    expect(own(r?.dict ?? {}, 'piece')).toBe(2);
  });

  it('refuses non-dictionaries and bad bencode', () => {
    expect(decodeDictPrefix(b('li1ee'))).toBeUndefined();
    expect(decodeDictPrefix(b('d-3:'))).toBeUndefined();
    expect(decodeDictPrefix(new Uint8Array(0))).toBeUndefined();
  });

  it('own() ignores inherited properties', () => {
    const dict = Object.create({ m: 'inherited' }) as Record<string, unknown>;
    expect(own(dict, 'm')).toBeUndefined();
    expect(own(dict, 'toString')).toBeUndefined();
  });
});
