/**
 * (f) BEP 51 sampling end to end: our node walks nodes that answer sample_infohashes (raw KRPC
 * responders written here, and another DhtNode of ours), honours each node's interval, ignores a
 * malformed sample set, and feeds the sampled infohashes to get_peers: their peers come out with
 * source 'sample'. Nothing is sampled while no filter watches all torrents.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiscoveredPeer } from '../../../src/model/peer.js';
import { encodeCompactNodes, encodeCompactPeer } from '../../../src/protocol/compact.js';
import { DhtNode } from '../../../src/dht/dht-node.js';
import { silentLogger } from '../../../src/util/logger.js';
import { loopbackOnly, MemoryNodeStore, RawKrpc, waitFor, startedDht } from './private-dht.js';

const X = Array.from({ length: 6 }, (_, i) => Buffer.alloc(20, 0xf1 + i));
const hex = (b: Buffer): string => b.toString('hex');
/** The peer every responder returns for X[k]. */
const peerOf = (k: number): { ip: string; port: number } => ({ ip: `127.0.41.${k + 1}`, port: 9001 + k });

interface Responder {
  raw: RawKrpc;
  id: Buffer;
  host: string;
  port: number;
}

const responders: Responder[] = [];
let ours: DhtNode;

async function responder(host: string, sample: (r: Responder) => Record<string, unknown>, nodes: () => Responder[]): Promise<Responder> {
  const raw = new RawKrpc();
  const id = randomBytes(20);
  const addr = await raw.bind(host);
  const self: Responder = { raw, id, host: addr.host, port: addr.port };
  const compactNodes = (): Buffer => encodeCompactNodes(nodes().map((n) => ({ id: n.id, ip: n.host, port: n.port })), 4);
  raw.onQuery = (m, reply) => {
    const q = String(m.msg.q);
    const a = m.msg.a as Record<string, Buffer>;
    if (q === 'sample_infohashes') return reply(sample(self));
    if (q === 'get_peers') {
      const k = X.findIndex((x) => x.equals(a.info_hash!));
      const r: Record<string, unknown> = { id, token: Buffer.from('tok'), nodes: compactNodes() };
      if (k >= 0) r.values = [encodeCompactPeer(peerOf(k).ip, peerOf(k).port)];
      return reply(r);
    }
    if (q === 'find_node') return reply({ id, nodes: compactNodes() });
    return reply({ id });
  };
  responders.push(self);
  return self;
}

let r1: Responder;
let r2: Responder;
let r3: Responder;

beforeAll(async () => {
  // Our other node: it has seen X[5] (a get_peers it answered), so it samples X[5].
  ours = new DhtNode(
    { logger: silentLogger() },
    { host: '127.0.40.3', port: 0, bootstrap: [], maxPacketsPerSecond: 250, minQueryIntervalPerIpMs: 0, maxPendingQueries: 64, allowDestination: loopbackOnly, sampleIntervalSec: 2 },
  );
  await ours.start();
  const probe = new RawKrpc();
  await probe.bind('127.0.40.9');
  await probe.query(ours.address().address, ours.address().port, 'get_peers', { id: ours.nodeId, info_hash: X[5] });
  await probe.close();
  const oursAsNode = (): Responder => ({ raw: null as unknown as RawKrpc, id: ours.nodeId, host: '127.0.40.3', port: ours.address().port });

  r2 = await responder('127.0.40.2', (r) => ({ id: r.id, interval: 2, num: 2, nodes: Buffer.alloc(0), samples: Buffer.concat([X[3]!, X[4]!]) }), () => []);
  // Malformed: 30 bytes of samples (not a multiple of 20): nothing from it may be trusted.
  r3 = await responder('127.0.40.4', (r) => ({ id: r.id, interval: 2, num: 9, nodes: Buffer.alloc(0), samples: randomBytes(30) }), () => []);
  r1 = await responder(
    '127.0.40.1',
    (r) => ({ id: r.id, interval: 2, num: 3, nodes: encodeCompactNodes([{ id: r2.id, ip: r2.host, port: r2.port }], 4), samples: Buffer.concat([X[0]!, X[1]!, X[2]!]) }),
    () => [r3, oursAsNode()],
  );
});

afterAll(async () => {
  await Promise.all(responders.map((r) => r.raw.close()));
  await ours.stop();
});

describe('BEP 51 sampler (f)', () => {
  it('samples only while some filter watches all torrents, honours intervals, and looks sampled infohashes up', async () => {
    let watchAll = false;
    const peers: DiscoveredPeer[] = [];
    const dht = await startedDht(
      { logger: silentLogger(), nodes: new MemoryNodeStore(), onPeer: (p) => peers.push(p), watched: () => [], watchAll: () => watchAll, allowDestination: loopbackOnly },
      {
        enabled: true, host: '127.0.40.100', port: 0, bootstrap: [`${r1.host}:${r1.port}`], maxPacketsPerSecond: 250,
        minQueryIntervalPerIpMs: 0, maxPendingQueries: 1024, lookupIntervalMs: 900_000, sampleInfohashes: true,
        tuning: { sampler: { queriesPerSecond: 20, minNodeIntervalMs: 1000 } },
      },
    );
    try {
      await waitFor(() => dht.nodeCount() >= 3, 3000);
      await new Promise((r) => setTimeout(r, 600));
      expect(dht.stats().samples!.queries).toBe(0);

      watchAll = true;
      const t0 = Date.now();
      const dt = await waitFor(() => new Set(peers.map((p) => p.infohash)).size >= 6, 5000);
      console.log(`sampler: 6 sampled infohashes looked up, their peers found in ${dt} ms`);
      for (let k = 0; k < 6; k++) {
        const p = peers.find((x) => x.infohash === hex(X[k]!));
        expect(p, `peer of X[${k}]`).toMatchObject({ ...peerOf(k), source: 'sample' });
        expect(p!.foundAt).toBeGreaterThanOrEqual(t0);
      }

      // Run a while longer: each node is asked again only after its interval (2 s).
      await new Promise((r) => setTimeout(r, 3500));
      const s = dht.stats().samples!;
      expect(s.newInfohashes).toBe(6);
      expect(s.malformed).toBeGreaterThanOrEqual(1);
      expect(dht.stats().lookups!.started).toBeGreaterThanOrEqual(6);
      for (const r of [r1, r2, r3]) {
        const times = r.raw.received.filter((m) => String(m.msg.q) === 'sample_infohashes').map((m) => m.at);
        expect(times.length, `${r.host} sampled`).toBeGreaterThanOrEqual(1);
        for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(1990);
      }
      const r1Times = r1.raw.received.filter((m) => String(m.msg.q) === 'sample_infohashes').map((m) => m.at);
      expect(r1Times.length).toBeGreaterThanOrEqual(2); // asked again once its interval passed
      // Malformed samples were not fed anywhere.
      expect(peers.length).toBe(6);
    } finally {
      await dht.stop();
    }
  });
});
