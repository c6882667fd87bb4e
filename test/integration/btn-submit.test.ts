import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBtn, type BtnFixture } from '../helpers/btn-fixture.js';
import { ban, IH, swarm, TID } from '../helpers/btn-rows.js';
import { gson, pbhHeaders, pbhRequest } from '../helpers/pbh-client.js';

type Obj = Record<string, unknown>;

let f: BtnFixture;
let h: Record<string, string>;

beforeAll(async () => {
  f = await startBtn({ maxBodyBytes: 256 * 1024 }, { swarmChunkRows: 100 });
  const a = f.createApp('submitter');
  h = pbhHeaders(a.appId, a.appSecret);
});
afterAll(async () => {
  await f.close();
});

const post = (path: string, body: unknown, init: { gzip?: boolean } = {}) =>
  pbhRequest(`${f.url}${path}`, { method: 'POST', headers: h, body: typeof body === 'string' ? body : gson(body), ...init });
const count = (table: string): number => f.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;

describe('submit_swarm (spec §3.2), gzip + chunked as OkHttp sends it', () => {
  it('stores every good row, drops bad ones with their reason, accepts the batch', async () => {
    const now = Date.now();
    const rows = [
      swarm(1, now, { peer_ip: '2001:4860:0:0:0:0:0:8888%eth0' }),
      swarm(2, now),
      swarm(3, now, { peer_ip: 'not-an-ip' }),
      swarm(4, now, { peer_ip: '192.168.1.4' }),
      swarm(5, now, { last_time_seen: now - 8 * 86_400_000 }),
      swarm(6, now, { to_peer_traffic: 0, from_peer_traffic: 0 }),
      swarm(7, now, { torrent_identifier: 'xyz' }),
      swarm(8, now, { peer_id: null, peer_client_name: null, peer_ip: '::ffff:8.8.4.4' }),
    ];
    const r = await post('/ping/syncSwarm', { swarms: rows });
    expect(r.status).toBe(200);
    const data = (r.json() as { data: Obj }).data;
    expect(data).toMatchObject({
      received: 8,
      inserted: 3,
      dropped: { bad_ip: 1, ip_not_public: 1, time_out_of_window: 1, no_traffic: 1, bad_torrent_identifier: 1 },
    });
    const ips = f.db.prepare('SELECT peer_ip FROM btn_swarm ORDER BY id').pluck().all();
    expect(ips).toEqual(['2001:4860::8888', '1.2.0.2', '8.8.4.4']);
  });

  it('a resent batch changes nothing; newer data for the same key updates the row in place', async () => {
    const now = Date.now();
    const rows = [swarm(100, now), swarm(101, now)];
    await post('/ping/syncSwarm', { swarms: rows });
    const before = f.db.prepare('SELECT * FROM btn_swarm ORDER BY id').all();
    const again = await post('/ping/syncSwarm', { swarms: rows });
    expect((again.json() as { data: Obj }).data).toMatchObject({ inserted: 0, updated: 0, unchanged: 2 });
    expect(f.db.prepare('SELECT * FROM btn_swarm ORDER BY id').all()).toEqual(before);
    const newer = await post('/ping/syncSwarm', { swarms: [swarm(100, now, { last_time_seen: now, to_peer_traffic: 9999 })] });
    expect((newer.json() as { data: Obj }).data).toMatchObject({ inserted: 0, updated: 1 });
    expect(f.db.prepare("SELECT to_peer_traffic FROM btn_swarm WHERE peer_ip = '1.2.0.100'").pluck().get()).toBe(9999);
    // The kept row count (the query API's unfiltered total) is exact through inserts, resends and updates.
    expect(f.db.prepare("SELECT n FROM btn_counts WHERE name = 'swarm'").pluck().get()).toBe(count('btn_swarm'));
  });

  it('a batch longer than one write (here 100 rows) is stored whole, in parts, and a resend changes nothing', async () => {
    const now = Date.now();
    const before = count('btn_swarm');
    const rows = Array.from({ length: 301 }, (_, i) => swarm(10_000 + i, now, { peer_ip: `3.4.${i >> 8}.${i & 255}` }));
    rows[280] = swarm(0, now, { peer_ip: '10.0.0.1' }); // private: dropped, in the second part
    const r = await post('/ping/syncSwarm', { swarms: rows });
    expect(r.status).toBe(200);
    expect((r.json() as { data: Obj }).data).toMatchObject({ received: 301, inserted: 300, updated: 0, unchanged: 0 });
    expect(count('btn_swarm')).toBe(before + 300);
    const again = await post('/ping/syncSwarm', { swarms: rows });
    expect((again.json() as { data: Obj }).data).toMatchObject({ received: 301, inserted: 0, unchanged: 300 });
    expect(count('btn_swarm')).toBe(before + 300);
    expect(f.db.prepare("SELECT n FROM btn_counts WHERE name = 'swarm'").pluck().get()).toBe(count('btn_swarm'));
  });

  it('an empty or shapeless batch is accepted (200) and counted', async () => {
    expect((await post('/ping/syncSwarm', { swarms: [] })).status).toBe(200);
    const r = await post('/ping/syncSwarm', { nope: 1 });
    expect(r.status).toBe(200);
    expect((r.json() as { data: Obj }).data).toMatchObject({ dropped: { bad_batch: 1 } });
  });
});

describe('submit_bans (spec §3.1)', () => {
  it('strips \\u0000, cuts peer_id to 20, keeps structured_data as JSON text, drops excluded modules, dedups a resend', async () => {
    const now = Date.now();
    const rows = [
      ban(1, now),
      ban(2, now, { structured_data: 'null' }),
      ban(3, now, { module: 'com.ghostchu.peerbanhelper.module.impl.rule.AntiVampire' }),
      ban(4, now, { ban_at: now + 2 * 3_600_000 }),
    ];
    const r = await post('/ping/syncBanHistory', { bans: rows });
    expect(r.status).toBe(200);
    expect((r.json() as { data: Obj }).data).toMatchObject({ inserted: 2, dropped: { excluded_module: 1, time_out_of_window: 1 } });
    const stored = f.db.prepare('SELECT peer_id, structured_data, description FROM btn_bans ORDER BY id').all() as Obj[];
    expect(stored[0]).toEqual({ peer_id: '-XL0012-abc', structured_data: '{"type":"progress"}', description: 'reported 0% after 1 MiB uploaded' });
    expect(stored[1]?.structured_data).toBe('{}');
    const again = await post('/ping/syncBanHistory', { bans: rows });
    expect((again.json() as { data: Obj }).data).toMatchObject({ inserted: 0, unchanged: 2 });
    expect(count('btn_bans')).toBe(2);
    expect(f.db.prepare("SELECT n FROM btn_counts WHERE name = 'bans'").pluck().get()).toBe(2);
  });
});

describe('submit_histories and the legacy abilities', () => {
  it('stores histories (port 0, torrent_is_private false) and is idempotent', async () => {
    const now = Date.now();
    const peers = [1, 2, 3].map((i) => ({
      ip_address: `9.9.9.${i}`,
      port: 0,
      peer_id: i === 3 ? null : '-TR4050-',
      client_name: 'Transmission 4.0.5',
      torrent_identifier: TID,
      torrent_is_private: false,
      torrent_size: 100,
      downloaded: 10,
      downloaded_offset: 10,
      uploaded: 20,
      uploaded_offset: 20,
      first_time_seen: now - 10_000,
      last_time_seen: now - 5000,
      peer_flag: null,
    }));
    const body = { populate_time: now, peers };
    expect((await post('/ping/histories/submit', body)).status).toBe(200);
    expect((await post('/ping/histories/submit', body)).status).toBe(200);
    expect(count('btn_histories')).toBe(3);
  });

  it('accepts legacy submit_peers (snapshot) and submit_bans (peer object, structured_data object)', async () => {
    const now = Date.now();
    const legacyPeer = {
      ip_address: 'CE67:2B6F:646A:138B:9E4F:DD47:894E:608E',
      peer_port: 12345,
      peer_id: '-BC1234-',
      client_name: 'BitComet 1.2.3.4',
      torrent_identifier: TID,
      torrent_is_private: false,
      torrent_size: 12346789765,
      downloaded: 3463465,
      rt_download_speed: 133525,
      uploaded: 2345754,
      rt_upload_speed: 234456465,
      peer_progress: 0.1245,
      downloader_progress: 1,
      peer_flag: 'u I H X E P',
    };
    const p = await post('/ping/peers/submit', { populate_time: now, peers: [legacyPeer, { ...legacyPeer, ip_address: '198.148.143.87', peer_port: 23333 }] });
    expect(p.status).toBe(200);
    expect((p.json() as { data: Obj }).data).toMatchObject({ inserted: 2 });
    expect(f.db.prepare("SELECT count(*) FROM btn_swarm WHERE downloader = '' AND peer_ip = 'ce67:2b6f:646a:138b:9e4f:dd47:894e:608e'").pluck().get()).toBe(1);
    const b = await post('/ping/bans/submit', {
      populate_time: now,
      bans: [{ btn_ban: false, ban_unique_id: 'a'.repeat(64), module: 'x.PeerIdBlacklist', rule: '-BC', peer: legacyPeer, structured_data: { k: 1 } }],
    });
    expect((b.json() as { data: Obj }).data).toMatchObject({ inserted: 1 });
    expect(f.db.prepare("SELECT structured_data FROM btn_bans WHERE module = 'x.PeerIdBlacklist'").pluck().get()).toBe('{"k":1}');
  });

  it('records client discovery from submissions', () => {
    const names = f.db.prepare("SELECT client_name || '|' || peer_id FROM btn_client_discovery ORDER BY id").pluck().all();
    expect(names).toEqual(expect.arrayContaining(['qBittorrent/4.6.5|-qB4650-', 'Xunlei 0.0.1.2|-XL0012-', 'BitComet 1.2.3.4|-BC1234-']));
  });
});

describe('bodies: gzip bombs, caps, bad encodings', () => {
  it('answers 413 after reading the whole body when the decoded size passes the cap', async () => {
    const big = gson({ swarms: Array.from({ length: 3000 }, (_, i) => swarm(i, Date.now())) });
    const r = await post('/ping/syncSwarm', big);
    expect(r.status).toBe(413);
    expect(r.json()).toEqual({ success: false, message: expect.stringContaining('larger than'), data: null });
    // The connection survived: the next request is served.
    expect((await post('/ping/syncSwarm', { swarms: [] })).status).toBe(200);
  });

  it('refuses a gzip bomb (64 MiB of spaces in 64 KiB) at the cap without inflating it', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    const r = await pbhRequest(`${f.url}/ping/syncSwarm`, { method: 'POST', headers: { ...h, 'Content-Encoding': 'gzip' }, body: bomb, gzip: false });
    expect(r.status).toBe(413);
  });

  it('answers 400 to a body that is not gzip or not JSON', async () => {
    const notGzip = await pbhRequest(`${f.url}/ping/syncSwarm`, { method: 'POST', headers: { ...h, 'Content-Encoding': 'gzip' }, body: 'plain', gzip: false });
    expect(notGzip.status).toBe(400);
    expect((await post('/ping/syncSwarm', '{"swarms": [')).status).toBe(400);
  });

  it('takes an uncompressed body too (heartbeat)', async () => {
    const r = await pbhRequest(`${f.url}/ping/heartbeat`, { method: 'POST', headers: h, body: '{"ifaddr":"0:0:0:0:0:0:0:1%lo"}', gzip: false });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ external_ip: '127.0.0.1' });
    expect(count('btn_heartbeats')).toBe(1);
    // multi_if:false heartbeats come without credentials: answered, not recorded.
    const anon = await pbhRequest(`${f.url}/ping/heartbeat`, { method: 'POST', headers: { 'User-Agent': h['User-Agent'] as string, 'Content-Type': 'application/json' }, body: '{"ifaddr":"default"}', gzip: false });
    expect(anon.status).toBe(200);
    expect(count('btn_heartbeats')).toBe(1);
  });
});

export { IH };
