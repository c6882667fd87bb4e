import { describe, expect, it } from 'vitest';
import { HashedPeerRing } from '../../../src/capture/hashed-peer-ring.js';

describe('HashedPeerRing', () => {
  it('gets, replaces, deletes (returning the tag) and lists live entries oldest first', () => {
    const r = new HashedPeerRing(4);
    expect(r.set('a', 1, 1)).toBe(0);
    expect(r.set('b', 2, 2)).toBe(0);
    expect(r.set('c', 3, 1)).toBe(0);
    expect(r.get('b')).toEqual({ time: 2, tag: 2 });
    expect(r.set('a', 4, 2)).toBe(0); // set again: moved to the end, replaced
    expect(r.size).toBe(3);
    expect([...r.entries()].map((e) => [e[2], e[3]])).toEqual([[2, 2], [3, 1], [4, 2]]);
    expect(r.delete('c')).toBe(1);
    expect(r.delete('c')).toBe(0);
    expect(r.get('c')).toBeUndefined();
    expect(r.size).toBe(2);
  });

  it('when full, drops its oldest slot and says which tag went; entries stay in order across the wrap', () => {
    const r = new HashedPeerRing(3);
    r.set('a', 1, 1);
    r.set('b', 2, 2);
    r.set('c', 3, 3);
    expect(r.set('d', 4, 4)).toBe(1); // 'a' dropped
    expect(r.get('a')).toBeUndefined();
    expect(r.set('e', 5, 5)).toBe(2); // 'b'
    expect([...r.entries()].map((e) => e[3])).toEqual([3, 4, 5]);
    r.delete('d');
    expect(r.set('f', 6, 6)).toBe(3); // the oldest slot held 'c'
    expect(r.set('g', 7, 7)).toBe(0); // the next held 'd', already deleted
    expect([...r.entries()].map((e) => e[3])).toEqual([5, 6, 7]);
    expect(r.size).toBe(3);
  });

  it('keeps every key findable through many deletions and wraps (backward-shift deletion)', () => {
    const r = new HashedPeerRing(1000);
    const live = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const k = `10.0.${i % 3000}.1|${6881 + (i % 5)}`;
      if (i % 3 === 0 && live.has(k)) {
        expect(r.delete(k)).toBe(live.get(k));
        live.delete(k);
      } else {
        const tag = 1 + (i % 200);
        if (r.set(k, i, tag) !== 0) {
          // the oldest live entry went: drop it from the model
          const [oldest] = live.keys();
          live.delete(oldest as string);
        }
        live.delete(k);
        live.set(k, tag);
      }
      expect(r.size).toBe(live.size);
    }
    for (const [k, tag] of live) expect(r.get(k)?.tag).toBe(tag);
  });

  it('refuses a tag outside 1-255 and a capacity below 1', () => {
    expect(() => new HashedPeerRing(0)).toThrow(RangeError);
    expect(() => new HashedPeerRing(2).set('a', 0, 0)).toThrow(RangeError);
    expect(() => new HashedPeerRing(2).set('a', 0, 256)).toThrow(RangeError);
  });
});
