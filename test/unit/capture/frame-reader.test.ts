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

const kinds = (frames: Frame[]): string[] =>
  frames.map((f) => (f.kind === 'handshake' ? 'hs' : f.kind === 'skipped' ? `skip ${f.id}` : f.kind === 'have' ? `have ${f.index}` : String(f.id)));
const raw = (f: Frame): Uint8Array =>
  f.kind === 'skipped' ? new Uint8Array(0) : f.kind === 'have' ? message(4, [...Buffer.from([0, 0, 0, 0].map((_, i) => (f.index >>> (24 - 8 * i)) & 0xff))]) : f.raw;

describe('FrameReader', () => {
  it('splits a handshake and messages however the bytes are chunked', () => {
    const stream = Buffer.concat([handshake(), message(5, [0xff, 0x80]), Buffer.alloc(4), message(4, [0, 0, 0, 7]), message(20, [0, 0x64, 0x65])]);
    for (const size of [1, 3, 7, 68, 1000]) {
      const reader = new FrameReader(1024);
      const frames: Frame[] = [];
      for (let i = 0; i < stream.length; i += size) frames.push(...reader.push(stream.subarray(i, i + size)));
      expect(kinds(frames), `chunks of ${size}`).toEqual(['hs', '5', '-1', 'have 7', '20']);
      expect(Buffer.concat(frames.map(raw)).equals(stream)).toBe(true);
      expect(reader.pending).toBe(0);
      const [hs] = frames;
      if (hs?.kind !== 'handshake') throw new Error('no handshake');
      expect(Buffer.from(hs.infohash).equals(Buffer.alloc(20, 0xaa))).toBe(true);
      expect(Buffer.from(hs.peerId).toString('latin1')).toBe('-qB4650-abcdefghijkl');
      const bitfield = frames[1];
      expect(bitfield?.kind === 'message' && [...bitfield.payload]).toEqual([0xff, 0x80]);
    }
  });

  it('the handshake owns its bytes; a message spanning chunks is assembled', () => {
    const reader = new FrameReader(1024);
    const chunk = Buffer.concat([handshake(), message(4, [0, 0, 0, 1]).subarray(0, 3)]);
    const frames = reader.push(chunk);
    chunk.fill(0);
    const hs = frames[0];
    expect(hs?.kind === 'handshake' && Buffer.from(hs.peerId).toString('latin1')).toBe('-qB4650-abcdefghijkl');
    const have = reader.push(message(4, [0, 0, 0, 1]).subarray(3))[0];
    expect(have).toEqual({ kind: 'have', index: 1 });
  });

  it('drops a piece message unread as it arrives: announced as skipped, never buffered', () => {
    const reader = new FrameReader(2 * 1024 * 1024);
    reader.push(handshake());
    const piece = Buffer.alloc(4 + 1024 * 1024);
    piece.writeUInt32BE(1024 * 1024, 0);
    piece[4] = 7;
    const stream = Buffer.concat([piece, message(4, [0, 0, 0, 9])]);
    const frames: Frame[] = [];
    for (let i = 0; i < stream.length; i += 65536) frames.push(...reader.push(stream.subarray(i, i + 65536)));
    expect(kinds(frames)).toEqual(['skip 7', 'have 9']);
    expect(frames[0]).toMatchObject({ kind: 'skipped', id: 7, length: 1024 * 1024 });
    expect(reader.skippedBytes).toBe(4 + 1024 * 1024);
    expect(reader.peakPending).toBeLessThanOrEqual(65536 + 68);
    expect(reader.pending).toBe(0);
  });

  it('skips a kept message longer than the kept cap, naming its extended id', () => {
    const reader = new FrameReader(1024 * 1024, 100);
    reader.push(handshake());
    const ext = message(20, [0, ...new Array<number>(200).fill(0x61)]);
    const frames = reader.push(Buffer.concat([ext, message(5, new Array<number>(101).fill(0xff)), message(1)]));
    expect(frames).toMatchObject([{ kind: 'skipped', id: 20, extId: 0, length: 202 }, { kind: 'skipped', id: 5, length: 102 }, { kind: 'message', id: 1 }]);
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
    ok[4] = 5;
    expect(kinds(atCap.push(ok))).toEqual(['5']);
  });
});
