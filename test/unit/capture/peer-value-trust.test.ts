import { describe, expect, it } from 'vitest';
import { PeerValueTrust, swapPortBytes } from '../../../src/capture/peer-value-trust.js';
import type { DiscoveredPeer } from '../../../src/model/peer.js';

const IH = 'ab'.repeat(20);
const IH2 = 'cd'.repeat(20);
const value = (ip: string, port: number, via?: string, infohash = IH): DiscoveredPeer => ({
  ip,
  port,
  infohash,
  foundAt: 0,
  source: via === undefined ? 'announce' : 'get_peers',
  ...(via !== undefined ? { via } : {}),
});
const GOOD = '198.51.100.1:6881';
const GOOD2 = '198.51.100.3:6881';
const BAD = '198.51.100.2:6881';

describe('swapPortBytes', () => {
  it('swaps the two bytes', () => {
    expect(swapPortBytes(6881)).toBe(57626); // 0x1AE1 → 0xE11A
    expect(swapPortBytes(57626)).toBe(6881);
    expect(swapPortBytes(0x1a1a)).toBe(0x1a1a);
    expect(swapPortBytes(1)).toBe(256);
  });
});

describe('PeerValueTrust', () => {
  it('a node value at the byte-swapped port of an address another node gave is a phantom; the real one passes', () => {
    const t = new PeerValueTrust();
    expect(t.check(value('203.0.113.5', 6881, GOOD))).toBe('ok');
    expect(t.check(value('203.0.113.5', 57626, BAD))).toBe('phantom');
    // Same node, same port again: fine (not another source).
    expect(t.check(value('203.0.113.5', 6881, GOOD))).toBe('ok');
    // Another torrent: no knowledge there.
    expect(t.check(value('203.0.113.5', 57626, BAD, IH2))).toBe('ok');
    expect(t.stats()).toMatchObject({ checked: 4, phantoms: 1 });
  });

  it('a value the same node gave at both ports is not judged (no other source)', () => {
    const t = new PeerValueTrust();
    expect(t.check(value('203.0.113.6', 6881, BAD))).toBe('ok');
    expect(t.check(value('203.0.113.6', 57626, BAD))).toBe('ok');
  });

  it('an announce after a swapped value gives the value’s node the strike', () => {
    const t = new PeerValueTrust({ minStrikes: 2 });
    expect(t.check(value('203.0.113.7', 57626, BAD))).toBe('ok'); // not knowable yet
    expect(t.check(value('203.0.113.7', 6881))).toBe('ok'); // the peer announces itself
    expect(t.check(value('203.0.113.8', 57626, BAD))).toBe('ok');
    expect(t.check(value('203.0.113.8', 6881))).toBe('ok');
    // Two strikes out of its two values: distrusted; its next (unknown) value is dropped.
    expect(t.isDistrusted(BAD)).toBe(true);
    expect(t.check(value('203.0.113.9', 57626, BAD))).toBe('distrusted-node');
    expect(t.stats()).toMatchObject({ distrustedDrops: 1, nodesDistrusted: 1 });
  });

  it('a node swapping every value is distrusted after enough phantoms; its corroborated values still pass', () => {
    const t = new PeerValueTrust({ minStrikes: 3 });
    for (let i = 1; i <= 3; i++) {
      expect(t.check(value(`203.0.113.${i}`, 6881 + i, GOOD))).toBe('ok');
      expect(t.check(value(`203.0.113.${i}`, swapPortBytes(6881 + i), BAD))).toBe('phantom');
    }
    expect(t.isDistrusted(BAD)).toBe(true);
    expect(t.isDistrusted(GOOD)).toBe(false);
    expect(t.check(value('203.0.113.50', 51413, BAD))).toBe('distrusted-node');
    // Known from another node at that exact ip:port: corroborated, passes.
    expect(t.check(value('203.0.113.60', 51413, GOOD2))).toBe('ok');
    expect(t.check(value('203.0.113.60', 51413, BAD))).toBe('ok');
  });

  it('a node whose every value fails to capture is distrusted; one success clears that', () => {
    const t = new PeerValueTrust({ minFailures: 4 });
    for (let i = 0; i < 4; i++) {
      const p = value(`203.0.113.${100 + i}`, 40000 + i, BAD);
      expect(t.check(p)).toBe('ok');
      t.outcome(p, false);
    }
    expect(t.isDistrusted(BAD)).toBe(true);
    expect(t.check(value('203.0.113.120', 40100, BAD))).toBe('distrusted-node');
    const other = '198.51.100.9:6881';
    for (let i = 0; i < 4; i++) t.outcome(value(`203.0.113.${130 + i}`, 40000, other), i !== 2);
    expect(t.isDistrusted(other)).toBe(false);
  });

  it('stays bounded', () => {
    const t = new PeerValueTrust({ maxEntries: 100, maxNodes: 10 });
    for (let i = 0; i < 1000; i++) t.check(value(`10.0.${i >> 8}.${i & 255}`, 1000 + i, `192.0.2.${i % 50}:6881`));
    expect(t.stats().nodesTracked).toBe(10);
  });
});
