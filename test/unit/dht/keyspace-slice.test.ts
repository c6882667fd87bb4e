import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InfohashSampler, type SamplerNode } from '../../../src/dht/infohash-sampler.js';
import { randomTargetIn, sliceOf, slicePrefixBounds } from '../../../src/dht/keyspace-slice.js';
import { silentLogger } from '../../../src/util/logger.js';

describe('key space slices (cluster work split)', () => {
  it('slices of n are disjoint and cover the 32-bit prefix space, for n = 1..7', () => {
    for (let n = 1; n <= 7; n++) {
      let next = 0;
      for (let i = 0; i < n; i++) {
        const { lo, hi } = slicePrefixBounds({ index: i, count: n });
        expect(lo).toBe(next);
        expect(hi).toBeGreaterThan(lo);
        next = hi;
      }
      expect(next).toBe(2 ** 32);
    }
  });

  it('every random target of crawler i of 3 lies in slice i, and the targets spread over it', () => {
    for (let i = 0; i < 3; i++) {
      const { lo, hi } = slicePrefixBounds({ index: i, count: 3 });
      const prefixes: number[] = [];
      for (let k = 0; k < 2000; k++) {
        const t = randomTargetIn({ index: i, count: 3 });
        expect(t.length).toBe(20);
        expect(sliceOf(t, 3)).toBe(i);
        prefixes.push(t.readUInt32BE(0));
      }
      // Spread: both halves of the slice are hit.
      const mid = (lo + hi) / 2;
      expect(prefixes.filter((p) => p < mid).length).toBeGreaterThan(700);
      expect(prefixes.filter((p) => p >= mid).length).toBeGreaterThan(700);
      expect(Math.min(...prefixes)).toBeGreaterThanOrEqual(lo);
      expect(Math.max(...prefixes)).toBeLessThan(hi);
    }
  });

  it('edge targets stay inside: all-zero and all-ones random bytes', () => {
    const zeros = randomTargetIn({ index: 2, count: 3 }, (n) => Buffer.alloc(n, 0));
    const ones = randomTargetIn({ index: 0, count: 3 }, (n) => Buffer.alloc(n, 0xff));
    expect(sliceOf(zeros, 3)).toBe(2);
    expect(sliceOf(ones, 3)).toBe(0);
    expect(randomTargetIn(undefined, (n) => Buffer.alloc(n, 0xab)).equals(Buffer.alloc(20, 0xab))).toBe(true);
  });
});

describe('InfohashSampler with a slice', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('sends every sample_infohashes target into its slice', async () => {
    const sent: Buffer[] = [];
    const node: SamplerNode = {
      nodeId: Buffer.alloc(20, 1),
      routingNodes: () => Array.from({ length: 40 }, (_, i) => ({ host: `127.0.0.${i + 2}`, port: 6881, id: Buffer.alloc(20, i) })),
      query: (_p, m) => {
        sent.push(m.a!.target as Buffer);
        return Promise.resolve({ r: { id: Buffer.alloc(20, 3), interval: 60, num: 0, samples: Buffer.alloc(0) } });
      },
    };
    const s = new InfohashSampler({ node, onInfohash: () => undefined, active: () => true, slice: () => ({ index: 1, count: 3 }), logger: silentLogger() }, { queriesPerSecond: 50 });
    s.start();
    await vi.advanceTimersByTimeAsync(2000);
    s.stop();
    expect(sent.length).toBeGreaterThan(20);
    for (const t of sent) expect(sliceOf(t, 3)).toBe(1);
  });
});
