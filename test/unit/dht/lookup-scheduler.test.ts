import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DiscoveredPeer } from '../../../src/model/peer.js';
import { LookupScheduler, type GetPeersFn, type LookupSchedulerOptions } from '../../../src/dht/lookup-scheduler.js';
import { silentLogger } from '../../../src/util/logger.js';

const ih = (n: number): string => n.toString(16).padStart(40, '0');

interface Call {
  infohash: string;
  at: number;
  timeoutMs: number;
  signal?: AbortSignal;
  resolve: () => void;
  onPeer: (ip: string, port: number, from?: { host?: string; port: number }) => void;
}

function harness(watched: () => Iterable<string>, options: Partial<LookupSchedulerOptions> = {}, hang = false) {
  const calls: Call[] = [];
  const peers: DiscoveredPeer[] = [];
  const getPeers: GetPeersFn = (infohash, onPeer, o) =>
    new Promise((resolve) => {
      const call: Call = { infohash, at: Date.now(), timeoutMs: o.timeoutMs, signal: o.signal, onPeer, resolve: () => resolve({ responded: 1, timedOut: false }) };
      calls.push(call);
      o.signal?.addEventListener('abort', () => resolve({ responded: 0, timedOut: true }));
      if (!hang) setTimeout(call.resolve, 50);
    });
  const s = new LookupScheduler({ getPeers, watched, onPeer: (p) => peers.push(p), logger: silentLogger() }, { intervalMs: 60_000, ...options });
  return { s, calls, peers };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1_000_000);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('LookupScheduler', () => {
  it('looks the first maxConcurrent up at once (they bootstrap the DHT), spreads the rest, then repeats each every interval ± jitter', async () => {
    const set = Array.from({ length: 10 }, (_, i) => ih(i + 1));
    const { s, calls } = harness(() => set, { spacingMs: 200, jitter: 0.1, maxConcurrent: 2 });
    s.start();
    // At once, in the start call itself: no timer tick in between.
    expect(calls.map((c) => c.at - 1_000_000)).toEqual([0, 0]);
    await vi.advanceTimersByTimeAsync(2_500);
    expect(calls.map((c) => c.infohash).sort()).toEqual([...set].sort());
    const starts = calls.map((c) => c.at - 1_000_000).sort((a, b) => a - b);
    // The other 8 × 200 ms: one slot each over 1.6 s, not all at once.
    expect(starts[9]!).toBeLessThanOrEqual(1_600 + 100);
    expect(starts[9]! - starts[2]!).toBeGreaterThan(800);

    await vi.advanceTimersByTimeAsync(10 * 60_000);
    const per = new Map<string, number[]>();
    for (const c of calls) per.set(c.infohash, [...(per.get(c.infohash) ?? []), c.at]);
    for (const times of per.values()) {
      expect(times.length).toBeGreaterThanOrEqual(10);
      expect(times.length).toBeLessThanOrEqual(12);
      for (let i = 1; i < times.length; i++) {
        expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(54_000 - 100);
        expect(times[i]! - times[i - 1]!).toBeLessThanOrEqual(66_000 + 200);
      }
    }
    s.stop();
  });

  it('looks a newly watched infohash up within seconds and forgets removed ones', async () => {
    const set = new Set([ih(1)]);
    const { s, calls } = harness(() => set, { refreshMs: 2000 });
    s.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toHaveLength(1);
    set.add(ih(2));
    set.delete(ih(1));
    await vi.advanceTimersByTimeAsync(2_200);
    expect(calls.map((c) => c.infohash)).toEqual([ih(1), ih(2)]);
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    expect(calls.filter((c) => c.infohash === ih(1))).toHaveLength(1);
    expect(s.stats().watched).toBe(1);
    s.stop();
  });

  it('wantNow jumps the queue; lookups never exceed maxConcurrent; each gets the deadline', async () => {
    const set = Array.from({ length: 20 }, (_, i) => ih(i + 1));
    const { s, calls } = harness(() => set, { maxConcurrent: 2, spacingMs: 1, lookupTimeoutMs: 1234 }, true);
    s.start();
    await vi.advanceTimersByTimeAsync(500);
    expect(calls).toHaveLength(2);
    expect(s.stats().running).toBe(2);
    s.wantNow(ih(99));
    calls[0]!.resolve();
    await vi.advanceTimersByTimeAsync(10);
    expect(calls[2]!.infohash).toBe(ih(99));
    expect(calls.every((c) => c.timeoutMs === 1234)).toBe(true);
    expect(s.stats().running).toBe(2);
    s.stop();
    expect(calls.slice(1).every((c) => c.signal?.aborted)).toBe(true);
  });

  it('serves sampled infohashes after urgent and due ones, from a bounded queue, as source sample', async () => {
    const { s, calls, peers } = harness(() => [ih(1)], { maxConcurrent: 1, maxSampled: 2, spacingMs: 1 }, true);
    s.start();
    await vi.advanceTimersByTimeAsync(200);
    expect(calls.map((c) => c.infohash)).toEqual([ih(1)]); // running, the only slot
    expect(s.enqueueSampled(ih(50))).toBe(true);
    expect(s.enqueueSampled(ih(51))).toBe(true);
    expect(s.enqueueSampled(ih(52))).toBe(false);
    expect(s.stats().droppedSampled).toBe(1);
    s.wantNow(ih(2));
    calls[0]!.onPeer('127.0.0.9', 6881);
    calls[0]!.resolve();
    await vi.advanceTimersByTimeAsync(10);
    expect(calls[1]!.infohash).toBe(ih(2)); // urgent before sampled
    calls[1]!.resolve();
    await vi.advanceTimersByTimeAsync(10);
    expect(calls[2]!.infohash).toBe(ih(50));
    calls[2]!.onPeer('127.0.0.8', 6882);
    calls[2]!.onPeer('127.0.0.7', 6883, { host: '127.0.0.2', port: 6881 });
    expect(peers).toEqual([
      { ip: '127.0.0.9', port: 6881, infohash: ih(1), foundAt: expect.any(Number), source: 'get_peers' },
      { ip: '127.0.0.8', port: 6882, infohash: ih(50), foundAt: expect.any(Number), source: 'sample' },
      // the node whose value it was, for the capture's suspicious-value checks
      { ip: '127.0.0.7', port: 6883, infohash: ih(50), foundAt: expect.any(Number), source: 'sample', via: '127.0.0.2:6881' },
    ]);
    s.stop();
  });

  it('survives a throwing watched provider', async () => {
    let fail = true;
    const { s, calls } = harness(() => {
      if (fail) throw new Error('boom');
      return [ih(1)];
    });
    s.start();
    await vi.advanceTimersByTimeAsync(2_100);
    expect(s.stats().watchedRefreshErrors).toBeGreaterThanOrEqual(1);
    fail = false;
    await vi.advanceTimersByTimeAsync(2_500);
    expect(calls).toHaveLength(1);
    s.stop();
  });
});

describe('LookupScheduler input', () => {
  it('ignores infohashes that are not 40 hex characters, and accepts upper case', async () => {
    vi.useFakeTimers();
    const { s, calls } = harness(() => ['xyz', ih(1).toUpperCase().replace(/^0/, '0')]);
    s.start();
    s.wantNow('not-a-hash');
    expect(s.enqueueSampled('12')).toBe(false);
    await vi.advanceTimersByTimeAsync(500);
    expect(calls.map((c) => c.infohash)).toEqual([ih(1)]);
    expect(s.stats().invalid).toBeGreaterThanOrEqual(3);
    s.stop();
    vi.useRealTimers();
  });
});
