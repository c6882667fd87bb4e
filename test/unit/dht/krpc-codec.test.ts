import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import bencode from 'bencode';
import { describe, expect, it } from 'vitest';
import { decodeKrpc, encodeKrpc } from '../../../src/dht/krpc-codec.js';

const FIXTURES = path.resolve('test/fixtures/krpc');

/** Byte strings as hex, for comparing our Buffers with bencode 4's Uint8Arrays. */
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return `hex:${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return v.map(norm);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  return v;
}

describe('krpc-codec', () => {
  it('decodes the KRPC fixtures to the same values as bencode 4, with Buffer views, and re-encodes them byte for byte', () => {
    const names = readdirSync(FIXTURES).filter((n) => n.endsWith('.bin'));
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const raw = readFileSync(path.join(FIXTURES, name));
      const ours = decodeKrpc(raw) as Record<string, unknown>;
      const ref = bencode.decode(raw) as Record<string, unknown>;
      expect(norm(ours)).toEqual(norm(ref));
      expect(Buffer.isBuffer(ours.t)).toBe(true);
      expect((ours.t as Buffer).buffer).toBe(raw.buffer); // a view, not a copy
      expect(encodeKrpc(ours).equals(raw)).toBe(true);
    }
  });

  it('encodes exactly as bencode 4 (sorted keys, null/undefined skipped, UTF-8 strings, integers)', () => {
    for (let i = 0; i < 200; i++) {
      const msg = {
        y: 'r',
        t: randomBytes(2),
        r: { id: randomBytes(20), nodes: randomBytes(26 * (i % 9)), values: [randomBytes(6), randomBytes(6)], interval: i * 37 - 500, token: null, x: undefined, 'é': 'ü' },
        e: [203, 'bad token'],
      };
      expect(encodeKrpc(msg).equals(Buffer.from(bencode.encode(msg)))).toBe(true);
    }
  });

  it('rejects malformed input and keeps __proto__ out', () => {
    for (const bad of ['', 'x', 'i12', 'i1x2e', '5:abc', 'l', 'd1:a', 'd1:ai1e', '3x:abc', 'l'.repeat(40) + 'e'.repeat(40)]) {
      expect(() => decodeKrpc(Buffer.from(bad)), bad).toThrow(RangeError);
    }
    const d = decodeKrpc(Buffer.from('d9:__proto__d1:ai1ee1:bi-2ee')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(d)).toBe(Object.prototype);
    expect(d).toEqual({ b: -2 });
    expect(() => encodeKrpc({ a: NaN })).toThrow(RangeError);
    expect(() => encodeKrpc({ a: () => 1 })).toThrow(RangeError);
  });
});
