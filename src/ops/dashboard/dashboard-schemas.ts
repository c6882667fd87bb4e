import { z } from 'zod';
import { json, media, named, noBody, type RouteSchema } from '../../api-shape/route-schema.js';

/** What the dashboard's routes declare for /openapi.json (README, "Dashboard", in words). */

const TAGS = ['Dashboard'];
const KEY_ERRORS = ['API_KEY_UNKNOWN', 'API_KEY_SUSPENDED', 'ACCESS_FORBIDDEN'];
const html = (description: string): ReturnType<typeof media> => media(description, { 'text/html': z.string() });
const redirect = (to: string): z.ZodNull => noBody(`to ${to} (Location)`);

const live = named(
  'DashboardLiveSample',
  z.looseObject({
    at: z.int(),
    dht: z.looseObject({ enabled: z.boolean(), nodes: z.int(), packetsInPerSecond: z.number(), packetsOutPerSecond: z.number(), refusalsPerSecond: z.number() }),
    queues: z.looseObject({ capture: z.int(), capturesRunning: z.int(), store: z.int(), lookups: z.int() }),
    outbox: z.looseObject({}),
    captures: z.looseObject({ stored: z.int(), storeFailing: z.boolean() }),
    recentMinutes: z.array(z.tuple([z.int(), z.int(), z.int()])),
  }),
);

const summary = named(
  'DashboardSummary',
  z.strictObject({
    generatedAt: z.int(),
    range: z.enum(['1h', '24h', '7d']),
    bucketMs: z.int(),
    series: z.strictObject({ t: z.array(z.int()), ok: z.array(z.int()), failed: z.array(z.int()) }),
    totals: z.strictObject({ ok: z.int(), failed: z.int() }),
    breakdownFrom: z.int(),
    countries: z.array(z.strictObject({ code: z.string(), captures: z.int() })),
    clients: z.array(z.strictObject({ name: z.string(), captures: z.int() })),
    torrents: z.array(z.strictObject({ infohash: z.string(), name: z.string().nullable(), seeders: z.int(), leechers: z.int(), failed: z.int() })),
    watchedTorrents: z.int(),
    recentMinutes: z.array(z.tuple([z.int(), z.int(), z.int()])),
    live,
    history: z.array(live),
  }),
);

const key = z.object({ key: z.string().optional().describe('an API key with the "dashboard" method (instead of the session cookie)') });

export const DASHBOARD_SCHEMAS = {
  page: {
    summary: 'The dashboard page (logged in), or a redirect to the login form; ?key= logs in once and redirects',
    tags: TAGS,
    querystring: key,
    response: { 200: html('the page'), 303: redirect('/dashboard/login, or /dashboard/ after ?key='), 401: html('the login form with the reason') },
    errors: [],
  },
  loginForm: {
    summary: 'The login form',
    tags: TAGS,
    response: { 200: html('the form'), 303: redirect('/dashboard/ when already logged in') },
    errors: [],
  },
  login: {
    summary: 'Log in with an API key: a session cookie',
    tags: TAGS,
    consumes: ['application/x-www-form-urlencoded'],
    body: z.object({ key: z.string() }),
    response: { 303: redirect('/dashboard/, with Set-Cookie'), 401: html('the login form with the reason') },
    errors: [],
  },
  logout: {
    summary: 'Log out: the session ends',
    tags: TAGS,
    response: { 303: redirect('/dashboard/login') },
    errors: [],
  },
  asset: {
    summary: "The page's script, style, icon and Chart.js (no login)",
    tags: TAGS,
    params: z.object({ file: z.string() }),
    response: {
      200: media('the file', { 'text/javascript': z.string(), 'text/css': z.string(), 'image/svg+xml': z.string() }),
    },
    errors: ['NOT_FOUND'],
  },
  summary: {
    summary: 'Captures over time, by country, by client, per watched torrent, and the live sample (session cookie or key)',
    tags: TAGS,
    querystring: key.extend({ range: z.enum(['1h', '24h', '7d']).optional().describe('default 24h') }),
    response: { 200: json('the summary', summary) },
    errors: KEY_ERRORS,
  },
  events: {
    summary: 'Live updates as server-sent events: a "live" event every dashboard.tickMs (session cookie or key)',
    tags: TAGS,
    querystring: key,
    response: {
      200: media('the stream: `event: live` with a DashboardLiveSample as data, heartbeats as comments', { 'text/event-stream': z.string() }),
      503: json('dashboard.maxClients streams are open (Retry-After)', z.strictObject({ error: z.literal('TOO_MANY_STREAMS'), message: z.string() })),
    },
    errors: KEY_ERRORS,
  },
} satisfies Record<string, RouteSchema>;
