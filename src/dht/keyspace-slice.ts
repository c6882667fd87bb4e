import { randomBytes } from 'node:crypto';

/** Crawler `index` of `count`: its share of the 160-bit key space. */
export interface KeyspaceSlice {
  index: number;
  count: number;
}

/**
 * The bounds of slice `index` of `count` as 32-bit prefixes: [lo, hi). The slices of 0..count-1
 * are disjoint and cover 0..2^32 (the rest of the 160 bits is free within a slice).
 */
export function slicePrefixBounds(s: KeyspaceSlice): { lo: number; hi: number } {
  const span = 2 ** 32;
  return { lo: Math.floor((span * s.index) / s.count), hi: Math.floor((span * (s.index + 1)) / s.count) };
}

/**
 * A random 20-byte target inside slice `s` (uniform over its 32-bit prefixes, random below), or an
 * unrestricted random target when there is no slice (one crawler, or no cluster).
 */
export function randomTargetIn(s: KeyspaceSlice | undefined, random: (n: number) => Buffer = randomBytes): Buffer {
  const target = random(20);
  if (s === undefined || s.count <= 1) return target;
  const { lo, hi } = slicePrefixBounds(s);
  const prefix = lo + Math.floor((target.readUInt32BE(0) / 2 ** 32) * (hi - lo));
  target.writeUInt32BE(Math.min(prefix, hi - 1), 0);
  return target;
}

/** Which slice of `count` a 20-byte id falls in. */
export function sliceOf(id: Uint8Array, count: number): number {
  const prefix = Buffer.from(id.buffer, id.byteOffset, 4).readUInt32BE(0);
  for (let i = 0; i < count; i++) {
    const { hi } = slicePrefixBounds({ index: i, count });
    if (prefix < hi) return i;
  }
  return count - 1;
}
