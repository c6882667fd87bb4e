import { afterEach, describe, expect, it, vi } from 'vitest';
import type { KRPC, KrpcMessage, KrpcPeer } from 'bittorrent-dht';
import { KrpcResponder, type AnnounceHarvest } from '../../../src/dht/krpc-responder.js';
import { decodeSamplesResponse } from '../../../src/protocol/bep51-samples.js';
import { decodeCompactNodes, decodeCompactPeers } from '../../../src/protocol/compact.js';

interface Sent {
  kind: 'r' | 'e';
  body: Record<string, unknown> | [number, string];
  nodes?: unknown[] | null;
}

function fakeRpc() {
  const sent: Sent[] = [];
  const rpc = {
    id: Buffer.alloc(20, 0xee),
    nodes: { closest: () => [{ id: Buffer.alloc(20, 1), host: '127.0.0.9', port: 6881 }] },
    response: (_p: KrpcPeer, _q: KrpcMessage, body: Record<string, unknown>, nodes?: unknown[] | null) => sent.push({ kind: 'r', body, nodes }),
    error: (_p: KrpcPeer, _q: KrpcMessage, body: [number, string]) => sent.push({ kind: 'e', body }),
  } as unknown as KRPC;
  return { rpc, sent };
}

const q = (name: string, a: Record<string, unknown>): KrpcMessage => ({ t: Buffer.from('tt'), y: Buffer.from('q'), q: Buffer.from(name), a: { id: Buffer.alloc(20, 2), ...a } });
const from = (ip: string, port = 40000): KrpcPeer => ({ address: ip, port });
const IH = Buffer.alloc(20, 0xab);

afterEach(() => vi.useRealTimers());

describe('KrpcResponder', () => {
  it('accepts tokens of the current and previous secret only', () => {
    vi.useFakeTimers();
    const { rpc, sent } = fakeRpc();
    const harvested: AnnounceHarvest[] = [];
    const r = new KrpcResponder(rpc, (a) => harvested.push(a), { tokenRotateMs: 1000 });
    r.handle(q('get_peers', { info_hash: IH }), from('127.0.0.5'));
    const token = (sent[0]!.body as Record<string, Buffer>).token!;
    vi.advanceTimersByTime(1000); // one rotation: still valid
    r.handle(q('announce_peer', { info_hash: IH, port: 6000, token }), from('127.0.0.5'));
    expect(sent[1]!.kind).toBe('r');
    vi.advanceTimersByTime(1000); // two rotations: expired
    r.handle(q('announce_peer', { info_hash: IH, port: 6001, token }), from('127.0.0.5'));
    expect(sent[2]).toEqual({ kind: 'e', body: [203, 'bad token'] });
    expect(harvested).toEqual([{ ip: '127.0.0.5', port: 6000, infohash: IH.toString('hex'), implied: false }]);
    r.stop();
  });

  it('caps get_peers values and always includes nodes', () => {
    const { rpc, sent } = fakeRpc();
    const r = new KrpcResponder(rpc, () => {}, { maxValues: 50 });
    for (let i = 0; i < 120; i++) {
      const ip = `127.0.1.${i + 1}`;
      r.handle(q('get_peers', { info_hash: IH }), from(ip));
      const token = (sent.at(-1)!.body as Record<string, Buffer>).token!;
      r.handle(q('announce_peer', { info_hash: IH, port: 1, implied_port: 1, token }), from(ip, 7000 + i));
    }
    sent.length = 0;
    r.handle(q('get_peers', { info_hash: IH }), from('127.0.0.5'));
    const body = sent[0]!.body as Record<string, Buffer[]>;
    expect(body.values).toHaveLength(50);
    expect(new Set(body.values!.map((v) => v.toString('hex'))).size).toBe(50);
    expect(decodeCompactNodes(body.nodes as unknown as Buffer, 4).nodes).toHaveLength(1);
    expect(body.nodes6).toBeUndefined();
    expect(r.stats().storedPeers).toBe(120);
    r.stop();
  });

  it('keeps its sample for the interval it announces, while num follows what it has seen', () => {
    vi.useFakeTimers();
    const { rpc, sent } = fakeRpc();
    const r = new KrpcResponder(rpc, () => {}, { sampleIntervalSec: 60, maxSamples: 20 });
    const sample = () => {
      r.handle(q('sample_infohashes', { target: Buffer.alloc(20, 3) }), from('127.0.0.5'));
      const d = decodeSamplesResponse(sent.at(-1)!.body);
      if (!d.ok) throw new Error(d.reason);
      return d.value;
    };
    expect(sample()).toMatchObject({ num: 0, infohashes: [], intervalSec: 60 });
    for (let i = 0; i < 30; i++) r.noteInfohash(i.toString(16).padStart(40, '0'));
    const first = sample(); // empty sample is rebuilt as soon as there is something
    expect(first.infohashes).toHaveLength(20);
    expect(first.num).toBe(30);
    r.noteInfohash('f'.repeat(40));
    vi.advanceTimersByTime(30_000);
    const same = sample();
    expect(same.infohashes).toEqual(first.infohashes);
    expect(same.num).toBe(31);
    expect(same.nodes).toEqual([{ id: new Uint8Array(Buffer.alloc(20, 1)), ip: '127.0.0.9', port: 6881 }]);
    r.stop();
  });

  it('answers malformed queries with 203 and ignores a query it cannot address', () => {
    const { rpc, sent } = fakeRpc();
    const r = new KrpcResponder(rpc, () => {});
    r.handle({ ...q('ping', {}), a: { id: Buffer.alloc(3) } }, from('127.0.0.5'));
    r.handle(q('announce_peer', { info_hash: IH, token: Buffer.from('x') }), from('127.0.0.5'));
    r.handle(q('sample_infohashes', { target: Buffer.alloc(4) }), from('127.0.0.5'));
    r.handle({ ...q('ping', {}), t: undefined }, from('127.0.0.5'));
    expect(sent.map((s) => (s.body as [number, string])[0])).toEqual([203, 203, 203]);
    r.stop();
  });

  describe('BEP 32', () => {
    const V6_NODE = { id: Buffer.alloc(20, 6), host: 'fd00:cd::9', port: 7000 };
    function v6Rpc() {
      const { rpc, sent } = fakeRpc();
      (rpc as unknown as { nodes: unknown }).nodes = { closest: () => [V6_NODE] };
      return { rpc, sent };
    }
    const sibling4 = { closest: () => [{ id: Buffer.alloc(20, 1), host: '127.0.0.9', port: 6881 }], values: () => [Buffer.from([127, 0, 0, 7, 0x1a, 0xe1])] };

    it('answers with the transport family when there is no usable want, and nodes / nodes6 as want asks', () => {
      const { rpc, sent } = v6Rpc();
      const r = new KrpcResponder(rpc, () => {}, { family: 6, sibling: () => sibling4 });
      r.handle(q('find_node', { target: IH }), from('fd00:cd::5'));
      r.handle(q('find_node', { target: IH, want: [Buffer.from('n4')] }), from('fd00:cd::5'));
      r.handle(q('find_node', { target: IH, want: [Buffer.from('n4'), Buffer.from('n6')] }), from('fd00:cd::5'));
      r.handle(q('find_node', { target: IH, want: [Buffer.from('x9')] }), from('fd00:cd::5'));
      const bodies = sent.map((x) => x.body as Record<string, Buffer | undefined>);
      const v6 = (b: Buffer | undefined) => decodeCompactNodes(b!, 6).nodes.map((n) => `[${n.ip}]:${n.port}`);
      const v4 = (b: Buffer | undefined) => decodeCompactNodes(b!, 4).nodes.map((n) => `${n.ip}:${n.port}`);
      expect(bodies[0]!.nodes).toBeUndefined();
      expect(v6(bodies[0]!.nodes6)).toEqual(['[fd00:cd::9]:7000']);
      expect(bodies[0]!.nodes6).toHaveLength(38);
      expect(bodies[1]!.nodes6).toBeUndefined();
      expect(v4(bodies[1]!.nodes)).toEqual(['127.0.0.9:6881']);
      expect(v4(bodies[2]!.nodes)).toEqual(['127.0.0.9:6881']);
      expect(v6(bodies[2]!.nodes6)).toEqual(['[fd00:cd::9]:7000']);
      expect(v6(bodies[3]!.nodes6)).toEqual(['[fd00:cd::9]:7000']); // unknown flag: transport family
      r.stop();
    });

    it('leaves the other family out when there is no sibling, and stores and serves IPv6 peers (18-byte values)', () => {
      const { rpc, sent } = v6Rpc();
      const harvested: AnnounceHarvest[] = [];
      const r = new KrpcResponder(rpc, (a) => harvested.push(a), { family: 6 });
      r.handle(q('get_peers', { info_hash: IH, want: [Buffer.from('n4'), Buffer.from('n6')] }), from('fd00:cd::5'));
      const first = sent[0]!.body as Record<string, Buffer>;
      expect(first.nodes).toBeUndefined();
      expect(first.nodes6).toHaveLength(38);
      r.handle(q('announce_peer', { info_hash: IH, port: 51413, token: first.token }), from('fd00:cd::5'));
      expect(harvested).toEqual([{ ip: 'fd00:cd::5', port: 51413, infohash: IH.toString('hex'), implied: false }]);
      r.handle(q('get_peers', { info_hash: IH }), from('fd00:cd::6'));
      const values = (sent.at(-1)!.body as Record<string, Buffer[]>).values!;
      expect(values.map((v) => v.length)).toEqual([18]);
      expect(decodeCompactPeers(values).peers).toEqual([{ ip: 'fd00:cd::5', port: 51413 }]);
      r.stop();
    });

    it('adds values6 (IPv6 peers of the sibling) to an IPv4 get_peers that wants n6, and only then', () => {
      const { rpc, sent } = fakeRpc();
      const v6peer = Buffer.concat([Buffer.from('fd0000cd000000000000000000000005', 'hex'), Buffer.from([0xc8, 0xd5])]);
      const sibling6 = { closest: () => [V6_NODE], values: () => [v6peer] };
      const r = new KrpcResponder(rpc, () => {}, { family: 4, sibling: () => sibling6 });
      r.handle(q('get_peers', { info_hash: IH }), from('127.0.0.5'));
      r.handle(q('get_peers', { info_hash: IH, want: [Buffer.from('n4'), Buffer.from('n6')] }), from('127.0.0.5'));
      const [plain, both] = sent.map((x) => x.body as Record<string, Buffer | Buffer[] | undefined>);
      expect(plain!.values6).toBeUndefined();
      expect(plain!.nodes6).toBeUndefined();
      expect(decodeCompactPeers(both!.values6 as Buffer[]).peers).toEqual([{ ip: 'fd00:cd::5', port: 51413 }]);
      expect(decodeCompactNodes(both!.nodes6 as Buffer, 6).nodes).toHaveLength(1);
      expect(decodeCompactNodes(both!.nodes as Buffer, 4).nodes).toHaveLength(1);
      r.stop();
    });

    it('puts IPv6 nodes in nodes6 of a sample_infohashes reply (BEP 51 with want)', () => {
      const { rpc, sent } = v6Rpc();
      const r = new KrpcResponder(rpc, () => {}, { family: 6, sibling: () => sibling4 });
      r.handle(q('sample_infohashes', { target: IH }), from('fd00:cd::5'));
      r.handle(q('sample_infohashes', { target: IH, want: [Buffer.from('n4'), Buffer.from('n6')] }), from('fd00:cd::5'));
      const [own, both] = sent.map((x) => decodeSamplesResponse(x.body));
      if (!own?.ok || !both?.ok) throw new Error('bad sample reply');
      expect(own.value.nodes.map((n) => n.ip)).toEqual(['fd00:cd::9']);
      expect(both.value.nodes.map((n) => n.ip).sort()).toEqual(['127.0.0.9', 'fd00:cd::9']);
      r.stop();
    });
  });
});
