/** BudgetedSocket on loopback (127.0.50.x): queue bounds, deadlines, reply budget, matching. */
import dgram from 'node:dgram';
import bencode from 'bencode';
import { afterEach, describe, expect, it } from 'vitest';
import { BudgetedSocket, type BudgetedSocketOptions } from '../../../src/dht/budgeted-socket.js';
import type { KrpcError, KrpcMessage } from 'bittorrent-dht';

/** bencode 4 gives Uint8Arrays; the tests compare Buffers (an independent decoder from ours). */
function toBuffers(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map(toBuffers);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toBuffers(x)]));
  return v;
}

const sockets: Array<{ close: () => void }> = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

async function ours(options: Partial<BudgetedSocketOptions> = {}, host = '127.0.50.1'): Promise<BudgetedSocket> {
  const s = new BudgetedSocket({ maxPacketsPerSecond: 1000, minQueryIntervalPerIpMs: 0, maxPendingQueries: 100, allowDestination: (ip) => ip.startsWith('127.'), ...options });
  await new Promise<void>((r) => {
    s.once('listening', () => r());
    s.bind(0, host);
  });
  sockets.push({ close: () => s.destroy() });
  return s;
}

/** A peer that answers (or not) with a chosen reply. */
async function peer(host: string, answer: ((msg: Record<string, Buffer>, send: (m: unknown) => void) => void) | null) {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, host, () => r()));
  sockets.push({ close: () => sock.close() });
  const got: Array<Record<string, Buffer>> = [];
  sock.on('message', (buf, rinfo) => {
    const msg = toBuffers(bencode.decode(buf)) as Record<string, Buffer>;
    got.push(msg);
    answer?.(msg, (m) => sock.send(bencode.encode(m), rinfo.port, rinfo.address));
  });
  return { host, port: sock.address().port, got, sock };
}

function query(s: BudgetedSocket, to: { host: string; port: number; id?: Buffer }, q = 'ping'): Promise<{ err: KrpcError | null; res: KrpcMessage | null }> {
  return new Promise((resolve) => s.query(to, { q, a: { id: Buffer.alloc(20, 1) } }, (err, res) => resolve({ err, res })));
}

describe('BudgetedSocket', () => {
  it('matches replies by transaction id and from the queried IP only; checks the node id', async () => {
    const id = Buffer.alloc(20, 5);
    const p = await peer('127.0.50.2', (m, send) => send({ t: m.t, y: 'r', r: { id } }));
    const s = await ours();
    const ok = await query(s, p);
    expect(ok.err).toBeNull();
    expect((ok.res!.r!.id as Buffer).equals(id)).toBe(true);
    const wrong = await query(s, { ...p, id: Buffer.alloc(20, 6) });
    expect(wrong.err!.code).toBe('EUNEXPECTEDNODE');

    // A spoofed reply (right tid, other IP) is not taken; the real one still is.
    const spoofer = await peer('127.0.50.3', null);
    const slow = await peer('127.0.50.4', (m, send) => {
      spoofer.sock.send(bencode.encode({ t: m.t, y: 'r', r: { id: Buffer.alloc(20, 7) } }), s.address().port, '127.0.50.1');
      setTimeout(() => send({ t: m.t, y: 'r', r: { id } }), 50);
    });
    const res = await query(s, slow);
    expect((res.res!.r!.id as Buffer).equals(id)).toBe(true);
    expect(s.stats().unexpectedReplies).toBe(1);
    expect(s.inflight).toBe(0);
  });

  it('times a silent peer out and hands KRPC errors back with their code', async () => {
    const silent = await peer('127.0.50.5', null);
    const erring = await peer('127.0.50.6', (m, send) => send({ t: m.t, y: 'e', e: [204, 'Method Unknown'] }));
    const s = await ours({ queryTimeoutMs: 300 });
    const t0 = Date.now();
    const [a, b] = await Promise.all([query(s, silent), query(s, erring, 'sample_infohashes')]);
    expect(a.err!.code).toBe('ETIMEDOUT');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(b.err!.code).toBe(204);
    expect(b.err!.message).toBe('204 Method Unknown');
    expect(s.stats()).toMatchObject({ timeouts: 1, errorsReceived: 1, awaitingReply: 0 });
  });

  it('bounds its queue (EQUEUEFULL) and the wait in it (EQUEUETIMEOUT)', async () => {
    const silent = await peer('127.0.50.7', null);
    const s = await ours({ maxPacketsPerSecond: 2, burst: 1, maxPendingQueries: 3, maxQueueWaitMs: 300, queryTimeoutMs: 200 });
    const results = await Promise.all(Array.from({ length: 10 }, () => query(s, silent)));
    const codes = results.map((r) => r.err?.code);
    expect(codes.filter((c) => c === 'ETIMEDOUT')).toHaveLength(1); // the one token of the burst
    expect(codes.filter((c) => c === 'EQUEUEFULL')).toHaveLength(6);
    expect(codes.filter((c) => c === 'EQUEUETIMEOUT')).toHaveLength(3);
    expect(s.stats()).toMatchObject({ queueHighWater: 3, droppedQueueFull: 6, droppedQueueTimeout: 3, queued: 0, packetsOut: 1 });
    expect(silent.got).toHaveLength(1);
  });

  it('drops replies beyond the packet budget instead of queueing them', async () => {
    const s = await ours({ maxPacketsPerSecond: 5, burst: 2 });
    s.on('query', (q: KrpcMessage, from) => s.response(from, q, { id: Buffer.alloc(20, 3) }));
    const client = await peer('127.0.50.8', null);
    for (let i = 0; i < 50; i++) {
      client.sock.send(bencode.encode({ t: Buffer.from([0, i]), y: 'q', q: 'ping', a: { id: Buffer.alloc(20, 4) } }), s.address().port, '127.0.50.1');
    }
    await new Promise((r) => setTimeout(r, 300));
    const st = s.stats();
    expect(st.queriesReceived).toBe(50);
    expect(st.repliesSent).toBeLessThanOrEqual(2 + 2);
    expect(st.droppedReplyBudget).toBe(50 - st.repliesSent);
    expect(client.got.length).toBe(st.repliesSent);
  });

  it('answers other nodes while a backlog of its own queries waits for budget (queries leave the reply reserve)', async () => {
    // 100 packets/s, burst 20 (reserve 5): 300 queries to a silent peer keep the queue full for ~3 s.
    const s = await ours({ maxPacketsPerSecond: 100, burst: 20, maxPendingQueries: 400, queryTimeoutMs: 100, maxQueueWaitMs: 10_000 });
    s.on('query', (q: KrpcMessage, from) => s.response(from, q, { id: Buffer.alloc(20, 3) }));
    const silent = await peer('127.0.50.11', null);
    const backlog = Array.from({ length: 300 }, () => query(s, silent));
    const client = await peer('127.0.50.12', null);
    // 20 pings, one every 50 ms (20/s, a fifth of the budget), all while the backlog waits.
    for (let i = 0; i < 20; i++) {
      client.sock.send(bencode.encode({ t: Buffer.from([1, i]), y: 'q', q: 'ping', a: { id: Buffer.alloc(20, 4) } }), s.address().port, '127.0.50.1');
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 100));
    const mid = s.stats();
    expect(mid.queued).toBeGreaterThan(0); // the backlog was still waiting throughout
    expect(mid.queriesReceived).toBe(20);
    expect(mid.droppedReplyBudget).toBe(0);
    expect(client.got).toHaveLength(20);
    // Queries still use the rest of the budget: ~100/s less the replies over the ~1.1 s.
    expect(mid.queriesSent).toBeGreaterThan(60);
    await Promise.all(backlog);
  });

  it('refuses destinations outside the policy and of the other family, resolves host names, survives garbage', async () => {
    const p = await peer('127.0.0.1', (m, send) => send({ t: m.t, y: 'r', r: { id: Buffer.alloc(20, 1) } }));
    const s = await ours({ allowDestination: (ip) => ip !== '127.0.50.99' && ip.startsWith('127.') });
    expect((await query(s, { host: '127.0.50.99', port: 9 })).err!.code).toBe('EDESTINATION');
    expect((await query(s, { host: '::1', port: 9 })).err!.code).toBe('EFAMILY');
    expect(s.stats().droppedOtherFamily).toBe(1);
    expect((await query(s, { host: 'localhost', port: p.port })).err).toBeNull();
    for (const junk of ['', 'i5e', 'd1:y1:ze', 'd1:y1:r1:t1:xe', 'l'.repeat(100)]) p.sock.send(Buffer.from(junk), s.address().port, '127.0.50.1');
    await new Promise((r) => setTimeout(r, 100));
    expect(s.stats().decodeErrors).toBeGreaterThanOrEqual(4);
    expect(s.stats().droppedDestination).toBe(1);
  });

  it('keeps a throwing layer above from escaping the socket handler', async () => {
    const s = await ours();
    const warnings: unknown[] = [];
    s.on('warning', (w) => warnings.push(w));
    s.on('query', () => {
      throw new Error('bug above');
    });
    const client = await peer('127.0.50.9', null);
    client.sock.send(bencode.encode({ t: 'aa', y: 'q', q: 'ping', a: { id: Buffer.alloc(20) } }), s.address().port, '127.0.50.1');
    await new Promise((r) => setTimeout(r, 100));
    expect(s.stats().handlerErrors).toBe(1);
    expect(warnings).toHaveLength(1);
  });
});
