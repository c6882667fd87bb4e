import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiscoveredPeer } from '../../../src/model/peer.js';
import { DhtNode } from '../../../src/dht/dht-node.js';
import { silentLogger } from '../../../src/util/logger.js';
import { announce, loopbackOnly, MemoryNodeStore, startStockNodes, stopStockNodes, waitFor, type StockNode, startedDht } from './private-dht.js';

const IH_A = 'a1'.repeat(20);
const IH_IMPLIED = 'a2'.repeat(20);
const IH_LOOKUP = 'b1'.repeat(20);
const IH_WANT = 'b2'.repeat(20);

let stock: StockNode[];

beforeAll(async () => {
  stock = await startStockNodes(14, '127.0.10.');
});

afterAll(async () => {
  await stopStockNodes(stock);
});

function ourNode(host: string): DhtNode {
  return new DhtNode(
    { logger: silentLogger() },
    {
      host,
      port: 0,
      bootstrap: [`${stock[0]!.host}:${stock[0]!.port}`],
      maxPacketsPerSecond: 250,
      minQueryIntervalPerIpMs: 100,
      maxPendingQueries: 1024,
      allowDestination: loopbackOnly,
    },
  );
}

describe('announce harvest (a)', () => {
  it('emits the announced port, and the UDP source port when implied_port=1', async () => {
    const node = ourNode('127.0.10.100');
    const peers: DiscoveredPeer[] = [];
    node.on('peer', (p: DiscoveredPeer) => peers.push(p));
    await node.start();
    try {
      await waitFor(() => node.nodeCount() >= 10, 5000);
      // Stock nodes learnt about us when we queried them; their announce reaches the k closest, us included.
      const before = Date.now();
      await announce(stock[3]!, IH_A, 6881);
      await announce(stock[4]!, IH_IMPLIED, 0); // bittorrent-dht sends implied_port=1 when port is 0
      await waitFor(() => peers.length >= 2, 5000);

      const a = peers.find((p) => p.infohash === IH_A)!;
      expect(a).toMatchObject({ ip: stock[3]!.host, port: 6881, source: 'announce' });
      expect(a.foundAt).toBeGreaterThanOrEqual(before);
      const implied = peers.find((p) => p.infohash === IH_IMPLIED)!;
      // The UDP source port of the announcing node, not the (absent) announced one.
      expect(implied).toMatchObject({ ip: stock[4]!.host, port: stock[4]!.port, source: 'announce' });
      expect(node.stats().responder.announcesHarvested).toBe(2);
    } finally {
      await node.stop();
    }
  });
});

describe('lookups (b)', () => {
  it('finds peers of watched infohashes within seconds, and wantNow triggers a lookup within 2 s', async () => {
    await Promise.all([announce(stock[5]!, IH_LOOKUP, 7001), announce(stock[6]!, IH_LOOKUP, 7002), announce(stock[7]!, IH_WANT, 7003)]);

    const peers: DiscoveredPeer[] = [];
    const t0 = Date.now();
    const dht = await startedDht(
      { logger: silentLogger(), nodes: new MemoryNodeStore(), onPeer: (p) => peers.push(p), watched: () => [IH_LOOKUP], watchAll: () => false, allowDestination: loopbackOnly },
      {
        enabled: true, host: '127.0.10.101', port: 0, bootstrap: [`${stock[0]!.host}:${stock[0]!.port}`],
        maxPacketsPerSecond: 250, minQueryIntervalPerIpMs: 100, maxPendingQueries: 1024, lookupIntervalMs: 900_000,
        sampleInfohashes: true
      },
    );
    try {
      const tLookup = await waitFor(() => peers.filter((p) => p.infohash === IH_LOOKUP).length >= 2, 5000);
      const found = peers.filter((p) => p.infohash === IH_LOOKUP).map((p) => `${p.ip}:${p.port}`).sort();
      expect(found).toEqual([`${stock[5]!.host}:7001`, `${stock[6]!.host}:7002`]);
      expect(peers.every((p) => p.source === 'get_peers' && p.foundAt >= t0)).toBe(true);
      console.log(`watched lookup found its peers ${tLookup} ms after start`);

      // De-duplicated: many nodes returned the same two peers, onPeer saw each once.
      await waitFor(() => dht.stats().peersDuplicate > 0, 3000);
      expect(peers.filter((p) => p.infohash === IH_LOOKUP)).toHaveLength(2);

      const tWant = Date.now();
      dht.wantNow(IH_WANT);
      const dt = await waitFor(() => peers.some((p) => p.infohash === IH_WANT), 2000);
      expect(peers.find((p) => p.infohash === IH_WANT)).toMatchObject({ ip: stock[7]!.host, port: 7003, source: 'get_peers' });
      console.log(`wantNow → peer in ${dt} ms (${Date.now() - tWant} ms)`);
      const s = dht.stats();
      expect(s.lookups!.started).toBeGreaterThanOrEqual(2);
      expect(s.peersFound.get_peers).toBe(3);
    } finally {
      await dht.stop();
    }
  });
});

describe('start', () => {
  it('rejects when the port is taken (fatal: cannot bind), and a disabled DHT is inert', async () => {
    const first = ourNode('127.0.10.102');
    await first.start();
    const opts = {
      enabled: true, host: '127.0.10.102', port: first.address().port, bootstrap: [], maxPacketsPerSecond: 250,
      minQueryIntervalPerIpMs: 1000, maxPendingQueries: 1024, lookupIntervalMs: 900_000, sampleInfohashes: true,
    };
    const deps = { logger: silentLogger(), nodes: new MemoryNodeStore(), onPeer: () => {}, watched: () => [], watchAll: () => false, allowDestination: loopbackOnly };
    await expect(startedDht(deps, opts)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await first.stop();
    const off = await startedDht(deps, { ...opts, enabled: false });
    expect(off.nodeCount()).toBe(0);
    expect(off.stats().enabled).toBe(false);
    await off.stop();
  });
});
