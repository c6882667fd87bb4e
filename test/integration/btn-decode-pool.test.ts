import { deflateSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { DecodePool } from '../../src/btn/decode-pool.js';
import { normalizeSubmission } from '../../src/btn/submission-decode.js';
import { unpackSwarm, type PackedSwarm } from '../../src/btn/swarm-pack.js';
import { startBtn, type BtnFixture } from '../helpers/btn-fixture.js';
import { ban, swarm } from '../helpers/btn-rows.js';
import { gson, pbhHeaders, pbhRequest } from '../helpers/pbh-client.js';

type Obj = Record<string, unknown>;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function pool(): DecodePool {
  const p = new DecodePool();
  cleanups.push(() => p.close());
  return p;
}

const LIMITS = { maxBytes: 1024 * 1024, chunkRows: 1000 };

describe('BTN decode thread: bodies inflated, parsed and normalised off the event loop', () => {
  it('gives the rows, drops and discovery pairs the event loop would, swarm rows packed in parts', async () => {
    const now = Date.now();
    const body = {
      swarms: [
        swarm(1, now, { peer_ip: '2001:4860:0:0:0:0:0:8888%eth0', peer_id: '-qB4650-\u0000abc' }),
        swarm(2, now),
        swarm(3, now, { peer_ip: '192.168.1.4' }),
        swarm(4, now, { torrent_identifier: 'xyz' }),
        ...Array.from({ length: 2500 }, (_, i) => swarm(100 + i, now, { peer_ip: `9.8.${i >> 8}.${i & 255}` })),
      ],
    };
    const p = pool();
    const got = await p.decode('submit_swarm', gzipSync(gson(body)), 'gzip', now, { ...LIMITS, maxBytes: 8 * 1024 * 1024 });
    const want = normalizeSubmission('submit_swarm', JSON.parse(gson(body)), now, { chunkRows: 1000, pack: false });
    expect(got.received).toBe(2504);
    expect(got.dropped).toEqual({ ip_not_public: 1, bad_torrent_identifier: 1 });
    expect(got.dropped).toEqual(want.dropped);
    expect(got.pairs).toEqual(want.pairs);
    expect(got.swarm?.map((part) => (part as PackedSwarm).n)).toEqual([1000, 1000, 502]);
    const rows = got.swarm?.flatMap((part) => unpackSwarm(part as PackedSwarm));
    expect(rows).toEqual(want.swarm?.flat());
    expect(rows?.[0]).toMatchObject({ peerIp: '2001:4860::8888', peerId: '-qB4650-abc' });
    expect(p.status()).toMatchObject({ threads: 1, running: 1, calls: 1, inFlight: 0, threadDeaths: 0 });
  });

  it('deflate and uncompressed bodies, bans as rows', async () => {
    const now = Date.now();
    const p = pool();
    const bans = { bans: [ban(1, now), ban(2, now, { module: 'com.ghostchu.peerbanhelper.module.impl.rule.AntiVampire' })] };
    const d = await p.decode('submit_bans', deflateSync(gson(bans)), 'deflate', now, LIMITS);
    expect(d).toMatchObject({ received: 2, dropped: { excluded_module: 1 } });
    expect(d.bans?.[0]).toMatchObject({ peerIp: '5.6.7.1', peerId: '-XL0012-abc' });
    const plain = await p.decode('submit_swarm', Buffer.from(gson({ swarms: [swarm(1, now)] })), 'identity', now, LIMITS);
    expect(plain.received).toBe(1);
  });

  it('refuses what the event loop refused: too large (a gzip bomb stops at the cap), not gzip, not JSON', async () => {
    const p = pool();
    const now = Date.now();
    await expect(p.decode('submit_swarm', gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20)), 'gzip', now, LIMITS)).rejects.toMatchObject({
      name: 'BtnError',
      code: 'BTN_BODY_TOO_LARGE',
    });
    await expect(p.decode('submit_swarm', Buffer.alloc(LIMITS.maxBytes + 1, 0x20), 'identity', now, LIMITS)).rejects.toMatchObject({ code: 'BTN_BODY_TOO_LARGE' });
    await expect(p.decode('submit_swarm', Buffer.from('plain'), 'gzip', now, LIMITS)).rejects.toMatchObject({ code: 'BTN_BAD_BODY' });
    await expect(p.decode('submit_swarm', gzipSync('{"swarms": ['), 'gzip', now, LIMITS)).rejects.toMatchObject({ code: 'BTN_BAD_BODY' });
    // The thread lives on after errors.
    expect(p.status()).toMatchObject({ threadsStarted: 1, threadDeaths: 0 });
  });

  it('a thread that dies fails its calls with STORAGE_UNAVAILABLE (resend) and the next call starts it again', async () => {
    const p = pool();
    const now = Date.now();
    await p.decode('submit_swarm', gzipSync(gson({ swarms: [swarm(1, now)] })), 'gzip', now, LIMITS);
    const body = gzipSync(gson({ swarms: Array.from({ length: 20_000 }, (_, i) => swarm(i, now)) }));
    const inFlight = p.decode('submit_swarm', body, 'gzip', now, { ...LIMITS, maxBytes: 64 * 1024 * 1024 });
    const slot = (p as unknown as { slots: Array<{ worker: { terminate(): Promise<number> } }> }).slots[0];
    await slot?.worker.terminate();
    await expect(inFlight).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', message: expect.stringContaining('resending the batch is safe') });
    const again = await p.decode('submit_swarm', gzipSync(gson({ swarms: [swarm(2, now)] })), 'gzip', now, LIMITS);
    expect(again.received).toBe(1);
    expect(p.status()).toMatchObject({ threadsStarted: 2, threadDeaths: 1 });
  });
});

describe('BTN submissions over HTTP through the decode thread', () => {
  let f: BtnFixture;
  afterEach(async () => {
    await f.close();
  });

  it('stores the same rows with the thread as without it, deflate included, and counts the bodies it decoded', async () => {
    const now = Date.now();
    const rows = [swarm(1, now, { peer_ip: '0:0:0:0:0:ffff:808:404' }), swarm(2, now, { peer_ip: '10.1.1.1' }), swarm(3, now, { peer_id: 'A\u0000B' })];
    const stored: unknown[] = [];
    for (const decodeThreads of [1, 0]) {
      f = await startBtn({}, { decodeThreads });
      const a = f.createApp('d');
      const h = pbhHeaders(a.appId, a.appSecret);
      const r = await pbhRequest(`${f.url}/ping/syncSwarm`, { method: 'POST', headers: h, body: gson({ swarms: rows }) });
      expect((r.json() as { data: Obj }).data).toMatchObject({ received: 3, inserted: 2, dropped: { ip_not_public: 1 } });
      const d = await pbhRequest(`${f.url}/ping/syncSwarm`, {
        method: 'POST',
        headers: { ...h, 'Content-Encoding': 'deflate' },
        body: deflateSync(gson({ swarms: [swarm(4, now)] })),
        gzip: false,
      });
      expect((d.json() as { data: Obj }).data).toMatchObject({ received: 1, inserted: 1 });
      stored.push(f.db.prepare('SELECT peer_ip, peer_id, to_peer_traffic FROM btn_swarm ORDER BY peer_ip').all());
      expect((f.btn.status() as { decode?: { calls: number } }).decode?.calls ?? 0).toBe(decodeThreads ? 2 : 0);
      if (decodeThreads) await f.close();
    }
    expect(stored[0]).toEqual(stored[1]);
    expect(stored[0]).toEqual([
      { peer_ip: '1.2.0.3', peer_id: 'AB', to_peer_traffic: 1003 },
      { peer_ip: '1.2.0.4', peer_id: '-qB4650-abcdefghijkl', to_peer_traffic: 1004 },
      { peer_ip: '8.8.4.4', peer_id: '-qB4650-abcdefghijkl', to_peer_traffic: 1001 },
    ]);
  });

  it('answers 413 to a gzip body whose compressed size alone passes the cap, after reading it', async () => {
    f = await startBtn({ maxBodyBytes: 64 * 1024 });
    const a = f.createApp('d');
    const h = pbhHeaders(a.appId, a.appSecret);
    // Random bytes do not compress: 80 KiB of them gzipped stay over 64 KiB.
    const noise = gzipSync(Buffer.from(Array.from({ length: 80 * 1024 }, () => Math.floor(Math.random() * 256))));
    const r = await pbhRequest(`${f.url}/ping/syncSwarm`, { method: 'POST', headers: { ...h, 'Content-Encoding': 'gzip' }, body: noise, gzip: false });
    expect(r.status).toBe(413);
    expect(r.json()).toEqual({ success: false, message: expect.stringContaining('larger than 65536 bytes'), data: null });
    expect((await pbhRequest(`${f.url}/ping/syncSwarm`, { method: 'POST', headers: h, body: gson({ swarms: [] }) })).status).toBe(200);
  });
});
