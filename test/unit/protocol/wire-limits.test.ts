import { describe, expect, it } from 'vitest';
import { MAX_INFO_BYTES } from '../../../src/protocol/metainfo.js';
import {
  MAX_EXTENDED_HANDSHAKE,
  MAX_MESSAGE_LENGTH,
  MAX_METADATA_PIECES,
  MAX_METADATA_SIZE,
  METADATA_PIECE_SIZE,
  bitfieldByteLength,
  bitfieldLengthOk,
  countBits,
} from '../../../src/protocol/wire-limits.js';

describe('wire limits', () => {
  it('has the documented values', () => {
    expect(MAX_MESSAGE_LENGTH).toBe(1_048_576);
    expect(MAX_EXTENDED_HANDSHAKE).toBe(65_536);
    expect(MAX_METADATA_SIZE).toBe(10_485_760);
    expect(METADATA_PIECE_SIZE).toBe(16_384);
    expect(MAX_METADATA_PIECES).toBe(640);
  });

  it('agrees with the upload limit on info dictionaries', () => {
    expect(MAX_METADATA_SIZE).toBe(MAX_INFO_BYTES);
  });

  it('fits every message a metadata-only peer must accept', () => {
    // A full-size metadata piece message with its bencoded header.
    expect(MAX_METADATA_SIZE / METADATA_PIECE_SIZE).toBeLessThanOrEqual(MAX_METADATA_PIECES);
    expect(2 + 200 + METADATA_PIECE_SIZE).toBeLessThan(MAX_MESSAGE_LENGTH);
    // The bitfield of the largest torrent whose info dict fits in MAX_METADATA_SIZE (20 bytes/piece).
    expect(1 + bitfieldByteLength(MAX_METADATA_SIZE / 20)).toBeLessThan(MAX_MESSAGE_LENGTH);
    expect(MAX_EXTENDED_HANDSHAKE).toBeLessThan(MAX_MESSAGE_LENGTH);
  });
});

describe('bitfieldLengthOk', () => {
  it.each([
    [0, 0],
    [1, 1],
    [1, 8],
    [2, 9],
    [2, 16],
    [3, 17],
    [125, 1000],
    [126, 1001],
  ])('accepts %d bytes for %d pieces', (bytes, pieces) => {
    expect(bitfieldLengthOk(bytes, pieces)).toBeNull();
    expect(bitfieldLengthOk(new Uint8Array(bytes), pieces)).toBeNull();
  });

  it.each([
    [0, 1],
    [2, 8],
    [1, 9],
    [124, 1000],
    [126, 1000],
  ])('refuses %d bytes for %d pieces', (bytes, pieces) => {
    expect(bitfieldLengthOk(bytes, pieces)).toMatch(/expected/);
    expect(bitfieldLengthOk(new Uint8Array(bytes), pieces)).toMatch(/expected/);
  });

  it.each([
    [[0b1000_0000], 1, null],
    [[0b0100_0000], 1, 'spare'],
    [[0b1111_1110], 7, null],
    [[0b1111_1111], 7, 'spare'],
    [[0xff], 8, null],
    [[0xff, 0b1000_0000], 9, null],
    [[0xff, 0b1000_0001], 9, 'spare'],
    [[0xff, 0b1111_1111], 15, 'spare'],
    [[0xff, 0b1111_1110], 15, null],
  ])('spare bits: %j with %d pieces', (bits, pieces, expected) => {
    const r = bitfieldLengthOk(Uint8Array.from(bits), pieces);
    if (expected === null) expect(r).toBeNull();
    else expect(r).toMatch(expected);
  });

  it('only checks the length when given a length', () => {
    expect(bitfieldLengthOk(1, 1)).toBeNull();
  });

  it.each([
    [-1, 'piece count'],
    [1.5, 'piece count'],
    [Number.NaN, 'piece count'],
  ])('refuses piece count %d', (pieces, expected) => {
    expect(bitfieldLengthOk(1, pieces)).toMatch(expected);
  });

  it('refuses a nonsense byte length', () => {
    expect(bitfieldLengthOk(-1, 0)).toMatch(/length/);
  });
});

describe('countBits', () => {
  it.each([
    [[], 0, 0],
    [[0xff], 8, 8],
    [[0xff], 3, 3],
    [[0b1010_1010], 8, 4],
    [[0b1010_1011], 7, 4], // spare bit ignored
    [[0xff, 0xff], 9, 9],
    [[0xff, 0xff, 0xff, 0xff, 0xff], 40, 40],
    [[0xff, 0xff, 0xff, 0xff, 0xff], 37, 37],
    [[0x0f, 0xf0, 0x00, 0x01, 0x80], 40, 10],
    [[0xff, 0xff], 0, 0],
    [[0xff, 0xff, 0xff], 16, 16], // bytes past ceil(pieces / 8) ignored
    [[0xff], 100, 8], // short bitfield counted as far as it goes
  ])('%j with %d pieces → %d', (bytes, pieces, expected) => {
    expect(countBits(Uint8Array.from(bytes), pieces)).toBe(expected);
  });

  it('matches a naive count on a large random bitfield', () => {
    let seed = 12345;
    const next = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    const bf = Uint8Array.from({ length: 12_345 }, () => next() & 0xff);
    for (const pieces of [98_760, 98_755, 98_753, 1, 0, 4001]) {
      let naive = 0;
      for (let i = 0; i < pieces; i++) naive += ((bf[i >> 3] as number) >> (7 - (i & 7))) & 1;
      expect(countBits(bf, pieces)).toBe(naive);
    }
  });

  it('treats a nonsense piece count as zero pieces', () => {
    expect(countBits(Uint8Array.from([0xff]), -3)).toBe(0);
    expect(countBits(Uint8Array.from([0xff]), Number.NaN)).toBe(0);
  });
});
