import { describe, expect, it } from 'vitest';
import { FrameReader, HANDSHAKE_LENGTH, type Frame } from '../../../src/capture/frame-reader.js';

function handshake(): Buffer {
  const h = Buffer.alloc(HANDSHAKE_LENGTH);
  h[0] = 19;
  h.write('BitTorrent protocol', 1, 'latin1');
  h[25] = 0x10;
  h.fill(0xaa, 28, 48);
  h.write('-qB4650-abcdefghijkl', 48, 'latin1');
  return h;
}

function message(id: number, payload: number[] = []): Buffer {
  const m = Buffer.alloc(5 + payload.length);
  m.writeUInt32BE(1 + payload.length, 0);
  m[4] = id;
  m.set(payload, 5);
  return m;
}

const kinds = (frames: Frame[]): string[] => frames.map((f) => (f.kind === 'handshake' ? 'hs' : String(f.id)));

describe('FrameReader', () => {
  it('splits a handshake and messages however the bytes are chunked', () => {
    const stream = Buffer.concat([handshake(), message(5, [0xff, 0x80]), Buffer.alloc(4), message(4, [0, 0, 0, 7]), message(20, [0, 0x64, 0x65])]);
    for (const size of [1, 3, 7, 68, 1000]) {
      const reader = new FrameReader(1024);
      const frames: Frame[] = [];
      for (let i = 0; i < stream.length; i += size) frames.push(...reader.push(stream.subarray(i, i + size)));
      expect(kinds(frames), `chunks of ${size}`).toEqual(['hs', '5', '-1', '4', '20']);
      expect(Buffer.concat(frames.map((f) => f.raw)).equals(stream)).toBe(true);
      expect(reader.pending).toBe(0);
      const [hs] = frames;
      if (hs?.kind !== 'handshake') throw new Error('no handshake');
      expect(Buffer.from(hs.infohash).equals(Buffer.alloc(20, 0xaa))).toBe(true);
      expect(Buffer.from(hs.peerId).toString('latin1')).toBe('-qB4650-abcdefghijkl');
      const bitfield = frames[1];
      expect(bitfield?.kind === 'message' && [...bitfield.payload]).toEqual([0xff, 0x80]);
    }
  });

  it('frames own their bytes (the chunk can be reused)', () => {
    const reader = new FrameReader(1024);
    const chunk = Buffer.concat([handshake(), message(4, [0, 0, 0, 1])]);
    const frames = reader.push(chunk);
    chunk.fill(0);
    const have = frames[1];
    expect(have?.kind === 'message' && [...have.payload]).toEqual([0, 0, 0, 1]);
  });

  it('rejects a non-BitTorrent stream at its first byte', () => {
    const reader = new FrameReader(1024);
    expect(() => reader.push(Buffer.from('H'))).toThrow('handshake: not BitTorrent');
  });

  it('rejects a wrong protocol string as soon as it differs', () => {
    const reader = new FrameReader(1024);
    reader.push(Buffer.from('\u0013BitTorr', 'latin1'));
    expect(() => reader.push(Buffer.from('X'))).toThrow('handshake: not BitTorrent');
  });

  it('rejects a length prefix above the cap before buffering the payload', () => {
    const reader = new FrameReader(1024);
    reader.push(handshake());
    reader.push(message(1));
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(1025, 0);
    expect(() => reader.push(huge.subarray(0, 3))).not.toThrow();
    expect(() => reader.push(huge.subarray(3))).toThrow('protocol: message too long');
    const atCap = new FrameReader(1024);
    atCap.push(handshake());
    const ok = Buffer.alloc(4 + 1024);
    ok.writeUInt32BE(1024, 0);
    ok[4] = 7;
    expect(kinds(atCap.push(ok))).toEqual(['7']);
  });
});
