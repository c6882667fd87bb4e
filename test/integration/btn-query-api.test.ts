import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBtn, type BtnFixture } from '../helpers/btn-fixture.js';
import { ban, IH, swarm, TID } from '../helpers/btn-rows.js';
import { gson, pbhHeaders, pbhRequest } from '../helpers/pbh-client.js';

type Obj = Record<string, unknown>;
interface StdResp<T = unknown> {
  success: boolean;
  message: string | null;
  data: T;
}
interface SparklePage<T = Obj> {
  page: number;
  size: number;
  total: number;
  results: T[];
}

const ADMIN = 'admin-token-0123456789abcdef';
const ALICE = 'alice-token-0123456789abcdef';
let f: BtnFixture;

beforeAll(async () => {
  f = await startBtn({
    users: [
      { name: 'admin', token: ADMIN, role: 'admin' },
      { name: 'alice', token: ALICE, maxApps: 2 },
    ],
  });
  const a = f.createApp('submitter');
  const h = pbhHeaders(a.appId, a.appSecret);
  const now = Date.now();
  const swarms = Array.from({ length: 25 }, (_, i) =>
    swarm(i, now, i % 5 === 0 ? { peer_client_name: 'BitComet 2.07', peer_id: '-BC0207-xxxxxxxxxxxx', to_peer_traffic: 5_000_000 } : {}),
  );
  await pbhRequest(`${f.url}/ping/syncSwarm`, { method: 'POST', headers: h, body: gson({ swarms }) });
  await pbhRequest(`${f.url}/ping/syncBanHistory`, { method: 'POST', headers: h, body: gson({ bans: [ban(1, now), ban(2, now, { module: 'x.PeerIdBlacklist' })] }) });
  f.captures.insertMany(
    [
      { foundAt: now, ip: '1.2.0.3', port: 6881, infohash: IH, filters: ['x'], report: { date: now, totalPiecesInTorrent: 10, hasPieces: 10, hasTotal: true, clientName: 'Deluge 2.1.1', hostIdentifier: '' } },
    ],
    1,
  );
});
afterAll(async () => {
  await f.close();
});

async function api<T = unknown>(method: string, path: string, token: string | undefined = ADMIN, body?: unknown): Promise<{ status: number; body: StdResp<T> }> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(`${f.url}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : undefined) as StdResp<T> };
}

describe('login', () => {
  it('answers 403 in the seed\'s shape without a valid token; /api/torrent/hash needs none', async () => {
    for (const token of ['', 'wrong-token-0123456789']) {
      const r = await api('GET', '/api/snapshot', token);
      expect(r.status).toBe(403);
      expect(r.body).toEqual({ success: false, message: expect.any(String), data: null });
    }
    const t = await api('GET', `/api/torrent/hash?hash=${IH.toUpperCase()}`, '');
    expect(t).toEqual({ status: 200, body: { success: true, message: null, data: { torrentIdentifier: TID } } });
    expect((await api('GET', '/api/torrent/hash?hash=xyz', '')).status).toBe(400);
  });
});

describe('GET /api/snapshot (seed page 003)', () => {
  it('has the seed\'s exact shape', async () => {
    const r = await api<SparklePage>('GET', '/api/snapshot?page=0&pageSize=10');
    expect(r.status).toBe(200);
    expect(Object.keys(r.body)).toEqual(['success', 'message', 'data']);
    expect(r.body.success).toBe(true);
    expect(r.body.message).toBeNull();
    expect(Object.keys(r.body.data)).toEqual(['page', 'size', 'total', 'results']);
    expect(r.body.data).toMatchObject({ page: 0, size: 10, total: 25 });
    expect(r.body.data.results).toHaveLength(10);
    const item = r.body.data.results[0] as Obj;
    expect(Object.keys(item)).toEqual([
      'id', 'appId', 'submitId', 'peerIp', 'peerPort', 'peerId', 'peerClientName', 'torrent', 'fromPeerTraffic',
      'fromPeerTrafficSpeed', 'toPeerTraffic', 'toPeerTrafficSpeed', 'peerProgress', 'downloaderProgress', 'flags',
    ]);
    expect(Object.keys(item.torrent as Obj)).toEqual(['id', 'identifier', 'size', 'privateTorrent']);
    expect(item).toMatchObject({ peerIp: '1.2.0.24', peerPort: 6881, torrent: { identifier: TID, size: 702869834, privateTorrent: false }, flags: 'D ? I E' });
    // Newest first, 0-based pages that do not overlap.
    const p1 = await api<SparklePage>('GET', '/api/snapshot?page=1&pageSize=10');
    expect(p1.body.data.results.map((x) => x.id)).toEqual(r.body.data.results.map((x) => (x.id as number) - 10));
    const p2 = await api<SparklePage>('GET', '/api/snapshot?page=2&pageSize=10');
    expect(p2.body.data.results).toHaveLength(5);
    expect((await api<SparklePage>('GET', '/api/snapshot')).body.data).toMatchObject({ page: 0, size: 100 });
  });

  it('refuses pageSize over 3000 and negative pages with 400 in the seed\'s error shape', async () => {
    expect((await api('GET', '/api/snapshot?page=0&pageSize=3000')).status).toBe(200);
    for (const q of ['page=0&pageSize=3001', 'page=-1&pageSize=10', 'page=x', 'pageSize=0']) {
      const r = await api('GET', `/api/snapshot?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body).toEqual({ success: false, message: expect.any(String), data: null });
    }
    expect((await api('GET', '/api/snapshot?pageSize=3001')).body.message).toContain('page size too large');
  });
});

describe('query endpoints', () => {
  it('POST /api/snapshot/query filters with compare methods, orConnector, sort', async () => {
    const q = async (body: Obj): Promise<SparklePage> => {
      const r = await api<SparklePage>('POST', '/api/snapshot/query', ADMIN, { page: 0, pageSize: 100, ...body });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body.data;
    };
    expect((await q({ peerClientName: 'BitComet', peerClientNameCompareMethod: 'STARTS_WITH' })).total).toBe(5);
    expect((await q({ peerClientName: 'BitComet', peerClientNameCompareMethod: 'NOT_STARTS_WITH' })).total).toBe(20);
    expect((await q({ peerId: '-qB', peerIdCompareMethod: 'CONTAINS' })).total).toBe(20);
    expect((await q({ toPeerTraffic: 1_000_000, toPeerTrafficCompareMethod: 'GREATER_THAN' })).total).toBe(5);
    expect((await q({ peerIp: '1.2.0.1', peerIpCompareMethod: 'EQUALS', peerPort: 6881 })).total).toBe(1);
    expect((await q({ peerIp: '1.2.0.1', peerClientName: 'BitComet 2.07', orConnector: true })).total).toBe(6);
    expect((await q({ torrentIdentifier: TID })).total).toBe(25);
    expect((await q({ timeFrom: Date.now() + 60_000 })).total).toBe(0);
    const sorted = await q({ sortBy: ['toPeerTraffic'], sortOrder: 'ASC', pageSize: 3 });
    expect(sorted.results.map((r) => r.toPeerTraffic)).toEqual([1001, 1002, 1003]);
    const bad = await api('POST', '/api/snapshot/query', ADMIN, { page: 0, pageSize: 10, peerIp: 'x', peerIpCompareMethod: 'LESS_THAN' });
    expect(bad.status).toBe(400);
    expect((await api('POST', '/api/snapshot/query', ADMIN, { page: 0, pageSize: 5000 })).status).toBe(400);
  });

  it('ban history lists the snapshot fields plus btnBan, module, rule, banUniqueId, structuredData (text)', async () => {
    const r = await api<SparklePage>('GET', '/api/banhistory?page=0&pageSize=10');
    expect(r.body.data.total).toBe(2);
    expect(r.body.data.results[0]).toMatchObject({ btnBan: false, module: 'x.PeerIdBlacklist', rule: 'progress mismatch', banUniqueId: null, structuredData: '{"type":"progress"}' });
    const q = await api<SparklePage>('POST', '/api/banhistory/query', ADMIN, { page: 0, pageSize: 10, module: 'ProgressCheatBlocker', moduleCompareMethod: 'ENDS_WITH' });
    expect(q.body.data.total).toBe(1);
  });

  it('client discovery comes from submissions and from the daemon\'s own captures', async () => {
    const r = await api<SparklePage<{ hash: number; clientName: string; peerId: string; foundAt: number; source: string }>>('GET', '/api/clientdiscovery?page=0&pageSize=100');
    const names = r.body.data.results.map((x) => `${x.clientName}|${x.peerId}|${x.source}`);
    expect(names).toEqual(expect.arrayContaining(['qBittorrent/4.6.5|-qB4650-|btn', 'BitComet 2.07|-BC0207-|btn', 'Xunlei 0.0.1.2|-XL0012-|btn', 'Deluge 2.1.1||capture']));
    expect(r.body.data.results.every((x) => typeof x.hash === 'number' && typeof x.foundAt === 'number')).toBe(true);
    const q = await api<SparklePage>('POST', '/api/clientdiscovery/query', ADMIN, { page: 0, pageSize: 10, peerClientName: 'Deluge', peerClientNameCompareMethod: 'STARTS_WITH' });
    expect(q.body.data.total).toBe(1);
  });

  it('one peer, all evidence: /api/peer by IP and by infohash shows submissions and captures together', async () => {
    const byIp = await api<Obj & { swarms: { records: Obj[] }; captures: { records: Obj[] } }>('GET', '/api/peer?ip=1.2.0.3');
    expect(byIp.status).toBe(200);
    expect(byIp.body.data.swarms.records).toHaveLength(1);
    expect(byIp.body.data.captures.records[0]).toMatchObject({ ip: '1.2.0.3', clientName: 'Deluge 2.1.1', torrent_identifier: TID });
    const byIh = await api<{ torrentIdentifier: string; swarms: Obj[]; bans: Obj[]; captures: Obj[]; counts: Obj }>('GET', `/api/peer?infohash=${IH}`);
    expect(byIh.body.data.torrentIdentifier).toBe(TID);
    expect(byIh.body.data.swarms).toHaveLength(25);
    expect(byIh.body.data.bans).toHaveLength(2);
    expect(byIh.body.data.captures).toHaveLength(1);
    expect(byIh.body.data.counts).toMatchObject({ bans: 2, swarms: 25, torrents: 1 });
    expect((await api('GET', '/api/peer')).status).toBe(400);
  });
});

describe('user applications and users', () => {
  it('creates, lists, gets, edits, resets the secret of and deletes an app; the secret works against /ping/config', async () => {
    const created = await api<Obj>('PUT', '/api/userapp', ALICE, { comment: 'my box' });
    expect(created.status).toBe(200);
    expect(Object.keys(created.body.data)).toEqual(['id', 'appId', 'appSecret', 'comment', 'createdAt', 'user']);
    const { appId, appSecret } = created.body.data as { appId: string; appSecret: string };
    expect((await pbhRequest(`${f.url}/ping/config`, { headers: pbhHeaders(appId, appSecret) })).status).toBe(200);
    const list = await api<Obj[]>('GET', '/api/userapp', ALICE);
    expect(list.body.data.map((a) => a.appId)).toEqual([appId]);
    expect(Object.keys(list.body.data[0] as Obj)).toEqual(['id', 'appId', 'comment', 'createdAt', 'user', 'bannedAt', 'lastAccessAt', 'bannedReason']);
    expect((list.body.data[0] as { user: Obj }).user).toMatchObject({ nickname: 'alice' });
    expect((await api('PATCH', `/api/userapp/${appId}`, ALICE, { comment: 'renamed' })).body.data).toMatchObject({ comment: 'renamed' });
    const reset = await api<{ appSecret: string }>('POST', `/api/userapp/${appId}/resetAppSecret`, ALICE);
    expect(reset.body.data.appSecret).not.toBe(appSecret);
    expect((await pbhRequest(`${f.url}/ping/config`, { headers: pbhHeaders(appId, appSecret) })).status).toBe(404);
    expect((await pbhRequest(`${f.url}/ping/config`, { headers: pbhHeaders(appId, reset.body.data.appSecret) })).status).toBe(200);
    // Another user cannot see it; an admin can.
    expect((await api('GET', `/api/userapp/${appId}`, ADMIN)).status).toBe(200);
    expect((await api('GET', '/api/userapp/nope', ALICE)).status).toBe(404);
    const del = await api('DELETE', `/api/userapp/${appId}`, ALICE);
    expect(del.body).toEqual({ success: true, message: 'user application deleted', data: null });
    expect((await api('GET', `/api/userapp/${appId}`, ALICE)).status).toBe(404);
    expect((await pbhRequest(`${f.url}/ping/config`, { headers: pbhHeaders(appId, reset.body.data.appSecret) })).status).toBe(404);
  });

  it('answers 507 past a user\'s app limit', async () => {
    expect((await api('PUT', '/api/userapp', ALICE, { comment: '1' })).status).toBe(200);
    expect((await api('PUT', '/api/userapp', ALICE, { comment: '2' })).status).toBe(200);
    const r = await api('PUT', '/api/userapp', ALICE, { comment: '3' });
    expect(r.status).toBe(507);
    expect(r.body.success).toBe(false);
  });

  it('user info: me, another user (admin only), logout', async () => {
    const me = await api<Obj>('GET', '/api/user/me', ALICE);
    expect(Object.keys(me.body.data)).toEqual(['id', 'avatar', 'nickname', 'email', 'registerAt', 'lastSeenAt', 'bannedAt', 'bannedReason']);
    const id = me.body.data.id as number;
    expect((await api('GET', `/api/user/${id}`, ALICE)).status).toBe(403);
    expect((await api<Obj>('GET', `/api/user/${id}`, ADMIN)).body.data).toMatchObject({ nickname: 'alice' });
    expect((await api('GET', '/api/user/123', ADMIN)).status).toBe(404);
    const out = await fetch(`${f.url}/api/user/logout`, { headers: { authorization: `Bearer ${ALICE}` } });
    expect(out.status).toBe(200);
    expect(await out.text()).toBe('');
  });

  it('unknown /api/ paths answer 404 in the seed\'s shape', async () => {
    const r = await api('GET', '/api/nothing-here');
    expect(r.status).toBe(404);
    expect(r.body.success).toBe(false);
  });
});
