/**
 * (c) Our node as a compliant responder, checked with raw KRPC over a dgram socket: ping, find_node,
 * get_peers (tokens bound to the querier's IP), announce_peer (port, implied_port, bad token),
 * sample_infohashes (BEP 51, byte-exact) and unknown methods (204).
 */
import { randomBytes } from 'node:crypto';
import bencode from 'bencode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiscoveredPeer } from '../../../src/model/peer.js';
import { decodeCompactNodes, decodeCompactPeers } from '../../../src/protocol/compact.js';
import { decodeSamplesPacket } from '../../../src/protocol/bep51-samples.js';
import { DhtNode } from '../../../src/dht/dht-node.js';
import { silentLogger } from '../../../src/util/logger.js';
import { loopbackOnly, RawKrpc, waitFor } from './private-dht.js';

const IH1 = Buffer.from('c1'.repeat(20), 'hex');
const IH2 = Buffer.from('c2'.repeat(20), 'hex');
const IH3 = Buffer.from('c3'.repeat(20), 'hex');

let node: DhtNode;
let host: string;
let port: number;
let client: RawKrpc;
let other: RawKrpc;
const clientId = randomBytes(20);
const peers: DiscoveredPeer[] = [];

beforeAll(async () => {
  node = new DhtNode(
    { logger: silentLogger() },
    {
      host: '127.0.11.1', port: 0, bootstrap: [], maxPacketsPerSecond: 1000, minQueryIntervalPerIpMs: 0,
      maxPendingQueries: 64, allowDestination: loopbackOnly, sampleIntervalSec: 1,
    },
  );
  node.on('peer', (p: DiscoveredPeer) => peers.push(p));
  await node.start();
  ({ address: host, port } = node.address());
  client = new RawKrpc();
  await client.bind('127.0.11.2');
  other = new RawKrpc();
  await other.bind('127.0.11.3');
});

afterAll(async () => {
  await node.stop();
  await client.close();
  await other.close();
});

function r(m: { msg: Record<string, unknown> }): Record<string, Buffer | number | Buffer[]> {
  expect(String(m.msg.y)).toBe('r');
  return m.msg.r as Record<string, Buffer | number | Buffer[]>;
}

function e(m: { msg: Record<string, unknown> }): [number, string] {
  expect(String(m.msg.y)).toBe('e');
  const list = m.msg.e as [number, Buffer];
  return [list[0], list[1].toString()];
}

describe('KRPC responder (c)', () => {
  it('answers ping with its id', async () => {
    const res = r(await client.query(host, port, 'ping', { id: clientId }));
    expect((res.id as Buffer).equals(node.nodeId)).toBe(true);
  });

  it('answers find_node with compact nodes from its table', async () => {
    // The ping above put the client in our table.
    await waitFor(() => node.nodeCount() >= 1, 1000);
    const res = r(await client.query(host, port, 'find_node', { id: randomBytes(20), target: randomBytes(20) }));
    const { nodes, malformed } = decodeCompactNodes(res.nodes as Buffer, 4);
    expect(malformed).toBe(0);
    expect(nodes.map((n) => `${n.ip}:${n.port}`)).toContain(`127.0.11.2:${client.socket.address().port}`);
  });

  it('answers get_peers with a token and nodes; announce_peer with that token stores the peer', async () => {
    const gp = r(await client.query(host, port, 'get_peers', { id: clientId, info_hash: IH1 }));
    const token = gp.token as Buffer;
    expect(Buffer.isBuffer(token) && token.length > 0).toBe(true);
    expect(gp.values).toBeUndefined();
    expect(Buffer.isBuffer(gp.nodes)).toBe(true);

    // A token is bound to the IP it was given to.
    const stolen = e(await other.query(host, port, 'announce_peer', { id: randomBytes(20), info_hash: IH1, port: 4444, token }));
    expect(stolen[0]).toBe(203);

    const ok = r(await client.query(host, port, 'announce_peer', { id: clientId, info_hash: IH1, port: 5555, token }));
    expect((ok.id as Buffer).equals(node.nodeId)).toBe(true);
    const again = r(await client.query(host, port, 'get_peers', { id: clientId, info_hash: IH1 }));
    expect(decodeCompactPeers(again.values as Buffer[]).peers).toEqual([{ ip: '127.0.11.2', port: 5555 }]);

    // implied_port=1: the UDP source port wins over `port`.
    r(await client.query(host, port, 'announce_peer', { id: clientId, info_hash: IH2, port: 9, implied_port: 1, token: again.token }));
    await waitFor(() => peers.length >= 2, 1000);
    expect(peers[0]).toMatchObject({ ip: '127.0.11.2', port: 5555, infohash: IH1.toString('hex'), source: 'announce' });
    expect(peers[1]).toMatchObject({ ip: '127.0.11.2', port: client.socket.address().port, infohash: IH2.toString('hex'), source: 'announce' });
  });

  it('rejects a bad token, a bad port and missing arguments with 203, unknown methods with 204', async () => {
    expect(e(await client.query(host, port, 'announce_peer', { id: clientId, info_hash: IH1, port: 1, token: Buffer.from('nope') }))).toEqual([203, 'bad token']);
    const gp = r(await client.query(host, port, 'get_peers', { id: clientId, info_hash: IH1 }));
    expect(e(await client.query(host, port, 'announce_peer', { id: clientId, info_hash: IH1, port: 0, token: gp.token }))[0]).toBe(203);
    expect(e(await client.query(host, port, 'get_peers', { id: clientId }))[0]).toBe(203);
    expect(e(await client.query(host, port, 'find_node', { id: clientId }))[0]).toBe(203);
    expect(e(await client.query(host, port, 'vote', { id: clientId }))).toEqual([204, 'Method Unknown']);
    expect(node.stats().responder.errors.badToken).toBe(2); // the stolen token and this one
  });

  it('answers sample_infohashes (BEP 51): byte-exact packet, then samples/num/interval', async () => {
    // A fresh node that has seen exactly one infohash gives a fully predictable reply.
    const solo = new DhtNode(
      { logger: silentLogger() },
      { host: '127.0.11.4', port: 0, bootstrap: [], maxPacketsPerSecond: 1000, minQueryIntervalPerIpMs: 0, maxPendingQueries: 64, allowDestination: loopbackOnly, sampleIntervalSec: 600 },
    );
    await solo.start();
    try {
      const addr = solo.address();
      const probe = new RawKrpc();
      await probe.bind('127.0.11.5');
      // A read-only style querier: use an id equal to the node's own so it is not added to the table.
      await probe.query(addr.address, addr.port, 'get_peers', { id: solo.nodeId, info_hash: IH3 });
      const m = await probe.query(addr.address, addr.port, 'sample_infohashes', { id: solo.nodeId, target: randomBytes(20) });
      await probe.close();
      const t = m.msg.t as Buffer;
      const expected = Buffer.concat([
        Buffer.from('d1:rd2:id20:'), solo.nodeId, Buffer.from('8:intervali600e5:nodes0:3:numi1e7:samples20:'), IH3,
        Buffer.from('e1:t2:'), t, Buffer.from('1:y1:re'),
      ]);
      expect(m.raw.toString('hex')).toBe(expected.toString('hex'));
      const decoded = decodeSamplesPacket(m.raw);
      expect(decoded.ok && decoded.value).toMatchObject({ intervalSec: 600, num: 1, infohashes: [IH3.toString('hex')] });
    } finally {
      await solo.stop();
    }

    // The main node has seen IH1 and IH2 (get_peers, announces); its interval is 1 s.
    const m = await client.query(host, port, 'sample_infohashes', { id: clientId, target: randomBytes(20) });
    const d = decodeSamplesPacket(m.raw);
    if (!d.ok) throw new Error(d.reason);
    expect(d.value.intervalSec).toBe(1);
    expect(d.value.num).toBe(2);
    expect([...d.value.infohashes].sort()).toEqual([IH1.toString('hex'), IH2.toString('hex')]);
    const rawSamples = (bencode.decode(m.raw) as { r: { samples: Uint8Array } }).r.samples;
    expect(rawSamples.length).toBe(40);
    expect(Buffer.from(rawSamples).toString('hex')).toBe(d.value.infohashes.join(''));
    expect(d.value.nodes.map((n) => n.ip)).toContain('127.0.11.2');
    expect(node.stats().responder.answered.sample_infohashes).toBe(1);
  });
});
