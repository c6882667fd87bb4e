import { describe, expect, it } from 'vitest';
import { AnnouncedPeerStore } from '../../../src/dht/announced-peer-store.js';
import { BoundedSet } from '../../../src/dht/bounded-set.js';
import { MinHeap } from '../../../src/dht/min-heap.js';
import { PeerDedupe } from '../../../src/dht/peer-dedupe.js';
import { PerIpQueue } from '../../../src/dht/per-ip-queue.js';
import { TokenBucket } from '../../../src/dht/token-bucket.js';

describe('TokenBucket', () => {
  it('allows the burst, then the rate', () => {
    let now = 0;
    const b = new TokenBucket(50, 5, () => now);
    let taken = 0;
    while (b.tryTake()) taken++;
    expect(taken).toBe(5);
    expect(b.msUntilToken()).toBe(20);
    now += 1000;
    taken = 0;
    while (b.tryTake()) taken++;
    expect(taken).toBe(5); // never more than the burst banked
    let total = 0;
    for (let t = 0; t < 1000; t++) {
      now += 1;
      if (b.tryTake()) total++;
    }
    expect(total).toBe(50);
  });
});

describe('MinHeap', () => {
  it('pops in key order', () => {
    const h = new MinHeap<number>();
    const keys = Array.from({ length: 200 }, (_, i) => (i * 7919) % 211);
    for (const k of keys) h.push(k, k);
    const out: number[] = [];
    while (h.size) out.push(h.pop()!);
    expect(out).toEqual([...keys].sort((a, b) => a - b));
  });
});

describe('BoundedSet', () => {
  it('forgets the oldest beyond max; sample is distinct and bounded', () => {
    const s = new BoundedSet<number>(3);
    for (const v of [1, 2, 3, 1, 4, 5]) s.add(v);
    expect([...s.values()].sort()).toEqual([3, 4, 5]);
    expect(s.has(1)).toBe(false);
    expect(s.add(3)).toBe(false);
    for (let v = 10; v < 1000; v++) s.add(v);
    expect([...s.values()].sort()).toEqual([997, 998, 999]);
    expect(s.sample(10).sort()).toEqual([997, 998, 999]);
    expect(s.sample(2)).toHaveLength(2);
  });
});

describe('PeerDedupe', () => {
  it('passes a key once per window, bounded', () => {
    const d = new PeerDedupe(1000, 2);
    expect(d.isNew('1.2.3.4', 1, 'a', 0)).toBe(true);
    expect(d.isNew('1.2.3.4', 1, 'a', 500)).toBe(false);
    expect(d.isNew('1.2.3.4', 2, 'a', 500)).toBe(true);
    expect(d.isNew('1.2.3.4', 1, 'a', 1000)).toBe(true); // window over
    expect(d.isNew('1.2.3.4', 3, 'a', 1000)).toBe(true);
    expect(d.size).toBe(2);
  });
});

describe('AnnouncedPeerStore', () => {
  it('expires announces, bounds per infohash and in total', () => {
    const s = new AnnouncedPeerStore({ maxPeers: 5, maxPerInfohash: 3, ttlMs: 1000 });
    for (let i = 1; i <= 4; i++) s.add('a', `10.0.0.${i}`, 6881, 0);
    expect(s.get('a', 10, 0).map((b) => b[3]).sort()).toEqual([2, 3, 4]);
    s.add('b', '10.0.1.1', 1, 500);
    s.add('b', '10.0.1.2', 2, 600);
    s.add('c', '10.0.2.1', 1, 700);
    expect(s.size).toBe(5);
    expect(s.get('a', 10, 700)).toHaveLength(2);
    expect(s.get('b', 10, 1550)).toHaveLength(1); // the 500 one expired
    s.prune(1650);
    expect(s.size).toBe(1);
    expect(s.get('c', 10, 1650)[0]!.toString('hex')).toBe('0a0002010001');
  });
});

describe('PerIpQueue', () => {
  it('keeps the interval per IP, FIFO within an IP, and does not hold other IPs back', () => {
    const q = new PerIpQueue<{ ip: string; enqueuedAt: number; n: number }>(1000);
    let n = 0;
    for (const ip of ['a', 'a', 'a', 'b']) q.push({ ip, enqueuedAt: 0, n: n++ }, 0);
    const taken: Array<[number, number]> = [];
    for (let now = 0; now <= 3000; now += 10) {
      while (q.hasReady(now)) taken.push([now, q.take(now).n]);
    }
    expect(taken).toEqual([[0, 0], [0, 3], [1000, 1], [2000, 2]]);
    expect(q.size).toBe(0);
    expect(q.msUntilReady(3000)).toBeUndefined();
    // A take at 3000 for 'a': the next one for 'a' waits until 4000.
    q.push({ ip: 'a', enqueuedAt: 3000, n: 9 }, 3000);
    expect(q.hasReady(3000)).toBe(true);
    q.take(3000);
    q.push({ ip: 'a', enqueuedAt: 3001, n: 10 }, 3001);
    expect(q.hasReady(3500)).toBe(false);
    expect(q.msUntilReady(3500)).toBe(500);
    expect(q.expire(9000, 5000).map((x) => x.n)).toEqual([10]);
    expect(q.hasReady(9000)).toBe(false);
    expect(q.size).toBe(0);
  });
});
