import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBtn, type BtnFixture } from '../helpers/btn-fixture.js';
import { gson, pbhHeaders, pbhRequest, pbhUserAgent } from '../helpers/pbh-client.js';

type Obj = Record<string, unknown>;

let f: BtnFixture;
let app: { appId: string; appSecret: string };

beforeAll(async () => {
  f = await startBtn({ autoAccount: true });
  app = f.createApp('pbh test');
});
afterAll(async () => {
  await f.close();
});

const get = (path: string, headers: Record<string, string>) => pbhRequest(`${f.url}${path}`, { headers });

describe('GET /ping/config (spec §2)', () => {
  it('gives a v20 client the modern abilities, every field it reads present and valid', async () => {
    const r = await get('/ping/config', pbhHeaders(app.appId, app.appSecret));
    expect(r.status).toBe(200);
    const c = r.json() as { min_protocol_version: number; max_protocol_version: number; ability: Record<string, Obj> } & Obj;
    expect(c.min_protocol_version).toBe(20);
    expect(c.max_protocol_version).toBe(20);
    expect('proof_of_work_captcha' in c).toBe(false);
    expect(Object.keys(c.ability).sort()).toEqual(
      ['heartbeat', 'ip_allowlist', 'ip_denylist', 'ip_query', 'reconfigure', 'rule_peer_identity', 'submit_bans', 'submit_histories', 'submit_swarm'].sort(),
    );
    for (const [key, a] of Object.entries(c.ability)) {
      if (key === 'ip_query') {
        expect(a.endpoint).toBe('http://btn.example.test:8080/ping/queryIp');
        expect(typeof a.iframe_endpoint).toBe('string');
        continue;
      }
      expect(a.interval as number, key).toBeGreaterThan(0);
      expect(a.random_initial_delay as number, key).toBeGreaterThan(0);
      if (key === 'reconfigure') expect(typeof a.version).toBe('string');
      else expect(a.endpoint as string, key).toMatch(/^http:\/\/btn\.example\.test:8080\/ping\//);
    }
    expect(c.ability.heartbeat?.multi_if).toBe(true);
  });

  it('gives protocol 7–19 clients the legacy abilities with min ≤ 10 ≤ … and min ≤ NN ≤ max', async () => {
    for (const v of [7, 8, 10, 12, 13, 19]) {
      const r = await get('/ping/config', pbhHeaders(app.appId, app.appSecret, { protocol: v }));
      const c = r.json() as { min_protocol_version: number; max_protocol_version: number; ability: Record<string, Obj> };
      expect(c.min_protocol_version).toBeLessThanOrEqual(Math.min(v, 10));
      expect(c.max_protocol_version).toBeGreaterThanOrEqual(v);
      expect(c.min_protocol_version < 20).toBe(true);
      expect(Object.keys(c.ability)).toEqual(expect.arrayContaining(['submit_peers', 'submit_bans', 'rules', 'reconfigure', 'heartbeat']));
      expect(c.ability).not.toHaveProperty('exception');
      expect(c.ability.submit_peers?.endpoint).toBe('http://btn.example.test:8080/ping/peers/submit');
    }
  });

  it('changes reconfigure.version exactly when the btn config changes', async () => {
    const v = async (): Promise<unknown> =>
      ((await get('/ping/config', pbhHeaders(app.appId, app.appSecret))).json() as { ability: { reconfigure: { version: string } } }).ability.reconfigure.version;
    const before = await v();
    expect(await v()).toBe(before);
    const old = f.config();
    f.setConfig({ autoAccount: true, intervals: { heartbeat: 123_000 } });
    const after = await v();
    expect(after).not.toBe(before);
    f.setConfig({ autoAccount: old.autoAccount });
    expect(await v()).toBe(before);
  });

  it('offers proof_of_work_captcha as an object only when enabled', async () => {
    f.setConfig({ autoAccount: true, powCaptcha: { enabled: true } });
    const c = (await get('/ping/config', pbhHeaders(app.appId, app.appSecret))).json() as Obj;
    expect(c.proof_of_work_captcha).toEqual({ endpoint: 'http://btn.example.test:8080/ping/captcha/createSession' });
    f.setConfig({ autoAccount: true });
  });
});

describe('credentials (spec §5): 403/404, never 401', () => {
  const ua = { 'User-Agent': pbhUserAgent(), 'Content-Type': 'application/json' };
  it('accepts each source alone, in its order', async () => {
    const { appId, appSecret } = app;
    const sources: Array<Record<string, string>> = [
      { 'X-BTN-AppID': appId, 'X-BTN-AppSecret': appSecret },
      { Authorization: `Bearer ${appId}@${appSecret}` },
      { Authentication: `Bearer ${appId}@${appSecret}` },
      { 'BTN-AppID': appId, 'BTN-AppSecret': appSecret },
    ];
    for (const h of sources) expect((await get('/ping/config', { ...ua, ...h })).status, JSON.stringify(h)).toBe(200);
    expect((await get(`/ping/config?appId=${appId}&appSecret=${appSecret}`, ua)).status).toBe(200);
    // The first valid source decides: a wrong X-BTN pair is not rescued by a right Authentication.
    const r = await get('/ping/config', { ...ua, 'X-BTN-AppID': appId, 'X-BTN-AppSecret': 'wrong', Authentication: `Bearer ${appId}@${appSecret}` });
    expect(r.status).toBe(404);
  });

  it('answers no credentials 403, unknown app or wrong secret 404, banned 403, in the StdResp shape', async () => {
    const none = await get('/ping/config', ua);
    expect(none.status).toBe(403);
    expect(none.json()).toEqual({ success: false, message: expect.any(String), data: null });
    expect((await get('/ping/config', pbhHeaders('nobody', 'x'))).status).toBe(404);
    expect((await get('/ping/config', pbhHeaders(app.appId, `${app.appSecret}x`))).status).toBe(404);
    const banned = f.createApp('to ban');
    f.store.apps.ban(banned.appId, 'abuse');
    const b = await get('/ping/config', pbhHeaders(banned.appId, banned.appSecret));
    expect(b.status).toBe(403);
    expect((b.json() as Obj).message).toContain('abuse');
    f.store.apps.unban(banned.appId);
    expect((await get('/ping/config', pbhHeaders(banned.appId, banned.appSecret))).status).toBe(200);
  });

  it('a secret containing "@" works through the Bearer header (split at the first "@")', async () => {
    const { appId } = f.createApp('at');
    f.store.apps.setSecret(appId, (await import('../../src/btn/btn-apps.js')).secretDigest('se@cr@et'));
    expect((await get('/ping/config', { ...ua, Authentication: `Bearer ${appId}@se@cr@et` })).status).toBe(200);
  });

  it('creates an auto account from the installation id when the example credentials are sent (option on)', async () => {
    const h = pbhHeaders('example-app-id', 'example-app-secret', { installationId: '0f9c1b9e-3a51-4c55-9c1e-2f6a1b7c8d9e' });
    expect((await get('/ping/config', h)).status).toBe(200);
    expect(f.store.apps.findByInstallation('0f9c1b9e-3a51-4c55-9c1e-2f6a1b7c8d9e')?.appId).toBe('AUTOACCOUNT-0f9c1b9e-3a51-4c55-9c1e-2f6a1b7c8d9e');
    f.setConfig({ autoAccount: false });
    expect((await get('/ping/config', h)).status).toBe(403);
    f.setConfig({ autoAccount: true });
  });

  it('stores only the SHA-256 of a secret', () => {
    const row = f.db.prepare('SELECT * FROM btn_apps WHERE app_id = ?').get(app.appId) as Obj;
    expect(JSON.stringify(row)).not.toContain(app.appSecret);
    expect((row.secret_sha256 as Buffer).length).toBe(32);
  });
});

export { gson };
