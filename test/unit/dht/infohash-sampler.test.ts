/**
 * The sampler's use of the BEP 51 codec, against the KRPC fixtures (test/fixtures/krpc, built byte by
 * byte in test/unit/protocol/bep51-samples.test.ts): each packet is decoded the way our socket
 * decodes it (krpc-codec) and handed to the sampler as a query reply.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeKrpc } from '../../../src/dht/krpc-codec.js';
import { InfohashSampler, type InfohashSamplerOptions, type SamplerNode } from '../../../src/dht/infohash-sampler.js';
import { encodeCompactNodes } from '../../../src/protocol/compact.js';
import { silentLogger } from '../../../src/util/logger.js';

const SAMPLE_1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';
const SAMPLE_2 = 'a9993e364706816aba3e25717850c26c9cd0d89d';
const SAMPLE_3 = '000102030405060708090a0b0c0d0e0f10111213';

function fixtureReply(name: string): Record<string, unknown> {
  const packet = readFileSync(path.resolve('test/fixtures/krpc', name));
  return (decodeKrpc(packet) as { r: Record<string, unknown> }).r;
}

type Reply = Record<string, unknown> | { error: number } | 'timeout';

class FakeNode implements SamplerNode {
  readonly nodeId = Buffer.alloc(20, 9);
  constructor(readonly family: 4 | 6 = 4) {}
  table: Array<{ host: string; port: number; id: Buffer }> = [];
  replies = new Map<string, () => Reply>();
  sent: Array<{ key: string; at: number; q: string; target: Buffer }> = [];
  routingNodes() {
    return [...this.table];
  }
  query(peer: { host: string; port: number }, message: { q: string; a?: Record<string, unknown> }) {
    const key = `${peer.host}:${peer.port}`;
    this.sent.push({ key, at: Date.now(), q: message.q, target: message.a!.target as Buffer });
    const reply = this.replies.get(key)?.() ?? 'timeout';
    if (reply === 'timeout') return Promise.reject(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }));
    if ('error' in reply) return Promise.reject(Object.assign(new Error('err'), { code: reply.error }));
    return Promise.resolve({ r: reply });
  }
}

function sampler(node: FakeNode, options: InfohashSamplerOptions = {}, active = () => true) {
  const fed: string[] = [];
  const s = new InfohashSampler({ node, onInfohash: (ih) => fed.push(ih), active, logger: silentLogger() }, { queriesPerSecond: 10, ...options });
  return { s, fed };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(5_000_000);
});
afterEach(() => vi.useRealTimers());

describe('InfohashSampler', () => {
  it('feeds exactly the sampled infohashes of a fixture reply, in wire order, and walks the nodes it names', async () => {
    const node = new FakeNode();
    node.table = [{ host: '127.0.0.2', port: 6881, id: Buffer.alloc(20, 1) }];
    node.replies.set('127.0.0.2:6881', () => fixtureReply('sample-infohashes-3.bin'));
    const { s, fed } = sampler(node);
    s.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(fed).toEqual([SAMPLE_1, SAMPLE_2, SAMPLE_3]);
    expect(node.sent[0]).toMatchObject({ key: '127.0.0.2:6881', q: 'sample_infohashes' });
    expect(node.sent[0]!.target.length).toBe(20);
    // The reply's `nodes` (87.98.162.88:6881 in the fixture) is the next node asked (fake node: nothing is sent).
    await vi.advanceTimersByTimeAsync(100);
    expect(node.sent[1]!.key).toBe('87.98.162.88:6881');
    expect(s.stats()).toMatchObject({ responses: 1, infohashes: 3, newInfohashes: 3, nodesLearned: 1 });
    s.stop();
  });

  it('trusts nothing from a sample set that is not a multiple of 20 bytes; an empty one feeds nothing', async () => {
    const node = new FakeNode();
    node.table = [
      { host: '127.0.0.2', port: 1, id: Buffer.alloc(20, 1) },
      { host: '127.0.0.3', port: 1, id: Buffer.alloc(20, 2) },
    ];
    node.replies.set('127.0.0.2:1', () => fixtureReply('sample-infohashes-41.bin'));
    node.replies.set('127.0.0.3:1', () => fixtureReply('sample-infohashes-0.bin'));
    const { s, fed } = sampler(node);
    s.start();
    await vi.advanceTimersByTimeAsync(300);
    expect(fed).toEqual([]);
    expect(s.stats()).toMatchObject({ malformed: 1, responses: 1, infohashes: 0 });
    s.stop();
  });

  it("asks a node again only after its interval (floored), backs off 204 and timeouts, de-duplicates", async () => {
    const node = new FakeNode();
    node.table = [
      { host: '127.0.0.2', port: 1, id: Buffer.alloc(20, 1) }, // interval 300 s (fixture 41 is malformed, so build one)
      { host: '127.0.0.3', port: 1, id: Buffer.alloc(20, 2) }, // 204
      { host: '127.0.0.4', port: 1, id: Buffer.alloc(20, 3) }, // silent
      { host: '127.0.0.5', port: 1, id: Buffer.alloc(20, 4) }, // interval 0 → floor
    ];
    const r3 = fixtureReply('sample-infohashes-3.bin');
    node.replies.set('127.0.0.2:1', () => ({ ...r3, interval: 300, nodes: Buffer.alloc(0) }));
    node.replies.set('127.0.0.3:1', () => ({ error: 204 }));
    node.replies.set('127.0.0.5:1', () => ({ ...r3, interval: 0, nodes: Buffer.alloc(0) }));
    const { s, fed } = sampler(node, { minNodeIntervalMs: 60_000, unsupportedRetryMs: 3_600_000, failedRetryMs: 600_000 });
    s.start();
    await vi.advanceTimersByTimeAsync(20 * 60_000);
    const times = (key: string): number[] => node.sent.filter((x) => x.key === key).map((x) => x.at);
    const gaps = (t: number[]): number[] => t.slice(1).map((x, i) => x - t[i]!);
    expect(times('127.0.0.2:1').length).toBeGreaterThanOrEqual(3);
    expect(Math.min(...gaps(times('127.0.0.2:1')))).toBeGreaterThanOrEqual(300_000);
    expect(Math.min(...gaps(times('127.0.0.5:1')))).toBeGreaterThanOrEqual(60_000);
    expect(times('127.0.0.3:1')).toHaveLength(1);
    expect(times('127.0.0.4:1').length).toBeLessThanOrEqual(2);
    expect(Math.min(...gaps(times('127.0.0.4:1')), Infinity)).toBeGreaterThanOrEqual(600_000);
    expect(fed).toEqual([SAMPLE_1, SAMPLE_2, SAMPLE_3]); // same samples from everyone: fed once
    expect(s.stats().unsupported).toBe(1);
    s.stop();
  });

  it('sends nothing while no filter watches all torrents', async () => {
    const node = new FakeNode();
    node.table = [{ host: '127.0.0.2', port: 1, id: Buffer.alloc(20, 1) }];
    let active = false;
    const { s } = sampler(node, {}, () => active);
    s.start();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(node.sent).toHaveLength(0);
    active = true;
    await vi.advanceTimersByTimeAsync(200);
    expect(node.sent).toHaveLength(1);
    s.stop();
  });

  it('bounds queries in flight', async () => {
    const node = new FakeNode();
    node.table = Array.from({ length: 50 }, (_, i) => ({ host: `127.0.1.${i + 1}`, port: 1, id: Buffer.alloc(20, i) }));
    node.query = () => new Promise(() => {}); // never answers
    const { s } = sampler(node, { maxInFlight: 4 });
    s.start();
    await vi.advanceTimersByTimeAsync(3_000);
    expect(s.stats().inFlight).toBe(4);
    expect(s.stats().queries).toBe(4);
    s.stop();
  });

  it('samples the IPv6 DHT on an IPv6 node (BEP 32): walks the nodes6 a reply names, never its IPv4 nodes', async () => {
    const node = new FakeNode(6);
    node.table = [{ host: 'fd00:cd::2', port: 6881, id: Buffer.alloc(20, 1) }];
    const r3 = fixtureReply('sample-infohashes-3.bin');
    node.replies.set('fd00:cd::2:6881', () => ({
      ...r3,
      nodes: encodeCompactNodes([{ id: new Uint8Array(20).fill(2), ip: '127.0.0.3', port: 6881 }], 4),
      nodes6: encodeCompactNodes([{ id: new Uint8Array(20).fill(3), ip: 'fd00:cd::3', port: 6882 }], 6),
    }));
    const { s, fed } = sampler(node);
    s.start();
    await vi.advanceTimersByTimeAsync(300);
    expect(fed).toEqual([SAMPLE_1, SAMPLE_2, SAMPLE_3]);
    expect(node.sent.map((x) => x.key)).toEqual(['fd00:cd::2:6881', 'fd00:cd::3:6882']);
    expect(s.stats()).toMatchObject({ nodesLearned: 1 });
    s.stop();

    // The IPv4 node's sampler takes the IPv4 one and leaves nodes6 alone.
    const v4 = new FakeNode(4);
    v4.table = [{ host: '127.0.0.2', port: 6881, id: Buffer.alloc(20, 1) }];
    v4.replies.set('127.0.0.2:6881', node.replies.get('fd00:cd::2:6881')!);
    const four = sampler(v4);
    four.s.start();
    await vi.advanceTimersByTimeAsync(300);
    expect(v4.sent.map((x) => x.key)).toEqual(['127.0.0.2:6881', '127.0.0.3:6881']);
    four.s.stop();
  });
});
