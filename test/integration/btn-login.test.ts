import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { OAuth2Server } from 'oauth2-mock-server';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { startBtn, type BtnFixture } from '../helpers/btn-fixture.js';

type Obj = Record<string, unknown>;

let f: BtnFixture;
let provider: OAuth2Server;
let configFile: string;
const CLIENT_ID = 'Iv1.test-client';
const CLIENT_SECRET = 'test-client-secret-0123456789';
/** What the mock provider saw: the token requests' bodies and the userinfo calls' Authorization. */
const seen: { token: Obj[]; userinfoAuth: string[]; accessTokens: string[] } = { token: [], userinfoAuth: [], accessTokens: [] };

beforeAll(async () => {
  provider = new OAuth2Server();
  await provider.issuer.keys.generate('RS256');
  await provider.start(0, '127.0.0.1');
  // Shaped like GitHub: no ID token (plain OAuth2), userinfo is GET /user's JSON.
  provider.service.on('beforeResponse', (resp: { body: Obj; statusCode: number }, req: { body: Obj }) => {
    seen.token.push({ ...req.body });
    if (req.body.client_secret !== CLIENT_SECRET || typeof req.body.code_verifier !== 'string') {
      resp.statusCode = 401;
      resp.body = { error: 'invalid_client', error_description: 'client secret or PKCE verifier missing' };
      return;
    }
    delete resp.body.id_token;
    seen.accessTokens.push(resp.body.access_token as string);
  });
  provider.service.on('beforeUserinfo', (resp: { body: Obj; statusCode: number }, req: { headers: Obj }) => {
    const auth = String(req.headers.authorization ?? '');
    seen.userinfoAuth.push(auth);
    if (!seen.accessTokens.some((t) => auth === `Bearer ${t}`)) {
      resp.statusCode = 401;
      resp.body = { message: 'Bad credentials' };
      return;
    }
    resp.body = { login: 'octocat', id: 583231, name: 'The Octocat', avatar_url: 'https://avatars.example.test/u/583231', email: null };
  });
  const issuer = provider.issuer.url as string;
  f = await startBtn({});
  const btnConfig = {
    enabled: true,
    publicUrl: f.url,
    login: {
      oauth2: {
        github: {
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          authorizationUrl: `${issuer}/authorize`,
          tokenUrl: `${issuer}/token`,
          userinfoUrl: `${issuer}/userinfo`,
          admins: [],
        },
      },
    },
  };
  f.setConfig(btnConfig);
  configFile = path.join(path.dirname(f.dbFile), 'config.yaml');
  writeFileSync(configFile, JSON.stringify({ dataDir: path.dirname(f.dbFile), database: { path: f.dbFile }, btn: btnConfig }));
}, 60_000);
afterAll(async () => {
  await f?.close();
  await provider?.stop();
});

/** Runs the real CLI in this process (the daemon's fixture keeps running on the same database file). */
async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const before = process.exitCode;
  process.exitCode = 0;
  try {
    await runCli(['node', 'capture-daemon', ...args, '--config', configFile]);
    return { code: Number(process.exitCode ?? 0), out: out.join('') };
  } finally {
    write.mockRestore();
    err.mockRestore();
    process.exitCode = before;
  }
}

async function call(method: string, p: string, opts: { cookie?: string; token?: string; body?: unknown } = {}): Promise<{ status: number; body: Obj; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(`${f.url}${p}`, { method, headers, redirect: 'manual', ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : {}) as Obj, headers: r.headers };
}

/** name=value of a Set-Cookie header. */
function cookieOf(headers: Headers, name: string): string | undefined {
  const c = headers.getSetCookie().find((s) => s.startsWith(`${name}=`));
  return c?.split(';')[0];
}

describe('users from the CLI, password login and sessions', () => {
  it('btn user add → login → cookie and bearer sessions → passwd and remove end them', async () => {
    const added = await cli('btn', 'user', 'add', 'carol', '--max-apps', '1', '--json');
    expect(added.code).toBe(0);
    const { password } = JSON.parse(added.out) as { password: string };
    expect(password.length).toBeGreaterThanOrEqual(16);
    expect((await cli('btn', 'user', 'add', 'carol', '--json')).code).toBe(1);
    const listed = JSON.parse((await cli('btn', 'user', 'list', '--json')).out) as { users: Obj[] };
    expect(listed.users).toEqual([expect.objectContaining({ name: 'carol', role: 'user', maxApps: 1, source: 'database', login: 'password' })]);
    // The hash is scrypt, never the password.
    const stored = f.db.prepare("SELECT password FROM btn_users WHERE name = 'carol'").pluck().get() as string;
    expect(stored).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(stored).not.toContain(password);

    const wrong = await call('POST', '/api/user/login', { body: { username: 'carol', password: `${password}x` } });
    expect(wrong.status).toBe(403);
    expect(wrong.body).toEqual({ success: false, message: 'wrong user name or password', data: null });
    expect((await call('POST', '/api/user/login', { body: { username: 'nobody', password } })).status).toBe(403);
    expect((await call('GET', '/api/user/me')).status).toBe(403);

    const ok = await call('POST', '/api/user/login', { body: { username: 'carol', password } });
    expect(ok.status).toBe(200);
    const data = ok.body.data as { token: string; user: Obj };
    expect(data.user).toMatchObject({ nickname: 'carol', bannedAt: null });
    const cookie = cookieOf(ok.headers, 'btn_session') as string;
    expect(cookie).toBe(`btn_session=${data.token}`);
    expect(ok.headers.getSetCookie()[0]).toMatch(/HttpOnly; SameSite=Lax/);

    const me = await call('GET', '/api/user/me', { cookie });
    expect(me.status).toBe(200);
    expect(me.body.data).toMatchObject({ nickname: 'carol' });
    expect((await call('GET', '/api/user/me', { token: data.token })).body.data).toMatchObject({ nickname: 'carol' });
    // The session's user owns what it creates, within its maxApps.
    const created = await call('PUT', '/api/userapp', { cookie, body: { comment: 'seedbox' } });
    expect(created.status).toBe(200);
    expect((created.body.data as Obj).user).toMatchObject({ nickname: 'carol' });
    const mine = await call('GET', '/api/userapp', { cookie });
    expect((mine.body.data as Obj[]).map((a) => a.comment)).toEqual(['seedbox']);
    expect((await call('PUT', '/api/userapp', { cookie, body: { comment: 'two' } })).status).toBe(507);

    // passwd ends every session at once (the daemon reads the store on each request).
    const changed = await cli('btn', 'user', 'passwd', 'carol', '--json');
    expect(changed.code).toBe(0);
    expect((await call('GET', '/api/user/me', { cookie })).status).toBe(403);
    const newPassword = (JSON.parse(changed.out) as { password: string }).password;
    const again = await call('POST', '/api/user/login', { body: { username: 'carol', password: newPassword } });
    expect(again.status).toBe(200);
    const token2 = (again.body.data as { token: string }).token;

    // Logout ends that session only.
    const third = (await call('POST', '/api/user/login', { body: { username: 'carol', password: newPassword } })).body.data as { token: string };
    expect((await call('GET', '/api/user/logout', { token: third.token })).status).toBe(200);
    expect((await call('GET', '/api/user/me', { token: third.token })).status).toBe(403);
    expect((await call('GET', '/api/user/me', { token: token2 })).status).toBe(200);

    expect((await cli('btn', 'user', 'remove', 'carol', '--json')).code).toBe(0);
    expect((await call('GET', '/api/user/me', { token: token2 })).status).toBe(403);
    expect((await cli('btn', 'user', 'remove', 'carol', '--json')).code).toBe(1);
  }, 60_000);

  it('refuses more failed logins per minute than allowed (429)', async () => {
    f.setConfig({ ...f.config(), publicUrl: f.url, login: { ...f.config().login, maxFailuresPerMinute: 3 } });
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await call('POST', '/api/user/login', { body: { username: 'ghost', password: 'wrong-password' } })).status);
    expect(codes.slice(-2)).toEqual([429, 429]);
    expect(codes.filter((c) => c === 403).length).toBeGreaterThanOrEqual(1);
  }, 60_000);
});

describe('OAuth2 login (GitHub-shaped, against a local mock provider)', () => {
  /** The browser: login → provider's authorize → back to our callback, carrying cookies by hand. */
  async function browserLogin(tamper?: (callback: URL) => void): Promise<{ callback: Response; stateCookie: string }> {
    const login = await fetch(`${f.url}/auth/oauth2/github/login`, { redirect: 'manual' });
    expect(login.status).toBe(302);
    const authorize = new URL(login.headers.get('location') as string);
    expect(authorize.origin + authorize.pathname).toBe(`${provider.issuer.url as string}/authorize`);
    expect(authorize.searchParams.get('client_id')).toBe(CLIENT_ID);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('redirect_uri')).toBe(`${f.url}/auth/oauth2/github/callback`);
    const stateCookie = cookieOf(login.headers, 'btn_oauth_state') as string;
    expect(stateCookie).toBe(`btn_oauth_state=${authorize.searchParams.get('state')}`);
    const atProvider = await fetch(authorize, { redirect: 'manual' });
    expect(atProvider.status).toBe(302);
    const callback = new URL(atProvider.headers.get('location') as string);
    expect(callback.origin + callback.pathname).toBe(`${f.url}/auth/oauth2/github/callback`);
    tamper?.(callback);
    return { callback: await fetch(callback, { redirect: 'manual', headers: { cookie: stateCookie } }), stateCookie };
  }

  it('login → authorize → callback (state, PKCE) → token → userinfo → session → query API', async () => {
    seen.token.length = 0;
    const { callback } = await browserLogin();
    expect(callback.status).toBe(302);
    expect(callback.headers.get('location')).toBe(`${f.url}/api/user/me`);
    const session = cookieOf(callback.headers, 'btn_session') as string;
    expect(session).toMatch(/^btn_session=[\w-]{40,}$/);
    // The token request carried the PKCE verifier, our client secret and the same redirect_uri.
    expect(seen.token).toHaveLength(1);
    expect(seen.token[0]).toMatchObject({ grant_type: 'authorization_code', client_id: CLIENT_ID, redirect_uri: `${f.url}/auth/oauth2/github/callback` });
    expect(seen.userinfoAuth.at(-1)).toBe(`Bearer ${seen.accessTokens.at(-1) as string}`);

    const me = await call('GET', '/api/user/me', { cookie: session });
    expect(me.status).toBe(200);
    expect(me.body.data).toMatchObject({ nickname: 'The Octocat', avatar: 'https://avatars.example.test/u/583231', email: null });
    // The account is a database user, found again (not duplicated) on the next login.
    const again = await browserLogin();
    expect(again.callback.status).toBe(302);
    const users = f.db.prepare('SELECT name, provider, subject FROM btn_users WHERE provider = ?').all('github');
    expect(users).toEqual([{ name: 'octocat@github', provider: 'github', subject: '583231' }]);
    // An authenticated query API call works, and the app belongs to the OAuth user.
    const created = await call('PUT', '/api/userapp', { cookie: session, body: { comment: 'from github' } });
    expect(created.status).toBe(200);
    expect((await call('GET', '/api/userapp', { cookie: session })).body.data).toEqual([expect.objectContaining({ comment: 'from github' })]);
    expect((await call('GET', '/api/snapshot?page=0&pageSize=10', { cookie: session })).body).toMatchObject({ success: true, data: { page: 0, size: 10 } });
  }, 60_000);

  it('refuses a wrong state, a missing state cookie and a reused state; no session is opened', async () => {
    const tokensBefore = seen.token.length;
    const wrong = await browserLogin((u) => u.searchParams.set('state', 'not-the-state-we-issued'));
    expect(wrong.callback.status).toBe(403);
    expect(await wrong.callback.json()).toMatchObject({ success: false, data: null });
    expect(cookieOf(wrong.callback.headers, 'btn_session')).toBeUndefined();

    // The right state but not from the browser that started the login (no state cookie).
    const login = await fetch(`${f.url}/auth/oauth2/github/login`, { redirect: 'manual' });
    const atProvider = await fetch(login.headers.get('location') as string, { redirect: 'manual' });
    const cb = atProvider.headers.get('location') as string;
    const noCookie = await fetch(cb, { redirect: 'manual' });
    expect(noCookie.status).toBe(403);
    // Used once (even when refused): the same callback with the cookie is refused too.
    const replay = await fetch(cb, { redirect: 'manual', headers: { cookie: cookieOf(login.headers, 'btn_oauth_state') as string } });
    expect(replay.status).toBe(403);
    expect(seen.token.length).toBe(tokensBefore);

    expect((await fetch(`${f.url}/auth/oauth2/gitlab/login`, { redirect: 'manual' })).status).toBe(404);
  }, 60_000);

  it('with sign-up off, an unknown account is refused', async () => {
    const c = f.config();
    const github = { ...c.login.oauth2.github, signup: false } as NonNullable<(typeof c.login.oauth2)[string]>;
    f.setConfig({ ...c, login: { ...c.login, oauth2: { github } } });
    f.db.prepare("DELETE FROM btn_users WHERE provider = 'github'").run();
    const { callback } = await browserLogin();
    expect(callback.status).toBe(403);
    expect(((await callback.json()) as Obj).message).toMatch(/sign-up is off/);
  }, 60_000);
});
