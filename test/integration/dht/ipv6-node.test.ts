import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { DhtNode } from '../../../src/dht/dht-node.js';
import { decodeCompactNodes, decodeCompactPeers, encodeCompactNodes, encodeCompactPeer } from '../../../src/protocol/compact.js';
import { silentLogger } from '../../../src/util/logger.js';
import { loopbackOnly, RawKrpc, waitFor } from './private-dht.js';

/** BEP 32 over real UDP: an IPv6 node on ::1 beside an IPv4 node on 127.0.73.x (loopback only). */
const closers: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function node(host: string, family: 4 | 6): DhtNode {
  const n = new DhtNode(
    { logger: silentLogger() },
    { host, port: 0, family, bootstrap: [], maxPacketsPerSecond: 1000, minQueryIntervalPerIpMs: 0, maxPendingQueries: 1024, queryTimeoutMs: 300, allowDestination: loopbackOnly },
  );
  closers.push(() => n.stop());
  return n;
}

async function raw(host: string, family: 4 | 6): Promise<{ k: RawKrpc; port: number; id: Buffer }> {
  const k = new RawKrpc(family);
  const { port } = await k.bind(host);
  closers.push(() => k.close());
  return { k, port, id: randomBytes(20) };
}

const want = (...f: string[]): Buffer[] => f.map((x) => Buffer.from(x));

describe('IPv6 DHT node (BEP 32)', () => {
  it('binds udp6 on ::1 and answers find_node with nodes6 from its own table, nodes from its IPv4 sibling', async () => {
    const v4 = node('127.0.73.1', 4);
    const v6 = node('::1', 6);
    DhtNode.pair(v4, v6);
    await v4.start([], { populate: false });
    await v6.start([], { populate: false });
    expect(v6.address().address).toBe('::1');
    const c6 = await raw('::1', 6);
    const c4 = await raw('127.0.73.2', 4);
    // A ping from each puts the sender into the table of its family's node.
    await c6.k.query('::1', v6.address().port, 'ping', { id: c6.id });
    await c4.k.query('127.0.73.1', v4.address().port, 'ping', { id: c4.id });
    await waitFor(() => v6.nodeCount() === 1 && v4.nodeCount() === 1, 2000);

    const own = (await c6.k.query('::1', v6.address().port, 'find_node', { id: c6.id, target: randomBytes(20) })).msg.r as Record<string, Buffer>;
    expect(own.nodes).toBeUndefined();
    expect(decodeCompactNodes(own.nodes6!, 6).nodes.map((n) => `[${n.ip}]:${n.port}`)).toEqual([`[::1]:${c6.port}`]);

    const both = (await c6.k.query('::1', v6.address().port, 'find_node', { id: c6.id, target: randomBytes(20), want: want('n4', 'n6') })).msg.r as Record<string, Buffer>;
    expect(decodeCompactNodes(both.nodes!, 4).nodes.map((n) => `${n.ip}:${n.port}`)).toEqual([`127.0.73.2:${c4.port}`]);
    expect(decodeCompactNodes(both.nodes6!, 6).nodes).toHaveLength(1);

    const onlyV6OverV4 = (await c4.k.query('127.0.73.1', v4.address().port, 'find_node', { id: c4.id, target: randomBytes(20), want: want('n6') })).msg.r as Record<string, Buffer>;
    expect(onlyV6OverV4.nodes).toBeUndefined();
    expect(decodeCompactNodes(onlyV6OverV4.nodes6!, 6).nodes[0]!.port).toBe(c6.port);
    // The IPv4 socket refuses IPv6 destinations and the reverse (counted, never sent).
    await expect(v4.query({ host: '::1', port: c6.port }, { q: 'ping' })).rejects.toMatchObject({ code: 'EFAMILY' });
    await expect(v6.query({ host: '127.0.73.2', port: c4.port }, { q: 'ping' })).rejects.toMatchObject({ code: 'EFAMILY' });
    expect(v4.stats().socket.droppedOtherFamily).toBe(1);
  });

  it('looks up over IPv6: asks want n4+n6, follows nodes6, reports values (18-byte) and values6, and hands nodes to the IPv4 sibling', async () => {
    const v4 = node('127.0.73.11', 4);
    const v6 = node('::1', 6);
    DhtNode.pair(v4, v6);
    await v4.start([], { populate: false });
    await v6.start([], { populate: false });
    const infohash = randomBytes(20);
    const far = await raw('::1', 6); // reached only through nodes6
    const near = await raw('::1', 6);
    const wants: string[] = [];
    far.k.onQuery = (m, reply) => {
      const a = m.msg.a as Record<string, Buffer[]>;
      wants.push((a.want ?? []).map(String).join(','));
      reply({ id: far.id, token: Buffer.from('tk'), values: [encodeCompactPeer('fd00:cd::20', 51413)], values6: [encodeCompactPeer('fd00:cd::21', 6881)] });
    };
    near.k.onQuery = (m, reply) => {
      const a = m.msg.a as Record<string, Buffer[]>;
      wants.push((a.want ?? []).map(String).join(','));
      reply({
        id: near.id,
        token: Buffer.from('tk'),
        nodes6: encodeCompactNodes([{ id: far.id, ip: '::1', port: far.port }], 6),
        nodes: encodeCompactNodes([{ id: Buffer.alloc(20, 0x44), ip: '127.0.73.44', port: 4444 }], 4),
      });
    };
    v6.addNodes([{ host: '::1', port: near.port, id: near.id }]);
    const found: string[] = [];
    const result = await v6.getPeers(infohash.toString('hex'), (ip, port) => found.push(`[${ip}]:${port}`), { timeoutMs: 5000 });
    expect(result.responded).toBe(2);
    expect(found.sort()).toEqual(['[fd00:cd::20]:51413', '[fd00:cd::21]:6881']);
    expect(wants).toEqual(['n4,n6', 'n4,n6']);
    // The IPv4 node of the reply went to the IPv4 table, not the IPv6 one.
    expect(v4.routingNodes().map((n) => `${n.host}:${n.port}`)).toEqual(['127.0.73.44:4444']);
    expect(v6.routingNodes().every((n) => n.host === '::1')).toBe(true);
  });

  it('an unpaired IPv6 node asks want n6 only; announces over IPv6 are served back as 18-byte values', async () => {
    const v6 = node('::1', 6);
    await v6.start([], { populate: false });
    const seen: string[] = [];
    const other = await raw('::1', 6);
    other.k.onQuery = (m, reply) => {
      seen.push(((m.msg.a as Record<string, Buffer[]>).want ?? []).map(String).join(','));
      reply({ id: other.id });
    };
    v6.addNodes([{ host: '::1', port: other.port, id: other.id }]);
    await v6.getPeers(randomBytes(20).toString('hex'), () => {}, { timeoutMs: 3000 });
    expect(seen).toEqual(['n6']);

    const ih = randomBytes(20);
    const announced: string[] = [];
    v6.on('peer', (p: { ip: string; port: number }) => announced.push(`[${p.ip}]:${p.port}`));
    const gp = (await other.k.query('::1', v6.address().port, 'get_peers', { id: other.id, info_hash: ih })).msg.r as Record<string, Buffer>;
    await other.k.query('::1', v6.address().port, 'announce_peer', { id: other.id, info_hash: ih, port: 6999, token: gp.token });
    expect(announced).toEqual(['[::1]:6999']);
    const again = (await other.k.query('::1', v6.address().port, 'get_peers', { id: other.id, info_hash: ih })).msg.r as Record<string, Buffer[]>;
    expect(again.values!.map((v) => v.length)).toEqual([18]);
    expect(decodeCompactPeers(again.values!).peers).toEqual([{ ip: '::1', port: 6999 }]);
  });
});
