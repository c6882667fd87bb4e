import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBtn, type BtnFixture } from '../helpers/btn-fixture.js';
import { ban, IH, swarm } from '../helpers/btn-rows.js';
import { gson, pbhHeaders, pbhRequest } from '../helpers/pbh-client.js';

type Obj = Record<string, unknown>;

let f: BtnFixture;
let h: Record<string, string>;
const reporters: Array<Record<string, string>> = [];

const RULES = {
  peerId: { xunlei: [{ method: 'STARTS_WITH' as const, content: '-XL' }] },
  clientName: { offline: [{ method: 'CONTAINS' as const, content: 'offline', hit: 'TRUE' as const }] },
  ip: { bad: ['0:0:0:0:0:ffff:102:304', '2001:db8:0:0:0:0:0:0/32'] },
  port: { weird: [1] },
  ipDenylist: [{ ip: '203.0.113.0/24', reason: 'operator: documentation range' }],
  ipAllowlist: [{ ip: '198.51.100.7', reason: 'operator: our own seedbox' }],
  evidence: { minReporters: 2 },
};

beforeAll(async () => {
  f = await startBtn({ rules: RULES });
  const a = f.createApp('rules');
  h = pbhHeaders(a.appId, a.appSecret);
  for (let i = 0; i < 3; i++) {
    const r = f.createApp(`reporter ${i}`);
    reporters.push(pbhHeaders(r.appId, r.appSecret));
  }
});
afterAll(async () => {
  await f.close();
});

const get = (path: string, headers = h) => pbhRequest(`${f.url}${path}`, { headers });

describe('rule_peer_identity (spec §3.4)', () => {
  it('sends all five maps, rule strings as JSON objects, a URL-safe version; never 204 to rev=initial', async () => {
    const r = await get('/ping/rulePeerIdentity?rev=initial');
    expect(r.status).toBe(200);
    const body = r.json() as { version: string; peer_id: Record<string, string[]>; client_name: Obj; ip: Record<string, string[]>; port: Obj; script: Obj };
    expect(Object.keys(body).sort()).toEqual(['client_name', 'ip', 'peer_id', 'port', 'script', 'version']);
    expect(body.version).toMatch(/^[0-9a-f]+$/);
    expect(JSON.parse(body.peer_id.xunlei?.[0] as string)).toEqual({ method: 'STARTS_WITH', content: '-XL' });
    expect(body.ip.bad).toEqual(['1.2.3.4', '2001:db8::/32']);
    expect(body.port).toEqual({ weird: [1] });
    expect(body.script).toEqual({});
    // Unchanged: 204 to the current version, 200 to any other; rev=initial always 200.
    expect((await get(`/ping/rulePeerIdentity?rev=${body.version}`)).status).toBe(204);
    expect((await get('/ping/rulePeerIdentity?rev=initial')).status).toBe(200);
    expect((await get('/ping/rulePeerIdentity?rev=0000')).status).toBe(200);
    // The legacy `rules` ability serves the same document.
    expect((await get('/ping/rules/retrieve?rev=initial')).json()).toEqual(body);
    // A rule change is a new version.
    f.setConfig({ rules: { ...RULES, port: { weird: [1, 2] } } });
    const changed = await get(`/ping/rulePeerIdentity?rev=${body.version}`);
    expect(changed.status).toBe(200);
    expect((changed.json() as { version: string }).version).not.toBe(body.version);
    f.setConfig({ rules: RULES });
  });

  it('with no rules configured still sends every map, empty', async () => {
    f.setConfig({});
    const body = (await get('/ping/rulePeerIdentity?rev=initial')).json() as Obj;
    expect(body).toMatchObject({ peer_id: {}, client_name: {}, ip: {}, port: {}, script: {} });
    f.setConfig({ rules: RULES });
  });
});

describe('ip_denylist / ip_allowlist (spec §3.5)', () => {
  it('sends LF text with a "# reason" before each address and X-BTN-ContentVersion; 204 when unchanged', async () => {
    const r = await get('/ping/ruleIpDenylist?rev=initial');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(r.text).toBe('# operator: documentation range\n203.0.113.0/24\n');
    expect(r.text).not.toContain('\r');
    const version = r.headers['x-btn-contentversion'] as string;
    expect(version).toBe(createHash('sha256').update(r.text).digest('hex'));
    const same = await get(`/ping/ruleIpDenylist?rev=${version}`);
    expect(same.status).toBe(204);
    expect(same.text).toBe('');
    const allow = await get('/ping/ruleIpAllowlist?rev=initial');
    expect(allow.text).toBe('# operator: our own seedbox\n198.51.100.7\n');
  });

  it('adds IPs that enough applications banned (the daemon\'s evidence), each with its reason, visible in /api/rules', async () => {
    const now = Date.now();
    const before = (await get('/ping/ruleIpDenylist?rev=initial')).headers['x-btn-contentversion'] as string;
    // 66.66.66.66 banned by two apps, 77.77.77.77 by one: only the first reaches minReporters 2.
    for (const [i, who] of [
      [0, reporters[0]],
      [1, reporters[1]],
    ] as const) {
      const body = gson({ bans: [ban(i, now, { peer_ip: '66.66.66.66' }), ban(i, now, { peer_ip: '77.77.77.77', ban_at: now - 1000 - i })] });
      const r = await pbhRequest(`${f.url}/ping/syncBanHistory`, { method: 'POST', headers: who as Record<string, string>, body });
      expect(r.status).toBe(200);
    }
    f.db.prepare("DELETE FROM btn_bans WHERE peer_ip = '77.77.77.77' AND app = (SELECT max(app) FROM btn_bans)").run();
    const r = await get(`/ping/ruleIpDenylist?rev=${before}`);
    expect(r.status).toBe(200);
    expect(r.text).toContain('# banned by 2 BTN clients (2 bans in 7 days, latest by ProgressCheatBlocker)\n66.66.66.66\n');
    expect(r.text).not.toContain('77.77.77.77');
  });
});

describe('heartbeat (spec §3.6) and ip_query (spec §3.7)', () => {
  it('answers heartbeat with the address the server saw', async () => {
    const r = await pbhRequest(`${f.url}/ping/heartbeat`, { method: 'POST', headers: h, body: '{"ifaddr":"192.168.1.2"}', gzip: false });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ external_ip: '127.0.0.1' });
  });

  it('ip_query answers every key the client reads, bans and swarms of the IP, plus the daemon\'s captures', async () => {
    const now = Date.now();
    await pbhRequest(`${f.url}/ping/syncSwarm`, { method: 'POST', headers: h, body: gson({ swarms: [swarm(0, now, { peer_ip: '66.66.66.66' })] }) });
    f.captures.insertMany(
      [{ foundAt: now, ip: '66.66.66.66', port: 6881, infohash: IH, filters: ['x'], report: { date: now, totalPiecesInTorrent: 10, hasPieces: 5, hasTotal: false, clientName: 'Xunlei 0.0.1.2', hostIdentifier: '' } }],
      1,
    );
    const r = await get('/ping/queryIp?ip=66.66.66.66');
    expect(r.status).toBe(200);
    const q = r.json() as Record<string, Obj & { records: Obj[] }>;
    expect(Object.keys(q)).toEqual(expect.arrayContaining(['color', 'labels', 'bans', 'swarms', 'traffic', 'torrents']));
    expect(q.color).toBe('red');
    expect(q.labels).toEqual(expect.arrayContaining([expect.stringContaining('banned by 2 BTN clients'), 'captured by this daemon 1 time(s)']));
    expect(q.bans?.total).toBe(2);
    expect(q.bans?.records[0]).toMatchObject({ peer_ip: '66.66.66.66', module_name: expect.stringContaining('ProgressCheatBlocker'), structured_data: { type: 'progress' } });
    expect(q.swarms?.total).toBe(1);
    expect(q.swarms?.records[0]).toMatchObject({ peer_ip: '66.66.66.66', first_time_seen: expect.any(Number), user_progress: 0.5 });
    expect(q.traffic).toMatchObject({ to_peer_traffic: 1000, from_peer_traffic: 2000, share_ratio: 0.5 });
    expect(q.captures?.records[0]).toMatchObject({ ip: '66.66.66.66', infohash: IH, clientName: 'Xunlei 0.0.1.2' });
    // Compressed IPv6 as the client sends it, URL-encoded.
    expect((await get('/ping/queryIp?ip=2001%3Adb8%3A%3A1')).status).toBe(200);
    expect((await get('/ping/queryIp?ip=nope')).status).toBe(400);
  });

  it('serves the iframe widget with credentials from query parameters, HTML-escaped', async () => {
    const a = f.createApp('iframe');
    const r = await pbhRequest(`${f.url}/ping/queryIp/widget?ip=66.66.66.66&appId=${a.appId}&appSecret=${a.appSecret}&hardwareId=abc&installationId=x`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/html/);
    expect(r.text).toContain('66.66.66.66');
    expect(r.text).not.toMatch(/<script/i);
    expect((await pbhRequest(`${f.url}/ping/queryIp/widget?ip=66.66.66.66`)).status).toBe(403);
  });
});

describe('proof of work (spec §2.5)', () => {
  it('single-use, expiring challenges; ip_query needs a solution when enabled', async () => {
    f.setConfig({ rules: RULES, powCaptcha: { enabled: true, difficultyBits: 8 } });
    const c = (await get('/ping/captcha/createSession?type=ip_query')).json() as { id: string; challengeBase64: string; difficultyBits: number; algorithm: string; expireAt: number };
    expect(c).toMatchObject({ algorithm: 'SHA-256', difficultyBits: 8 });
    const challenge = Buffer.from(c.challengeBase64, 'base64');
    expect(challenge).toHaveLength(16);
    let nonce = Buffer.alloc(8);
    for (let n = 0n; ; n++) {
      nonce = Buffer.alloc(8);
      nonce.writeBigInt64BE(n);
      const d = createHash('sha256').update(challenge).update(nonce).digest();
      if (d[0] === 0) break;
    }
    const pow = { 'X-BTN-PowID': c.id, 'X-BTN-PowSolution': nonce.toString('base64') };
    expect((await get('/ping/queryIp?ip=66.66.66.66')).status).toBe(403);
    expect((await get('/ping/queryIp?ip=66.66.66.66', { ...h, ...pow })).status).toBe(200);
    expect((await get('/ping/queryIp?ip=66.66.66.66', { ...h, ...pow })).status).toBe(403); // used once
    f.setConfig({ rules: RULES });
  });
});
