import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { BtnConfig } from '../config/config-schema.js';
import { BtnError } from './btn-error.js';
import { cookieValue, SESSION_COOKIE, userDto, type BtnUser, type BtnUsers } from './btn-users.js';
import { LOGIN_SCHEMAS as L } from './login-schemas.js';
import { QUERY_SCHEMAS } from './btn-schemas.js';
import { STATE_COOKIE, STATE_TTL_MS, type OAuthLogin } from './oauth-login.js';

export interface LoginDeps {
  config: () => BtnConfig;
  users: BtnUsers;
  oauth: OAuthLogin;
}

type Obj = Record<string, unknown>;

function cookie(config: BtnConfig, name: string, value: string, maxAgeS: number, path = '/'): string {
  const secure = config.publicUrl?.startsWith('https:') ? '; Secure' : '';
  return `${name}=${value}; Path=${path}; Max-Age=${maxAgeS}; HttpOnly; SameSite=Lax${secure}`;
}

/**
 * Logins of the query API: password (POST /api/user/login, users made by `btn user add`), the
 * seed's OAuth2 login (GET /auth/oauth2/<provider>/login → /callback, GitHub or any plain OAuth2
 * provider of btn.login.oauth2) and logout. Each opens or ends a session (`btn_session` cookie,
 * or the returned token as `Authorization: Bearer`).
 */
export function registerLoginRoutes(app: FastifyInstance, deps: LoginDeps): void {
  let limiter: { max: number; rl: RateLimiterMemory } | undefined;
  const failures = (): RateLimiterMemory => {
    const max = deps.config().login.maxFailuresPerMinute;
    if (limiter?.max !== max) limiter = { max, rl: new RateLimiterMemory({ points: max, duration: 60 }) };
    return limiter.rl;
  };
  const session = (reply: FastifyReply, user: BtnUser, s: { token: string; expiresAt: number }): Obj => {
    const ttlS = Math.max(1, Math.floor((s.expiresAt - Date.now()) / 1000));
    void reply.header('set-cookie', cookie(deps.config(), SESSION_COOKIE, s.token, ttlS));
    return { token: s.token, expiresAt: s.expiresAt, user: userDto(user) };
  };

  app.post('/api/user/login', { schema: L.passwordLogin }, async (req, reply) => {
    const rl = failures();
    const used = await rl.get(req.ip);
    if (used !== null && used.consumedPoints >= deps.config().login.maxFailuresPerMinute) {
      throw new BtnError('BTN_TOO_MANY_LOGINS', `too many failed logins from this address: wait ${Math.ceil(used.msBeforeNext / 1000)} s`);
    }
    const b = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Obj;
    const name = b.username ?? b.name;
    if (typeof name !== 'string' || typeof b.password !== 'string') throw new BtnError('BTN_BAD_PARAMETER', 'give "username" and "password" as strings');
    try {
      const { user, token, expiresAt } = await deps.users.passwordLogin(name, b.password);
      return { success: true, message: null, data: session(reply, user, { token, expiresAt }) };
    } catch (err) {
      if (err instanceof BtnError && err.code === 'BTN_LOGIN_FAILED') await rl.consume(req.ip).catch(() => undefined);
      throw err;
    }
  });

  app.get('/api/user/logout', { schema: QUERY_SCHEMAS.logout }, async (req, reply) => {
    const caller = deps.users.authenticate(req.headers);
    deps.users.endSession(caller);
    void reply.header('set-cookie', cookie(deps.config(), SESSION_COOKIE, '', 0));
    return reply.code(200).send('');
  });

  const providerKey = (req: FastifyRequest): string => String((req.params as Obj).provider);
  app.get('/auth/oauth2/:provider/login', { schema: L.oauthLogin }, async (req, reply) => {
    const key = providerKey(req);
    const { location, state } = await deps.oauth.start(key);
    void reply.header('set-cookie', cookie(deps.config(), STATE_COOKIE, state, STATE_TTL_MS / 1000, `/auth/oauth2/${key}/`));
    return reply.redirect(location, 302);
  });
  app.get('/auth/oauth2/:provider/callback', { schema: L.oauthCallback }, async (req, reply) => {
    const key = providerKey(req);
    const url = new URL(req.url, 'http://callback.invalid');
    const error = url.searchParams.get('error');
    if (error !== null) throw new BtnError('BTN_LOGIN_FAILED', `the provider refused the login: ${error} ${url.searchParams.get('error_description') ?? ''}`.trim());
    const user = await deps.oauth.finish(key, new URL(deps.oauth.redirectUri(key) + url.search), cookieValue(req.headers.cookie, STATE_COOKIE));
    const s = deps.users.openSession(user.name);
    const ttlS = Math.max(1, Math.floor((s.expiresAt - Date.now()) / 1000));
    void reply.header('set-cookie', [
      cookie(deps.config(), SESSION_COOKIE, s.token, ttlS),
      cookie(deps.config(), STATE_COOKIE, '', 0, `/auth/oauth2/${key}/`),
    ]);
    const after = deps.config().login.afterLoginUrl;
    const base = (deps.config().publicUrl ?? '').replace(/\/+$/, '');
    return reply.redirect(/^https?:\/\//.test(after) ? after : `${base}${after.startsWith('/') ? '' : '/'}${after}`, 302);
  });
}
