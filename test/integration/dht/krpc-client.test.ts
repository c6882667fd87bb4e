import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDht } from '../../../src/dht/dht-module.js';
import { DhtNode } from '../../../src/dht/dht-node.js';
import { KrpcClient } from '../../../src/dht/krpc-client.js';
import type { DiscoveredPeer } from '../../../src/model/peer.js';
import { silentLogger } from '../../../src/util/logger.js';
import { loopbackOnly, MemoryNodeStore, RawKrpc, startStockNodes, stopStockNodes, waitFor, type StockNode } from './private-dht.js';

/** Our KRPC client under bittorrent-dht (issue 8: points 17, 8 and 7). */
const closers: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function node(host: string, extra: Partial<ConstructorParameters<typeof DhtNode>[1]> = {}): DhtNode {
  const n = new DhtNode(
    { logger: silentLogger() },
    { host, port: 0, bootstrap: [], maxPacketsPerSecond: 1000, minQueryIntervalPerIpMs: 0, maxPendingQueries: 1024, queryTimeoutMs: 200, allowDestination: loopbackOnly, ...extra },
  );
  closers.push(() => n.stop());
  return n;
}

function compactPeer(ip: string, port: number): Buffer {
  const b = Buffer.alloc(6);
  ip.split('.').forEach((x, i) => (b[i] = Number(x)));
  b.writeUInt16BE(port, 4);
  return b;
}

describe('KRPC client through bittorrent-dht’s own seam (opts.krpc)', () => {
  it('bittorrent-dht runs on our client: same routing table, and its ping-and-swap of a full bucket evicts a dead contact through it', async () => {
    const ourId = Buffer.alloc(20); // all zero: ids starting with 0xff share one bucket far from us
    const n = node('127.0.71.100', { nodeId: ourId });
    await n.start([], { populate: false });
    expect(n.rpc).toBeInstanceOf(KrpcClient);
    expect(n.dht.nodes).toBe(n.rpc.nodes);
    expect(n.dht.nodeId.equals(ourId)).toBe(true);
    expect(n.dht.address().port).toBe(n.socket.address().port);

    const far = (): Buffer => Buffer.concat([Buffer.from([0xff]), randomBytes(19)]);
    // 20 contacts nobody answers for (closed ports): the far bucket is full.
    n.addNodes(Array.from({ length: 20 }, (_, i) => ({ host: '127.0.71.1', port: 40_001 + i, id: far() })));
    expect(n.nodeCount()).toBe(20);

    // A live node in that bucket queries us: the library pings the oldest through our client and swaps a dead one.
    const live = new RawKrpc();
    await live.bind('127.0.71.2');
    closers.push(() => live.close());
    const liveId = far();
    await live.query('127.0.71.100', n.address().port, 'ping', { id: liveId });
    await waitFor(() => n.rpc.nodes.get(liveId) !== null, 3000);
    expect(n.nodeCount()).toBe(20);
    expect(n.socket.stats().timeouts).toBeGreaterThanOrEqual(1);
  });
});

describe('BEP 43 read-only nodes', () => {
  it('a query marked ro: 1 is answered but its sender stays out of the routing table; without ro it goes in', async () => {
    const n = node('127.0.74.100');
    await n.start([], { populate: false });
    const ask = async (ro: boolean): Promise<Buffer> => {
      const asker = new RawKrpc();
      await asker.bind('127.0.74.1');
      closers.push(() => asker.close());
      const id = randomBytes(20);
      asker.send({ t: Buffer.from([0, 1]), y: 'q', q: 'get_peers', a: { id, info_hash: randomBytes(20) }, ...(ro ? { ro: 1 } : {}) }, '127.0.74.100', n.address().port);
      await waitFor(() => asker.received.some((m) => String(m.msg.y) === 'r'), 3000);
      return id;
    };
    // A one-shot announcer (test/e2e/swarm/krpc.ts readOnly): gone after its announce; had it been
    // kept, lookups would wait on it (the crawler-scale bench: 10 of 300 peers found, the table full
    // of such dead entries).
    const readOnly = await ask(true);
    expect(n.rpc.nodes.get(readOnly)).toBeNull();
    expect(n.nodeCount()).toBe(0);
    const regular = await ask(false);
    expect(n.rpc.nodes.get(regular)).not.toBeNull();
  });
});

describe('BEP 5 node health', () => {
  let stock: StockNode[];
  beforeAll(async () => {
    stock = await startStockNodes(4, '127.0.72.');
    closers.push(() => stopStockNodes(stock));
  });

  it('a node that never answers goes bad after 3 queries in a row: out of the table and not queried again, though other nodes list it', async () => {
    const silent = new RawKrpc(); // receives, never answers
    const addr = await silent.bind('127.0.0.1');
    closers.push(() => silent.close());
    const silentId = randomBytes(20);
    // Every other node lists it: each lookup hears of it again.
    for (const s of stock) s.dht.addNode({ id: silentId, host: addr.host, port: addr.port });

    const n = node('127.0.72.100', { bootstrap: [`${stock[0]!.host}:${stock[0]!.port}`] });
    await n.start([{ host: addr.host, port: addr.port, id: silentId }]);
    for (let i = 0; i < 8; i++) await n.getPeers(randomBytes(20).toString('hex'), () => {}, { timeoutMs: 5000 });

    const queries = silent.received.filter((m) => String(m.msg.y) === 'q');
    console.log(`silent node: ${queries.length} queries over 8 lookups and the start-up walk`);
    expect(queries.length).toBe(3);
    expect(n.routingNodes().some((r) => r.port === addr.port && r.host === addr.host)).toBe(false);
    expect(n.stats().health).toMatchObject({ bad: 1, wentBad: 1 });
    expect(n.nodeCount()).toBeGreaterThanOrEqual(4);
  });
});

describe('first lookup after start', () => {
  it('is the first query the bootstrap node gets (get_peers, not find_node): peers within ms despite the 1 s per-IP interval', async () => {
    const IH = 'c7'.repeat(20);
    const bootstrap = new RawKrpc();
    const b = await bootstrap.bind('127.0.73.1');
    closers.push(() => bootstrap.close());
    const bootId = randomBytes(20);
    bootstrap.onQuery = (m, reply) => {
      const q = String(m.msg.q);
      if (q === 'get_peers') reply({ id: bootId, token: Buffer.from('tok'), values: [compactPeer('127.0.73.9', 6881)], nodes: Buffer.alloc(0) });
      else reply({ id: bootId, nodes: Buffer.alloc(0) });
    };
    const peers: Array<DiscoveredPeer & { at: number }> = [];
    const dht = createDht(
      {
        logger: silentLogger(), nodes: new MemoryNodeStore(), onPeer: (p) => peers.push({ ...p, at: Date.now() }), watched: () => [IH],
        watchAll: () => false, allowDestination: loopbackOnly,
      },
      {
        enabled: true, host: '127.0.73.100', port: 0, bootstrap: [`${b.host}:${b.port}`], maxPacketsPerSecond: 250,
        minQueryIntervalPerIpMs: 1000, maxPendingQueries: 1024, lookupIntervalMs: 900_000, sampleInfohashes: false,
      },
    );
    closers.push(() => dht.stop());
    const t0 = Date.now();
    await dht.start();
    await waitFor(() => peers.length > 0, 3000, 2);
    const ms = peers[0]!.at - t0;
    console.log(`first lookup: peer ${ms} ms after start (per-IP interval 1000 ms)`);
    expect(peers[0]).toMatchObject({ ip: '127.0.73.9', port: 6881, infohash: IH, source: 'get_peers' });
    expect(ms).toBeLessThan(300);
    const first = bootstrap.received.find((m) => String(m.msg.y) === 'q')!;
    expect(String(first.msg.q)).toBe('get_peers');
    // The table is still filled: the find_node walk follows the first lookup.
    await waitFor(() => bootstrap.received.some((m) => String(m.msg.q) === 'find_node'), 3000);
  });
});
