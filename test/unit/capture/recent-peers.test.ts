import { describe, expect, it } from 'vitest';
import { RecentPeers } from '../../../src/capture/recent-peers.js';
import { prng } from '../../helpers/prng.js';

/** The previous implementation (a Map in insertion order): the reference the compact one must equal. */
class ReferenceRecent {
  private readonly seen = new Map<string, number>();
  constructor(
    private readonly intervalMs: number,
    private readonly maxEntries: number,
  ) {}
  admit(key: string, now: number): boolean {
    const last = this.seen.get(key);
    if (last !== undefined && now - last < this.intervalMs) return false;
    this.seen.delete(key);
    this.seen.set(key, now);
    return true;
  }
  forget(key: string): void {
    this.seen.delete(key);
  }
  /** The ring's bound counts slots, forgotten ones included: evict what the ring evicts. */
  evictOlderThan(keys: Set<string>): void {
    for (const k of [...this.seen.keys()]) if (!keys.has(k)) this.seen.delete(k);
  }
  get size(): number {
    return this.seen.size;
  }
}

describe('RecentPeers', () => {
  it('admits a peer once per interval, again after it', () => {
    const r = new RecentPeers(1000);
    const k = RecentPeers.key('1.2.3.4', 6881, 'a'.repeat(40));
    expect(r.admit(k, 10_000)).toBe(true);
    expect(r.admit(k, 10_500)).toBe(false);
    expect(r.admit(k, 10_999)).toBe(false);
    expect(r.admit(k, 11_000)).toBe(true);
    expect(r.admit(k, 11_999)).toBe(false);
    expect(r.size).toBe(1);
  });

  it('tells peers apart by ip, port and infohash', () => {
    const r = new RecentPeers(60_000);
    const ih = 'b'.repeat(40);
    expect(r.admit(RecentPeers.key('1.2.3.4', 1, ih), 0)).toBe(true);
    expect(r.admit(RecentPeers.key('1.2.3.4', 2, ih), 0)).toBe(true);
    expect(r.admit(RecentPeers.key('1.2.3.5', 1, ih), 0)).toBe(true);
    expect(r.admit(RecentPeers.key('1.2.3.4', 1, 'c'.repeat(40)), 0)).toBe(true);
    expect(r.admit(RecentPeers.key('::1', 1, ih), 0)).toBe(true);
    expect(r.admit(RecentPeers.key('1.2.3.4', 1, ih), 1)).toBe(false);
    expect(r.size).toBe(5);
  });

  it('forget lets a peer in again at once', () => {
    const r = new RecentPeers(60_000);
    const k = RecentPeers.key('9.9.9.9', 51413, 'd'.repeat(40));
    expect(r.admit(k, 0)).toBe(true);
    r.forget(k);
    expect(r.size).toBe(0);
    expect(r.admit(k, 1)).toBe(true);
    r.forget('never seen');
    expect(r.size).toBe(1);
  });

  it('is bounded: the oldest entries go first, a refreshed one moves to the end', () => {
    const r = new RecentPeers(10, 3);
    const k = (i: number): string => RecentPeers.key(`10.0.0.${i}`, 1, 'e'.repeat(40));
    r.admit(k(1), 0);
    r.admit(k(2), 0);
    r.admit(k(3), 0);
    expect(r.admit(k(1), 20)).toBe(true); // due again: refreshed, now the newest
    r.admit(k(4), 20); // evicts the oldest live slot's entry: 2
    expect(r.admit(k(2), 21)).toBe(true); // forgotten by eviction
    expect(r.admit(k(1), 21)).toBe(false); // still remembered
    expect(r.size).toBeLessThanOrEqual(3);
    expect(() => new RecentPeers(10, 0)).toThrow(RangeError);
  });

  it('agrees with the Map reference over 200,000 random operations, with eviction and forget', () => {
    const next = prng(42);
    const capacity = 5_000;
    const r = new RecentPeers(50, capacity);
    const ref = new ReferenceRecent(50, capacity);
    // Track which keys occupy ring slots, to mirror the ring's eviction in the reference.
    const ring: Array<string | undefined> = new Array<string | undefined>(capacity);
    let head = 0;
    const slotOf = new Map<string, number>();
    const keys = Array.from({ length: 12_000 }, (_, i) => RecentPeers.key(`10.${(i >> 8) & 255}.${i & 255}.1`, 1 + (i % 7), (i % 13).toString(16).repeat(40)));
    let now = 0;
    const mismatches: number[] = [];
    for (let op = 0; op < 200_000; op++) {
      now += Math.floor(next() * 3);
      const key = keys[Math.floor(next() * keys.length)] as string;
      if (next() < 0.1) {
        r.forget(key);
        ref.forget(key);
        const s = slotOf.get(key);
        if (s !== undefined) {
          ring[s] = undefined;
          slotOf.delete(key);
        }
        continue;
      }
      const got = r.admit(key, now);
      const want = ref.admit(key, now);
      if (got !== want) mismatches.push(op);
      if (want) {
        const old = slotOf.get(key);
        if (old !== undefined) ring[old] = undefined;
        const evicted = ring[head];
        if (evicted !== undefined) {
          ref.forget(evicted);
          slotOf.delete(evicted);
        }
        ring[head] = key;
        slotOf.set(key, head);
        head = (head + 1) % capacity;
      }
      if (op % 10_000 === 0 && r.size !== ref.size) mismatches.push(-op);
    }
    expect(mismatches).toEqual([]);
    expect(r.size).toBe(ref.size);
    expect(r.size).toBeLessThanOrEqual(capacity);
  });

  it('holds about 25 bytes per entry, fixed at construction', () => {
    const r = new RecentPeers(1000, 1_000_000);
    expect(r.bytes / 1_000_000).toBeGreaterThan(20);
    expect(r.bytes / 1_000_000).toBeLessThan(30);
  });
});
