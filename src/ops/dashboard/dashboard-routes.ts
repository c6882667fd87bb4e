import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Asset } from './dashboard-assets.js';
import { DashboardError } from './dashboard-error.js';
import { DASHBOARD_SCHEMAS as S } from './dashboard-schemas.js';
import { readCookie, SESSION_COOKIE, sessionCookie, type DashboardSessions } from './dashboard-auth.js';
import { RANGES, type DashboardRange, type DashboardSummary, type LiveSample } from './dashboard-data.js';
import type { SseHub } from './sse-hub.js';

export interface DashboardRouteDeps {
  sessions: DashboardSessions;
  sessionTtlMs: number;
  summary(range: DashboardRange): DashboardSummary;
  /** The latest live sample (sent first on a new stream). */
  latest(): LiveSample;
  hub: SseHub;
  page(name: 'index.html' | 'login.html'): string;
  asset(name: string): Asset | undefined;
}

/** No inline script or style, nothing from elsewhere: the page, its script, its style and Chart.js, all from here. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

function pageHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store');
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/**
 * The dashboard's routes on the API listener:
 *   GET  /dashboard/            the page (logged in), or a redirect to the login form; `?key=` logs in once
 *   GET  /dashboard/login       the login form; POST it with `key`
 *   POST /dashboard/logout
 *   GET  /dashboard/assets/:f   script, style, Chart.js (no login: nothing secret in them)
 *   GET  /dashboard/api/summary?range=1h|24h|7d   JSON (session cookie, or `key`)
 *   GET  /dashboard/api/events  server-sent events: `live` every tick (session cookie, or `key`)
 */
export function registerDashboardRoutes(app: FastifyInstance, deps: DashboardRouteDeps): void {
  const { sessions } = deps;
  const sessionOf = (req: FastifyRequest): string | undefined => readCookie(req.headers.cookie, SESSION_COOKIE);
  const loggedIn = (req: FastifyRequest): boolean => sessions.valid(sessionOf(req));
  const setSession = (req: FastifyRequest, reply: FastifyReply, key: unknown): void => {
    const id = sessions.login(key);
    void reply.header('set-cookie', sessionCookie(id, Math.floor(deps.sessionTtlMs / 1000), req.protocol === 'https'));
  };
  /** The data endpoints: a session, or the API key itself (scripts, benchmarks). */
  const requireAccess = (req: FastifyRequest): void => {
    if (loggedIn(req)) return;
    const key = (req.query as Record<string, unknown>).key;
    if (key === undefined) throw new DashboardError('API_KEY_UNKNOWN', 'not logged in: open /dashboard/login, or pass an API key as "key"');
    sessions.authorize(key);
  };
  const loginPage = (reply: FastifyReply, status: number, error: string): FastifyReply =>
    pageHeaders(reply)
      .status(status)
      .type('text/html; charset=utf-8')
      .send(deps.page('login.html').replace('<!--error-->', error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''));

  app.get('/dashboard/', { schema: S.page }, async (req, reply) => {
    const key = (req.query as Record<string, unknown>).key;
    if (key !== undefined) {
      try {
        setSession(req, reply, key);
      } catch (err) {
        return loginPage(reply, 401, (err as Error).message);
      }
      // The key leaves the address bar at once.
      return pageHeaders(reply).redirect('/dashboard/', 303);
    }
    if (!loggedIn(req)) return pageHeaders(reply).redirect('/dashboard/login', 303);
    return pageHeaders(reply).type('text/html; charset=utf-8').send(deps.page('index.html'));
  });

  app.get('/dashboard/login', { schema: S.loginForm }, async (req, reply) => (loggedIn(req) ? pageHeaders(reply).redirect('/dashboard/', 303) : loginPage(reply, 200, '')));
  app.post('/dashboard/login', { schema: S.login }, async (req, reply) => {
    const key = ((req.body ?? {}) as Record<string, unknown>).key;
    try {
      setSession(req, reply, key);
    } catch (err) {
      req.log.info({ reason: (err as Error).message }, 'dashboard login refused');
      return loginPage(reply, 401, (err as Error).message);
    }
    return pageHeaders(reply).redirect('/dashboard/', 303);
  });
  app.post('/dashboard/logout', { schema: S.logout }, async (req, reply) => {
    sessions.logout(sessionOf(req));
    return pageHeaders(reply).header('set-cookie', sessionCookie('', 0, req.protocol === 'https')).redirect('/dashboard/login', 303);
  });

  app.get('/dashboard/assets/:file', { schema: S.asset }, async (req, reply) => {
    const a = deps.asset((req.params as { file: string }).file);
    if (!a) throw new DashboardError('NOT_FOUND', 'no such dashboard file');
    return reply.type(a.type).header('x-content-type-options', 'nosniff').header('cache-control', 'no-cache').send(a.body);
  });

  app.get('/dashboard/api/summary', { schema: S.summary }, async (req, reply) => {
    requireAccess(req);
    const range = (req.query as Record<string, unknown>).range ?? '24h';
    if (typeof range !== 'string' || !Object.hasOwn(RANGES, range)) {
      throw new DashboardError('INVALID_PARAMETER', `"range" must be one of ${Object.keys(RANGES).join(', ')}`);
    }
    return reply.header('cache-control', 'no-store').send(deps.summary(range as DashboardRange));
  });

  app.get('/dashboard/api/events', { schema: S.events }, async (req, reply) => {
    requireAccess(req);
    reply.hijack();
    if (!deps.hub.accept(reply.raw, { event: 'live', data: deps.latest() })) {
      reply.raw
        .writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '10' })
        .end(JSON.stringify({ error: 'TOO_MANY_STREAMS', message: 'too many live dashboard streams: close a tab, or raise dashboard.maxClients' }));
    }
  });

  // Open streams would keep the server from closing.
  app.addHook('preClose', async () => deps.hub.close());
}
