/**
 * (d) Outbound budgets on the wire: a burst of 500 queries with maxPacketsPerSecond=50 is spread at
 * 50 packets/s, the pending queues never exceed maxPendingQueries (the rest is dropped and counted),
 * and one IP never gets two queries less than minQueryIntervalPerIpMs apart.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DhtNode } from '../../../src/dht/dht-node.js';
import { silentLogger } from '../../../src/util/logger.js';
import { loopbackOnly, RawKrpc } from './private-dht.js';

const sinks: RawKrpc[] = [];
const sinkAddrs: Array<{ host: string; port: number }> = [];

beforeAll(async () => {
  for (let i = 1; i <= 20; i++) {
    const s = new RawKrpc();
    const id = randomBytes(20);
    s.onQuery = (_m, reply) => reply({ id });
    sinkAddrs.push(await s.bind(`127.0.20.${i}`));
    sinks.push(s);
  }
});

afterAll(async () => {
  await Promise.all(sinks.map((s) => s.close()));
});

function queriesOnWire(): number[] {
  return sinks.flatMap((s) => s.received.filter((m) => String(m.msg.y) === 'q').map((m) => m.at)).sort((a, b) => a - b);
}

function maxInWindow(times: number[], windowMs: number): number {
  let best = 0;
  let j = 0;
  for (let i = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

describe('outbound budget (d)', () => {
  it('spreads a burst of 500 queries at 50 packets/s and bounds the pending queue', async () => {
    for (const s of sinks) s.received.length = 0;
    const node = new DhtNode(
      { logger: silentLogger() },
      {
        host: '127.0.20.100', port: 0, bootstrap: [], maxPacketsPerSecond: 50, minQueryIntervalPerIpMs: 0,
        maxPendingQueries: 100, concurrency: 16, allowDestination: loopbackOnly,
      },
    );
    await node.start();
    let pendingMax = 0;
    const sampler = setInterval(() => {
      const s = node.stats();
      pendingMax = Math.max(pendingMax, s.krpcPending, s.socket.queued);
    }, 2);
    try {
      const t0 = Date.now();
      const results = await Promise.allSettled(
        Array.from({ length: 500 }, (_, i) => node.query(sinkAddrs[i % sinkAddrs.length]!, { q: 'ping', a: {} })),
      );
      const elapsed = Date.now() - t0;
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      const dropped = results.filter((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'EQUEUEFULL').length;
      const stats = node.stats();
      const wire = queriesOnWire();
      const rate = (wire.length - 1) / ((wire.at(-1)! - wire[0]!) / 1000);
      const peak = maxInWindow(wire, 1000);
      console.log(
        `burst 500 @50/s: sent ${ok}, dropped ${dropped} (k-rpc pending ${stats.droppedKrpcPending}, socket ${stats.socket.droppedQueueFull}),` +
          ` wire ${wire.length} packets in ${wire.at(-1)! - wire[0]!} ms = ${rate.toFixed(1)}/s, peak 1 s window ${peak},` +
          ` pending high water k-rpc ${stats.krpcPendingHighWater} / socket ${stats.socket.queueHighWater} (sampled max ${pendingMax}), ${elapsed} ms`,
      );
      expect(ok + dropped).toBe(500);
      expect(ok).toBe(16 + 100); // in flight + the bounded pending queue
      expect(dropped).toBe(stats.droppedKrpcPending + stats.socket.droppedQueueFull);
      expect(stats.krpcPendingHighWater).toBeLessThanOrEqual(100);
      expect(stats.socket.queueHighWater).toBeLessThanOrEqual(100);
      expect(pendingMax).toBeLessThanOrEqual(100);
      expect(wire.length).toBe(ok);
      // Any 1 s on the wire: 50/s plus the 5-packet burst allowance (rate/10). The sinks share this
      // process's event loop, so a stall bunches arrival stamps: allow that jitter (unbudgeted, the
      // stock library puts thousands of packets in a second; see bench/krpc-library-gaps.ts).
      expect(peak).toBeLessThanOrEqual(60);
      // After the 5-packet burst, one packet per 20 ms: the whole burst cannot go out faster than that
      // (2.2 s; 100 ms allowed for arrival stamps bunched by a busy event loop).
      expect(wire.at(-1)! - wire[0]!).toBeGreaterThanOrEqual(((ok - 5 - 1) / 50) * 1000 - 100);
      expect(rate).toBeGreaterThan(40);
      expect(stats.socket.packetsOut).toBe(ok);
    } finally {
      clearInterval(sampler);
      await node.stop();
    }
  });

  it('keeps at least minQueryIntervalPerIpMs (1 s) between queries to one IP, without delaying other IPs', async () => {
    for (const s of sinks) s.received.length = 0;
    const node = new DhtNode(
      { logger: silentLogger() },
      {
        host: '127.0.20.101', port: 0, bootstrap: [], maxPacketsPerSecond: 250, minQueryIntervalPerIpMs: 1000,
        maxPendingQueries: 1024, allowDestination: loopbackOnly,
      },
    );
    await node.start();
    try {
      const [a, b] = [sinkAddrs[0]!, sinkAddrs[1]!];
      await Promise.all([
        ...[1, 2, 3].map(() => node.query(a, { q: 'ping', a: {} })),
        ...[1, 2, 3].map(() => node.query(b, { q: 'ping', a: {} })),
      ]);
      const at = (s: RawKrpc): number[] => s.received.filter((m) => String(m.msg.y) === 'q').map((m) => m.at);
      const ta = at(sinks[0]!);
      const tb = at(sinks[1]!);
      console.log(`per-IP: A at +${ta.map((t) => t - ta[0]!).join(', +')} ms; B first ${tb[0]! - ta[0]!} ms after A's first`);
      expect(ta).toHaveLength(3);
      expect(tb).toHaveLength(3);
      for (let i = 1; i < 3; i++) {
        expect(ta[i]! - ta[i - 1]!).toBeGreaterThanOrEqual(990);
        expect(tb[i]! - tb[i - 1]!).toBeGreaterThanOrEqual(990);
      }
      expect(Math.abs(tb[0]! - ta[0]!)).toBeLessThan(100);
      expect(node.stats().socket.perIpDelayed).toBeGreaterThanOrEqual(4);
    } finally {
      await node.stop();
    }
  });
});
