import { describe, expect, it } from 'vitest';
import { makePeerId } from '../../../src/capture/peer-id.js';
import { PeerPieces, UNKNOWN_PIECE_LIMIT } from '../../../src/capture/peer-pieces.js';

describe('PeerPieces', () => {
  it('nothing announced: 0 pieces', () => {
    const p = new PeerPieces(10);
    expect(p.announced).toBe(false);
    expect(p.summary(10)).toEqual({ hasPieces: 0, hasTotal: false, outOfRangeHaves: 0 });
  });

  it('bitfield plus distinct HAVEs, out-of-range HAVEs counted apart', () => {
    const p = new PeerPieces(12);
    p.onBitfield(Uint8Array.from([0b1100_0000, 0b0000_0000]));
    for (const i of [0, 2, 2, 11, 12, 0xffffffff]) p.onHave(i);
    expect(p.summary(12)).toEqual({ hasPieces: 4, hasTotal: false, outOfRangeHaves: 2 });
  });

  it('checks the bitfield against the known count at once', () => {
    expect(() => new PeerPieces(12).onBitfield(new Uint8Array(3))).toThrow('bitfield: wrong length for 12 pieces');
    expect(() => new PeerPieces(12).onBitfield(Uint8Array.from([0, 0b0000_1000]))).toThrow('bitfield: spare bits set');
  });

  it('with the count unknown, keeps everything and checks once it is known', () => {
    const p = new PeerPieces(undefined);
    p.onBitfield(Uint8Array.from([0xff, 0xf0]));
    p.onHave(20);
    p.onHave(UNKNOWN_PIECE_LIMIT);
    expect(p.summary(undefined)).toEqual({ hasPieces: 13, hasTotal: false, outOfRangeHaves: 1 });
    expect(p.summary(12).hasPieces).toBe(12);
    expect(() => p.summary(10)).toThrow('bitfield: spare bits set');
    expect(() => p.summary(30)).toThrow('bitfield: wrong length for 30 pieces');
    const q = new PeerPieces(undefined);
    q.onBitfield(Uint8Array.from([0xff, 0xf0]));
    q.onHave(20);
    expect(q.summary(12)).toEqual({ hasPieces: 12, hasTotal: true, outOfRangeHaves: 1 });
  });

  it('have_all makes a seeder; with the count unknown, never a seeder of 0 pieces', () => {
    const p = new PeerPieces(undefined);
    p.onHaveAll();
    expect(p.isSeeder(undefined)).toBe(true);
    expect(p.summary(undefined)).toEqual({ hasPieces: 0, hasTotal: false, outOfRangeHaves: 0 });
    expect(p.summary(7)).toEqual({ hasPieces: 7, hasTotal: true, outOfRangeHaves: 0 });
  });

  it('a full bitfield is a seeder once the count is known', () => {
    const p = new PeerPieces(undefined);
    p.onBitfield(Uint8Array.from([0xff, 0b1110_0000]));
    expect(p.isSeeder(undefined)).toBe(false);
    expect(p.isSeeder(11)).toBe(true);
    expect(p.isSeeder(12)).toBe(false);
  });
});

describe('makePeerId', () => {
  it('is 20 bytes: -cD + version digits + random alphanumerics', () => {
    const a = Buffer.from(makePeerId('0.1.0')).toString('latin1');
    const b = Buffer.from(makePeerId('0.1.0')).toString('latin1');
    expect(a).toMatch(/^-cD0100-[0-9A-Za-z]{12}$/);
    expect(a).not.toBe(b);
    expect(Buffer.from(makePeerId('1.12.3')).toString('latin1')).toMatch(/^-cD1C30-/);
  });
});
