import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { OAuth2Server } from 'oauth2-mock-server';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBtnModule, type BtnModule } from '../../src/btn/module.js';
import { BtnApps } from '../../src/btn/btn-apps.js';
import { hashPassword } from '../../src/btn/passwords.js';
import { configSchema, type Config } from '../../src/config/config-schema.js';
import type { DhtStats } from '../../src/dht/dht-module.js';
import { FilterRegistry } from '../../src/filter/filter-registry.js';
import { ApiKeyRing } from '../../src/http/api-keys.js';
import { createApiServer } from '../../src/http/api-server.js';
import { createDashboard } from '../../src/ops/dashboard/dashboard-module.js';
import { HealthMonitor } from '../../src/ops/health.js';
import type { OpsSources } from '../../src/ops/ports.js';
import { parseTorrentFile } from '../../src/protocol/metainfo.js';
import { createSpamModule } from '../../src/spam/module.js';
import { openBtnStore } from '../../src/store/btn-store.js';
import { SqliteCaptureRepository } from '../../src/store/capture-repository.js';
import { SqliteDashboardRepository } from '../../src/store/dashboard-repository.js';
import { SqliteFilterOverlayRepository } from '../../src/store/filter-overlay-repository.js';
import { openDatabase, type Db } from '../../src/store/open-database.js';
import { SqliteOpsRepository } from '../../src/store/ops-repository.js';
import { SqliteEvidenceRepository } from '../../src/store/spam-evidence-repository.js';
import { SqliteSpamRepository } from '../../src/store/spam-repository.js';
import { SqliteTorrentRepository } from '../../src/store/torrent-repository.js';
import { silentLogger } from '../../src/util/logger.js';
import { ban, swarm } from '../helpers/btn-rows.js';
import { AnswerChecker, docPath, operation as operationIn, type OpenApiDoc } from '../helpers/openapi-check.js';
import { gson, pbhHeaders, pbhUserAgent } from '../helpers/pbh-client.js';
import { tempDir } from '../helpers/temp-dir.js';
import { makeTorrent } from '../helpers/torrent-fixture.js';

// The daemon's HTTP server as src/main.ts builds it (Capture API, health, BTN, spam list), on a real
// SQLite file and a real port. Every route it registers must be in /openapi.json with declared
// answers, the document must be valid OpenAPI 3.1, and real answers to real requests (success and
// error for every route) must match what the document declares for their status and media type.

const KEY = 'openapi-key-0123456789abcdef';
const KEY_SUSPENDED = 'openapi-suspended-0123456789';
const ADMIN = 'admin-token-0123456789abcdef';
const ALICE = 'alice-token-0123456789abcdef';
const IH_KNOWN_FILTER = 'd059053fd7122a95408346147b1edc0193432a0c';
const IH_PENDING = '503c73b73405f950ae9f63555df9c6255acafcd0';
const IH_NEVER = '0123456789abcdef0123456789abcdef01234567';

let dir: { dir: string; cleanup: () => void };
let db: Db;
let app: FastifyInstance;
let base: string;
let port: number;
let btn: BtnModule;
let config: Config;
let dhtStats: DhtStats;
let monitor: HealthMonitor;
let doc: OpenApiDoc;
let checker: AnswerChecker;
const registered: Array<{ method: string; url: string }> = [];
const answered: Array<{ route: string; method: string; status: number }> = [];
const torrent = makeTorrent({ pieceCount: 3 });
const torrent2 = makeTorrent({ pieceCount: 5 });
const upload = makeTorrent({ pieceCount: 2 });
let captureWithPcap = 0;
let captureWithoutPcap = 0;
let app1 = { appId: '', appSecret: '' };
let aliceApp = '';
let provider: OAuth2Server;

function dht(nodes: number, lastReplyAt: number): DhtStats {
  return { enabled: true, nodes, socket: { lastReplyAt } } as unknown as DhtStats;
}

beforeAll(async () => {
  provider = new OAuth2Server();
  await provider.issuer.keys.generate('RS256');
  await provider.start(0, '127.0.0.1');
  provider.service.on('beforeUserinfo', (resp: { body: Record<string, unknown> }) => void (resp.body = { id: 1, login: 'octocat' }));
  const issuer = provider.issuer.url as string;
  dir = tempDir('openapi-');
  config = configSchema.parse({
    apiKeys: [
      { name: 'all', key: KEY },
      { name: 'suspended', key: KEY_SUSPENDED, state: 'suspended' },
    ],
    filters: [
      { name: 'a', infohashes: [IH_KNOWN_FILTER] },
      { name: 'b', infohashes: [] },
    ],
    btn: {
      enabled: true,
      publicUrl: 'http://btn.example.test:8080',
      users: [
        { name: 'admin', token: ADMIN, role: 'admin' },
        { name: 'alice', token: ALICE, maxApps: 1 },
      ],
      login: {
        oauth2: {
          github: { clientId: 'c', clientSecret: 's', authorizationUrl: `${issuer}/authorize`, tokenUrl: `${issuer}/token`, userinfoUrl: `${issuer}/userinfo` },
        },
      },
    },
  });
  const dbFile = path.join(dir.dir, 'capture.db');
  db = openDatabase(dbFile);
  const torrents = new SqliteTorrentRepository(db);
  const overlay = new SqliteFilterOverlayRepository(db);
  const captures = new SqliteCaptureRepository(db);
  const filters = new FilterRegistry({ overlay, torrents }, config.filters);
  const keys = new ApiKeyRing(config.apiKeys);
  const spam = createSpamModule(
    { store: new SqliteSpamRepository(db), evidence: new SqliteEvidenceRepository(db), keys: () => keys, logger: silentLogger() },
    () => config.spam,
  );
  const store = openBtnStore(db);
  store.users.add({ name: 'dora', role: 'user', maxApps: 1, password: await hashPassword('dora-password-01') });
  btn = createBtnModule({ ...store, logger: silentLogger() }, { config: () => config.btn, rulesRefreshMs: 0 });
  dhtStats = dht(10, Date.now());
  // The stages' counters the dashboard samples (the DHT's as /readyz sees it).
  const sources = {
    dht: () => dhtStats,
    capture: () => ({ scheduler: { queued: 3, running: 1 }, store: { pending: 0, written: 2, state: 'ok' }, pipeline: {} }),
    notify: () => ({ amqp: { backlog: 0, parked: 0 }, email: { backlog: 1, parked: 0 } }),
  } as unknown as OpsSources;
  const dashboard = createDashboard(
    { store: new SqliteDashboardRepository(db), sources, keys: () => keys, watchedCount: () => 1, logger: silentLogger() },
    config.dashboard,
  );
  monitor = new HealthMonitor(
    { store: new SqliteOpsRepository(db), dht: () => dhtStats, apiBound: () => true, logger: silentLogger() },
    { checkIntervalMs: 60_000, dhtReplyWithinMs: 60_000, noNodesWarnAfterMs: 60_000, maxEventLoopDelayMs: 60_000, bootstrapCount: 0 },
  );
  app = await createApiServer(
    {
      keys: () => keys,
      pageSize: () => 1000,
      filters,
      captures,
      torrents,
      logger: silentLogger(),
      modules: [btn.http, spam.http, dashboard.http as NonNullable<typeof dashboard.http>],
      ops: {
        readiness: () => ({ ...monitor.current() }),
        onRequestDone: (route, method, status) => answered.push({ route, method, status }),
      },
      onRoute: (method, url) => registered.push({ method, url }),
    },
    { bodyLimitBytes: 1024 * 1024, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5000, trustProxy: false },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no TCP address');
  port = addr.port;
  base = `http://127.0.0.1:${port}`;

  // Data, so that lists are not empty: a known torrent in filter a, a pending one, captures (a report
  // with a note and a pcap, a failed attempt), BTN submissions, spam reports.
  torrents.putMetadata(parseTorrentFile(torrent.buffer), 'upload');
  torrents.putMetadata(parseTorrentFile(torrent2.buffer), 'upload');
  torrents.addPending(IH_PENDING, 'infohash');
  const pcapDir = path.join(dir.dir, 'pcap');
  mkdirSync(pcapDir);
  const pcapFile = path.join(pcapDir, 'c.pcap');
  writeFileSync(pcapFile, Buffer.from('d4c3b2a1020004000000000000000000ffff000065000000', 'hex'));
  const now = Date.now();
  [captureWithPcap, captureWithoutPcap] = captures.insertMany([
    {
      foundAt: now - 5000, ip: '192.0.2.1', port: 6881, infohash: IH_KNOWN_FILTER, filters: ['a'], pcapPath: pcapFile, countryCode: 'DE',
      report: { date: now - 4000, totalPiecesInTorrent: 3, hasPieces: 3, hasTotal: true, clientName: 'qBittorrent 4.6.5', hostIdentifier: 'host.example', note: 'a note' },
    },
    { foundAt: now - 3000, ip: '2001:db8::1', port: 51413, infohash: IH_KNOWN_FILTER, filters: ['a'], error: 'connection refused' },
  ]) as [number, number];
  monitor.check();
  const made = new BtnApps(store.apps, { autoAccount: false }).create('openapi test', 'admin');
  app1 = { appId: made.app.appId, appSecret: made.appSecret };
  aliceApp = new BtnApps(store.apps, { autoAccount: false }).create('alice app', 'alice').app.appId;
  const h = pbhHeaders(app1.appId, app1.appSecret);
  await fetch(`${base}/ping/syncSwarm`, { method: 'POST', headers: h, body: gson({ swarms: [swarm(1, now), swarm(2, now)] }) });
  await fetch(`${base}/ping/syncBanHistory`, { method: 'POST', headers: h, body: gson({ bans: [ban(1, now)] }) });
  await fetch(`${base}/index.php`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ op: 'createItem', key: KEY, Hash: IH_KNOWN_FILTER, Torrent: 'Some torrent' }) });

  doc = (await (await fetch(`${base}/openapi.json`)).json()) as OpenApiDoc;
  checker = new AnswerChecker(doc, { base, port, answered });
}, 60_000);

afterAll(async () => {
  btn?.stop();
  await app?.close();
  db?.close();
  dir?.cleanup();
  await provider?.stop();
});

const operation = (method: string, url: string): ReturnType<typeof operationIn> => operationIn(doc, method, url);
const run = (c: Parameters<AnswerChecker['run']>[0]): Promise<void> => checker.run(c);

describe('the document', () => {
  it('is valid OpenAPI 3.1', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const v = new Validator();
    const res = await v.validate(doc as unknown as Record<string, unknown>);
    expect(res.errors ?? [], JSON.stringify(res.errors, null, 1)).toEqual([]);
    expect(res.valid).toBe(true);
    expect(v.version).toBe('3.1');
  });

  it('has every registered route, each with a summary, a tag and declared answers (and nothing else)', () => {
    expect(registered.length).toBeGreaterThan(40);
    const problems: string[] = [];
    for (const { method, url } of registered) {
      const op = operation(method, url);
      if (!op) {
        problems.push(`${method} ${url}: not in the document`);
        continue;
      }
      if (!op.summary) problems.push(`${method} ${url}: no summary`);
      if (!op.tags?.length) problems.push(`${method} ${url}: no tag`);
      const statuses = Object.keys(op.responses);
      // A route without a response schema gets @fastify/swagger's placeholder `200: Default Response`.
      for (const [status, r] of Object.entries(op.responses)) {
        if (r.description === 'Default Response') problems.push(`${method} ${url} ${status}: no declared answer`);
        const bodyless = method === 'HEAD' || status === '204' || status.startsWith('3');
        if (!bodyless && !r.content) problems.push(`${method} ${url} ${status}: no body schema`);
        if (bodyless && r.content) problems.push(`${method} ${url} ${status}: a body where there is none`);
      }
      if (!statuses.some((s) => s.startsWith('2') || s.startsWith('3'))) problems.push(`${method} ${url}: no success answer`);
      if (!statuses.some((s) => s.startsWith('4'))) problems.push(`${method} ${url}: no error answer`);
    }
    const known = new Set(registered.map((r) => `${r.method.toLowerCase()} ${docPath(r.url)}`));
    for (const [p, item] of Object.entries(doc.paths)) {
      for (const m of Object.keys(item)) if (!known.has(`${m} ${p}`)) problems.push(`${m} ${p}: documented but not registered`);
    }
    // Fix: give the route `{ schema }`, a RouteSchema (src/api-shape/route-schema.ts; e.g. src/http/capture-schemas.ts).
    expect(problems, 'every route declares a RouteSchema').toEqual([]);
  });

  it('declares for each error status exactly the codes the API answers with there', () => {
    const op = operation('POST', '/capture/filters/addInfohash/');
    const codes = (status: string): unknown => {
      const schema = op?.responses[status]?.content?.['application/json']?.schema as { properties: { error: { enum: string[] } } };
      return schema.properties.error.enum;
    };
    expect(codes('400')).toEqual(['INVALID_PARAMETER', 'INVALID_INFOHASH']);
    expect(codes('401')).toEqual(['API_KEY_UNKNOWN']);
    expect(codes('409')).toEqual(['TORRENT_FILE_NOT_FOUND']);
    expect(codes('503')).toEqual(['STORAGE_UNAVAILABLE']);
    // BTN routes: the Sparkle shape.
    const btnOp = operation('GET', '/api/user/me');
    expect(btnOp?.responses['403']?.content?.['application/json']?.schema).toEqual(expect.objectContaining({ $ref: '#/components/schemas/SparkleError' }));
  });
});

// ---------------------------------------------------------------------------------------------
// Real answers against the document
// ---------------------------------------------------------------------------------------------

const form = (fields: Record<string, string>): RequestInit => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});
const jsonBody = (token: string | undefined, body: unknown): RequestInit => ({
  headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  body: JSON.stringify(body),
});
const bearer = (token: string): RequestInit => ({ headers: { authorization: `Bearer ${token}` } });
const pbh = (): RequestInit => ({ headers: pbhHeaders(app1.appId, app1.appSecret) });
const pbhBody = (body: unknown): RequestInit => ({ headers: pbhHeaders(app1.appId, app1.appSecret), body: JSON.stringify(body) });
const wrongApp = (): RequestInit => ({ headers: pbhHeaders('no-such-app-id', 'no-such-secret-0123456789') });
const multipart = (fields: Record<string, string>, file?: Buffer): RequestInit => {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  if (file) fd.append('torrent', new Blob([new Uint8Array(file)]), 'x.torrent');
  return { body: fd };
};
const q = (params: Record<string, string>): string => `?${new URLSearchParams(params).toString()}`;

describe('real answers validate against the document', () => {
  it('meta and health', async () => {
    await run({ route: 'GET /openapi.json', url: '/openapi.json', status: 200 });
    await run({ route: 'GET /openapi.json', url: '/openapi.json', status: 400, noHost: true });
    await run({ route: 'HEAD /openapi.json', url: '/openapi.json', status: 200 });
    await run({ route: 'HEAD /openapi.json', url: '/openapi.json', status: 400, noHost: true });
    await run({ route: 'GET /healthz', url: '/healthz', status: 200 });
    await run({ route: 'GET /healthz', url: '/healthz', status: 400, noHost: true });
    await run({ route: 'GET /readyz', url: '/readyz', status: 200 });
    await run({
      route: 'GET /readyz',
      url: '/readyz',
      status: 503,
      before: () => {
        dhtStats = dht(10, Date.now() - 3_600_000);
        monitor.check();
      },
    });
    dhtStats = dht(10, Date.now());
    monitor.check();
    await run({ route: 'GET /readyz', url: '/readyz', status: 400, noHost: true });
  });

  it('Capture API', async () => {
    const R = '/capture/peers/all/';
    await run({ route: `GET ${R}`, url: `${R}${q({ key: KEY, filter: 'a', from: '0' })}`, status: 200 });
    await run({ route: `GET ${R}`, url: `${R}${q({ key: KEY, filter: 'a', from: '0', success: 'false' })}`, status: 200 });
    await run({ route: `GET ${R}`, url: `${R}${q({ filter: 'a', from: '0' })}`, status: 401 });
    await run({ route: `GET ${R}`, url: `${R}${q({ key: KEY_SUSPENDED, filter: 'a', from: '0' })}`, status: 403 });
    await run({ route: `GET ${R}`, url: `${R}${q({ key: KEY, filter: 'a', from: 'yesterday' })}`, status: 400 });
    await run({ route: `GET ${R}`, url: `${R}${q({ key: KEY, filter: 'nope', from: '0' })}`, status: 404 });
    await run({ route: `HEAD ${R}`, url: `${R}${q({ key: KEY, filter: 'a', from: '0' })}`, status: 200 });
    await run({ route: `HEAD ${R}`, url: `${R}${q({ key: KEY, filter: 'nope', from: '0' })}`, status: 404 });

    await run({ route: 'GET /capture/filters/', url: `/capture/filters/${q({ key: KEY })}`, status: 200 });
    await run({ route: 'GET /capture/filters/', url: '/capture/filters/', status: 401 });
    await run({ route: 'HEAD /capture/filters/', url: `/capture/filters/${q({ key: KEY })}`, status: 200 });
    await run({ route: 'HEAD /capture/filters/', url: `/capture/filters/${q({ key: KEY_SUSPENDED })}`, status: 403 });

    const add = 'POST /capture/filters/addInfohash/';
    await run({ route: add, url: '/capture/filters/addInfohash/', init: form({ key: KEY, filter: 'b', infohash: torrent.infohash }), status: 200 });
    await run({ route: add, url: '/capture/filters/addInfohash/', init: form({ key: KEY, filter: 'b', infohash: torrent2.infohash }), status: 200 });
    await run({ route: add, url: '/capture/filters/addInfohash/', init: form({ key: KEY, filter: 'b', infohash: 'xyz' }), status: 400 });
    await run({ route: add, url: '/capture/filters/addInfohash/', init: form({ filter: 'b', infohash: torrent.infohash }), status: 401 });
    await run({ route: add, url: '/capture/filters/addInfohash/', init: form({ key: KEY, filter: 'b', infohash: IH_NEVER }), status: 404 });
    await run({ route: add, url: '/capture/filters/addInfohash/', init: form({ key: KEY, filter: 'b', infohash: IH_PENDING }), status: 409 });
    await run({ route: add, url: '/capture/filters/addInfohash/', init: multipart({ key: KEY, filter: 'b', infohash: IH_PENDING }), status: 415 });
    const del = 'POST /capture/filters/deleteInfohash/';
    await run({ route: del, url: '/capture/filters/deleteInfohash/', init: form({ key: KEY, filter: 'a', infohash: torrent.infohash }), status: 404 });
    await run({ route: del, url: '/capture/filters/deleteInfohash/', init: form({ key: KEY, filter: 'a', infohash: IH_KNOWN_FILTER }), status: 409 });
    await run({ route: del, url: '/capture/filters/deleteInfohash/', init: form({ key: KEY, filter: 'b', infohash: torrent.infohash }), status: 200 });

    await run({ route: 'GET /capture/pcap/', url: `/capture/pcap/${q({ key: KEY, id: String(captureWithPcap) })}`, status: 200 });
    await run({ route: 'GET /capture/pcap/', url: `/capture/pcap/${q({ key: KEY, id: String(captureWithoutPcap) })}`, status: 404 });
    await run({ route: 'GET /capture/pcap/', url: `/capture/pcap/${q({ key: KEY, id: '-1' })}`, status: 400 });
    await run({ route: 'HEAD /capture/pcap/', url: `/capture/pcap/${q({ key: KEY, id: String(captureWithPcap) })}`, status: 200 });
    await run({ route: 'HEAD /capture/pcap/', url: `/capture/pcap/${q({ key: KEY, id: '999999' })}`, status: 404 });
  });

  it('torrents', async () => {
    const T = 'POST /torrents/addTorrent/';
    await run({ route: T, url: '/torrents/addTorrent/', init: multipart({ key: KEY }, upload.buffer), status: 200 });
    await run({ route: T, url: `/torrents/addTorrent/${q({ key: KEY })}`, init: { headers: { 'content-type': 'application/x-bittorrent' }, body: new Uint8Array(upload.buffer) }, status: 200 });
    await run({ route: T, url: '/torrents/addTorrent/', init: multipart({ key: KEY }, Buffer.from('not bencode')), status: 400 });
    await run({ route: T, url: '/torrents/addTorrent/', init: multipart({}, upload.buffer), status: 401 });
    const I = 'POST /torrents/addInfohash/';
    await run({ route: I, url: '/torrents/addInfohash/', init: form({ key: KEY, infohash: IH_NEVER }), status: 200 });
    await run({ route: I, url: '/torrents/addInfohash/', init: form({ key: KEY, infohash: 'abc' }), status: 400 });
    const S = '/torrents/state/';
    await run({ route: `GET ${S}`, url: `${S}${q({ key: KEY, infohash: upload.infohash })}`, status: 200 });
    await run({ route: `GET ${S}`, url: `${S}${q({ key: KEY, infohash: 'ffffffffffffffffffffffffffffffffffffffff' })}`, status: 200 });
    await run({ route: `GET ${S}`, url: `${S}${q({ key: KEY, infohash: IH_PENDING })}`, status: 200 });
    await run({ route: `GET ${S}`, url: `${S}${q({ key: KEY, infohash: '' })}`, status: 400 });
    await run({ route: `HEAD ${S}`, url: `${S}${q({ key: KEY, infohash: upload.infohash })}`, status: 200 });
    await run({ route: `HEAD ${S}`, url: `${S}${q({ infohash: upload.infohash })}`, status: 401 });
  });

  it('BTN client protocol', async () => {
    await run({ route: 'GET /ping/config', url: '/ping/config', init: pbh(), status: 200 });
    await run({ route: 'GET /ping/config', url: '/ping/config', init: { headers: { ...pbh().headers, 'User-Agent': pbhUserAgent(12) } }, status: 200 });
    await run({ route: 'GET /ping/config', url: '/ping/config', status: 403 });
    await run({ route: 'GET /ping/config', url: '/ping/config', init: wrongApp(), status: 404 });
    const now = Date.now();
    for (const [route, body] of [
      ['/ping/syncBanHistory', { bans: [ban(3, now)] }],
      ['/ping/syncSwarm', { swarms: [swarm(3, now)] }],
      ['/ping/histories/submit', { populate_time: now, peers: [] }],
      ['/ping/peers/submit', { populate_time: now, peers: [] }],
      ['/ping/bans/submit', { populate_time: now, bans: [] }],
    ] as const) {
      await run({ route: `POST ${route}`, url: route, init: pbhBody(body), status: 200 });
      await run({ route: `POST ${route}`, url: route, init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }, status: 403 });
    }
    await run({ route: 'POST /ping/syncBanHistory', url: '/ping/syncBanHistory', init: { headers: pbhHeaders(app1.appId, app1.appSecret), body: '{not json' }, status: 400 });

    for (const route of ['/ping/rulePeerIdentity', '/ping/rules/retrieve']) {
      const res = await fetch(`${base}${route}`, pbh());
      const version = res.headers.get('x-btn-contentversion') ?? '';
      await res.text();
      await run({ route: `GET ${route}`, url: route, init: pbh(), status: 200 });
      await run({ route: `GET ${route}`, url: `${route}${q({ rev: version })}`, init: pbh(), status: 204 });
      await run({ route: `GET ${route}`, url: route, status: 403 });
    }
    for (const route of ['/ping/ruleIpDenylist', '/ping/ruleIpAllowlist']) {
      const res = await fetch(`${base}${route}`, pbh());
      const version = res.headers.get('x-btn-contentversion') ?? '';
      await res.text();
      await run({ route: `GET ${route}`, url: route, init: pbh(), status: 200 });
      await run({ route: `GET ${route}`, url: `${route}${q({ rev: version })}`, init: pbh(), status: 204 });
      await run({ route: `GET ${route}`, url: route, init: wrongApp(), status: 404 });
    }
    await run({ route: 'POST /ping/heartbeat', url: '/ping/heartbeat', init: pbhBody({ ifaddr: '192.0.2.7' }), status: 200 });
    await run({ route: 'POST /ping/heartbeat', url: '/ping/heartbeat', init: { headers: { 'content-type': 'application/json' }, body: '{}' }, status: 200 });
    await run({ route: 'POST /ping/heartbeat', url: '/ping/heartbeat', init: { ...wrongApp(), body: '{}' }, status: 404 });

    await run({ route: 'GET /ping/queryIp', url: `/ping/queryIp${q({ ip: '5.6.7.1' })}`, init: pbh(), status: 200 });
    await run({ route: 'GET /ping/queryIp', url: `/ping/queryIp${q({ ip: '192.0.2.1' })}`, init: pbh(), status: 200 });
    await run({ route: 'GET /ping/queryIp', url: `/ping/queryIp${q({ ip: 'not-an-ip' })}`, init: pbh(), status: 400 });
    await run({ route: 'GET /ping/queryIp/widget', url: `/ping/queryIp/widget${q({ ip: '5.6.7.1', appId: app1.appId, appSecret: app1.appSecret })}`, status: 200 });
    await run({ route: 'GET /ping/queryIp/widget', url: `/ping/queryIp/widget${q({ ip: '', appId: app1.appId, appSecret: app1.appSecret })}`, status: 400 });

    await run({ route: 'GET /ping/captcha/createSession', url: '/ping/captcha/createSession', init: pbh(), status: 404 });
    const powOn = (on: boolean) => () => {
      config = { ...config, btn: { ...config.btn, powCaptcha: { ...config.btn.powCaptcha, enabled: on, difficultyBits: 1 } } };
    };
    try {
      await run({ route: 'GET /ping/captcha/createSession', url: '/ping/captcha/createSession', init: pbh(), status: 200, before: powOn(true) });
      await run({ route: 'GET /ping/queryIp', url: `/ping/queryIp${q({ ip: '5.6.7.1' })}`, init: pbh(), status: 403 });
    } finally {
      powOn(false)();
    }
  });

  it('BTN query API', async () => {
    for (const list of ['snapshot', 'banhistory', 'clientdiscovery']) {
      await run({ route: `GET /api/${list}`, url: `/api/${list}`, init: bearer(ADMIN), status: 200 });
      await run({ route: `GET /api/${list}`, url: `/api/${list}${q({ pageSize: '3001' })}`, init: bearer(ADMIN), status: 400 });
      await run({ route: `GET /api/${list}`, url: `/api/${list}`, status: 403 });
      await run({ route: `POST /api/${list}/query`, url: `/api/${list}/query`, init: jsonBody(ADMIN, { page: 0, pageSize: 10, peerClientName: 'qBittorrent', peerClientNameCompareMethod: 'CONTAINS' }), status: 200 });
      await run({ route: `POST /api/${list}/query`, url: `/api/${list}/query`, init: jsonBody(ADMIN, { peerClientName: 'x', peerClientNameCompareMethod: 'SOUNDS_LIKE' }), status: 400 });
      await run({ route: `POST /api/${list}/query`, url: `/api/${list}/query`, init: jsonBody(undefined, {}), status: 403 });
    }
    await run({ route: 'GET /api/userapp', url: '/api/userapp', init: bearer(ADMIN), status: 200 });
    await run({ route: 'GET /api/userapp', url: '/api/userapp', status: 403 });
    await run({ route: 'GET /api/userapp/:appId', url: `/api/userapp/${app1.appId}`, init: bearer(ADMIN), status: 200 });
    await run({ route: 'GET /api/userapp/:appId', url: `/api/userapp/${app1.appId}`, init: bearer(ALICE), status: 404 });
    await run({ route: 'PATCH /api/userapp/:appId', url: `/api/userapp/${app1.appId}`, init: jsonBody(ADMIN, { comment: 'renamed' }), status: 200 });
    await run({ route: 'PATCH /api/userapp/:appId', url: '/api/userapp/nope', init: jsonBody(ADMIN, { comment: 'x' }), status: 404 });
    await run({ route: 'PUT /api/userapp', url: '/api/userapp', init: jsonBody(ADMIN, { comment: 'new' }), status: 200 });
    await run({ route: 'PUT /api/userapp', url: '/api/userapp', init: jsonBody(ALICE, { comment: 'one too many' }), status: 507 });
    await run({ route: 'POST /api/userapp/:appId/resetAppSecret', url: `/api/userapp/${aliceApp}/resetAppSecret`, init: bearer(ALICE), status: 200 });
    await run({ route: 'POST /api/userapp/:appId/resetAppSecret', url: '/api/userapp/nope/resetAppSecret', init: bearer(ALICE), status: 404 });
    await run({ route: 'DELETE /api/userapp/:appId', url: `/api/userapp/${aliceApp}`, init: bearer(ALICE), status: 200 });
    await run({ route: 'DELETE /api/userapp/:appId', url: `/api/userapp/${aliceApp}`, init: bearer(ALICE), status: 404 });
    await run({ route: 'GET /api/user/me', url: '/api/user/me', init: bearer(ALICE), status: 200 });
    await run({ route: 'GET /api/user/me', url: '/api/user/me', init: bearer('wrong-token-0123456789'), status: 403 });
    await run({ route: 'GET /api/user/logout', url: '/api/user/logout', init: bearer(ALICE), status: 200 });
    await run({ route: 'GET /api/user/logout', url: '/api/user/logout', status: 403 });
    await run({ route: 'POST /api/user/login', url: '/api/user/login', init: jsonBody(undefined, { username: 'nobody', password: 'wrong-password' }), status: 403 });
    await run({ route: 'POST /api/user/login', url: '/api/user/login', init: jsonBody(undefined, { username: 'dora', password: 'dora-password-01' }), status: 200 });
    const manual: RequestInit = { redirect: 'manual' };
    await run({ route: 'GET /auth/oauth2/:provider/login', url: '/auth/oauth2/gitlab/login', init: manual, status: 404 });
    const start = await fetch(`${base}/auth/oauth2/github/login`, manual);
    const cookie = (start.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const back = new URL((await fetch(start.headers.get('location') as string, manual)).headers.get('location') as string);
    await run({ route: 'GET /auth/oauth2/:provider/callback', url: `${back.pathname}${back.search}`, init: { ...manual, headers: { cookie } }, status: 302 });
    await run({ route: 'GET /auth/oauth2/:provider/callback', url: `${back.pathname}${back.search}`, init: { ...manual, headers: { cookie } }, status: 403 });
    await run({ route: 'GET /auth/oauth2/:provider/login', url: '/auth/oauth2/github/login', init: manual, status: 302 });
    const me = (await (await fetch(`${base}/api/user/me`, bearer(ALICE))).json()) as { data: { id: number } };
    await run({ route: 'GET /api/user/:id', url: `/api/user/${me.data.id}`, init: bearer(ADMIN), status: 200 });
    await run({ route: 'GET /api/user/:id', url: `/api/user/${me.data.id}`, init: bearer(ALICE), status: 403 });
    await run({ route: 'GET /api/user/:id', url: '/api/user/99999', init: bearer(ADMIN), status: 404 });
    await run({ route: 'GET /api/torrent/hash', url: `/api/torrent/hash${q({ hash: IH_KNOWN_FILTER })}`, status: 200 });
    await run({ route: 'GET /api/torrent/hash', url: `/api/torrent/hash${q({ hash: 'xyz' })}`, status: 400 });
    await run({ route: 'GET /api/rules', url: '/api/rules', init: bearer(ADMIN), status: 200 });
    await run({ route: 'GET /api/rules', url: '/api/rules', status: 403 });
    await run({ route: 'GET /api/peer', url: `/api/peer${q({ ip: '5.6.7.1' })}`, init: bearer(ADMIN), status: 200 });
    await run({ route: 'GET /api/peer', url: `/api/peer${q({ infohash: IH_KNOWN_FILTER })}`, init: bearer(ADMIN), status: 200 });
    await run({ route: 'GET /api/peer', url: '/api/peer', init: bearer(ADMIN), status: 400 });
  });

  it('dashboard', async () => {
    const manual: RequestInit = { redirect: 'manual' };
    await run({ route: 'POST /dashboard/login', url: '/dashboard/login', init: { ...manual, ...form({ key: 'wrong-key-0123456789abcdef' }) }, status: 401 });
    const login = await fetch(`${base}/dashboard/login`, { ...manual, method: 'POST', ...form({ key: KEY }) });
    await login.text();
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    expect(cookie).toMatch(/=./);
    const session: RequestInit = { ...manual, headers: { cookie } };
    await run({ route: 'POST /dashboard/login', url: '/dashboard/login', init: { ...manual, ...form({ key: KEY }) }, status: 303 });
    await run({ route: 'GET /dashboard/', url: '/dashboard/', init: session, status: 200 });
    await run({ route: 'GET /dashboard/', url: '/dashboard/', init: manual, status: 303 });
    await run({ route: 'GET /dashboard/', url: `/dashboard/${q({ key: KEY })}`, init: manual, status: 303 });
    await run({ route: 'GET /dashboard/', url: `/dashboard/${q({ key: 'wrong-key-0123456789abcdef' })}`, init: manual, status: 401 });
    await run({ route: 'GET /dashboard/login', url: '/dashboard/login', init: manual, status: 200 });
    await run({ route: 'GET /dashboard/login', url: '/dashboard/login', init: session, status: 303 });
    await run({ route: 'GET /dashboard/login', url: '/dashboard/login', status: 400, noHost: true });
    for (const file of ['dashboard.js', 'dashboard.css', 'favicon.svg', 'chart.umd.min.js']) {
      await run({ route: 'GET /dashboard/assets/:file', url: `/dashboard/assets/${file}`, status: 200 });
    }
    await run({ route: 'GET /dashboard/assets/:file', url: '/dashboard/assets/secrets.txt', status: 404 });
    for (const range of ['1h', '24h', '7d']) await run({ route: 'GET /dashboard/api/summary', url: `/dashboard/api/summary${q({ range })}`, init: session, status: 200 });
    await run({ route: 'GET /dashboard/api/summary', url: `/dashboard/api/summary${q({ key: KEY })}`, status: 200 });
    await run({ route: 'GET /dashboard/api/summary', url: `/dashboard/api/summary${q({ key: KEY, range: '2d' })}`, status: 400 });
    await run({ route: 'GET /dashboard/api/summary', url: '/dashboard/api/summary', status: 401 });
    await run({ route: 'GET /dashboard/api/summary', url: `/dashboard/api/summary${q({ key: KEY_SUSPENDED })}`, status: 403 });
    await run({ route: 'GET /dashboard/api/events', url: `/dashboard/api/events${q({ key: KEY })}`, status: 200, stream: true });
    await run({ route: 'GET /dashboard/api/events', url: '/dashboard/api/events', status: 401 });
    await run({ route: 'POST /dashboard/logout', url: '/dashboard/logout', init: session, status: 303 });
    await run({ route: 'POST /dashboard/logout', url: '/dashboard/logout', init: multipart({ a: 'b' }), status: 415 });
  });

  it('spam list', async () => {
    const get = 'GET /index.php';
    await run({ route: get, url: `/index.php${q({ op: 'listAll' })}`, status: 200 });
    await run({ route: get, url: `/index.php${q({ op: 'listAll', format: 'xml' })}`, status: 200 });
    await run({ route: get, url: `/index.php${q({ op: 'check', Hash: IH_KNOWN_FILTER, format: 'xml' })}`, status: 200 });
    const badge = await fetch(`${base}/index.php${q({ op: 'badge', Hash: IH_KNOWN_FILTER })}`);
    const etag = badge.headers.get('etag') ?? '';
    await badge.text();
    await run({ route: get, url: `/index.php${q({ op: 'badge', Hash: IH_KNOWN_FILTER })}`, status: 200 });
    await run({ route: get, url: `/index.php${q({ op: 'badge', Hash: IH_KNOWN_FILTER })}`, init: { headers: { 'if-none-match': etag } }, status: 304 });
    await run({ route: get, url: `/index.php${q({ op: 'createItem', Hash: IH_PENDING, key: KEY })}`, status: 200 });
    await run({ route: get, url: `/index.php${q({ op: 'createItem', Hash: IH_PENDING })}`, status: 401 });
    await run({ route: get, url: `/index.php${q({ op: 'dance' })}`, status: 400 });
    await run({ route: get, url: `/index.php${q({ op: 'check', Hash: 'xyz' })}`, status: 400 });
    const post = 'POST /index.php';
    await run({ route: post, url: '/index.php', init: form({ op: 'createItem', key: KEY, Hash: IH_NEVER, Torrent: 'Another', format: 'xml' }), status: 200 });
    await run({ route: post, url: '/index.php', init: form({ op: 'createItem', key: KEY_SUSPENDED, Hash: IH_NEVER }), status: 403 });
  });

  it('the declared parameters are what the routes check: each required one omitted, each constrained one violated → 400', async () => {
    // A request each route answers 200, to change one parameter of at a time.
    const valid: Record<string, Record<string, string>> = {
      'GET /capture/peers/all/': { key: KEY, filter: 'a', from: '0', to: String(Date.now() + 1000), success: 'true' },
      'GET /capture/filters/': { key: KEY },
      'GET /capture/pcap/': { key: KEY, id: String(captureWithPcap) },
      'GET /torrents/state/': { key: KEY, infohash: upload.infohash },
      'POST /capture/filters/addInfohash/': { key: KEY, filter: 'b', infohash: torrent.infohash },
      'POST /capture/filters/deleteInfohash/': { key: KEY, filter: 'b', infohash: IH_KNOWN_FILTER },
      'POST /torrents/addInfohash/': { key: KEY, infohash: IH_NEVER },
    };
    type Param = { name: string; required: boolean; schema: { pattern?: string; enum?: string[]; minLength?: number } };
    const seen: string[] = [];
    for (const [p, item] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(item)) {
        const tags = op.tags ?? [];
        if (m === 'head' || !(tags.includes('Capture API') || tags.includes('Torrents'))) continue;
        const route = `${m.toUpperCase()} ${p}`;
        const bodySchema = (op.requestBody as { content?: Record<string, { schema: { properties: Record<string, Param['schema']>; required?: string[] } }> } | undefined)?.content?.['application/x-www-form-urlencoded']?.schema;
        const params: Param[] = bodySchema
          ? Object.entries(bodySchema.properties).map(([name, schema]) => ({ name, schema, required: bodySchema.required?.includes(name) ?? false }))
          : ((op.parameters ?? []) as Param[]);
        if (route === 'POST /torrents/addTorrent/') continue; // multipart: covered above
        const base = valid[route];
        expect(base, `${route}: add a valid request to this table`).toBeDefined();
        seen.push(route);
        const send = (fields: Record<string, string>): Promise<void> =>
          m === 'get' ? run({ route, url: `${p}${q(fields)}`, status: 400 }) : run({ route, url: p, init: form(fields), status: 400 });
        for (const param of params) {
          if (param.name === 'key') continue; // the key is checked first: 401/403, above
          if (param.required) {
            const { [param.name]: _omitted, ...rest } = base as Record<string, string>;
            await send(rest);
          }
          if (param.schema.pattern !== undefined || param.schema.enum !== undefined) await send({ ...base, [param.name]: '!' });
          if (param.schema.minLength !== undefined) await send({ ...base, [param.name]: '' });
        }
      }
    }
    expect(seen.sort()).toEqual(Object.keys(valid).sort());
  });

  it('exercised every registered route with a success and an error', () => {
    const missing: string[] = [];
    for (const { method, url } of registered) {
      const mine = checker.exercised.filter((e) => e.method === method && e.route === url);
      if (!mine.some((e) => e.status < 400)) missing.push(`${method} ${url}: no success case`);
      if (!mine.some((e) => e.status >= 400)) missing.push(`${method} ${url}: no error case`);
    }
    // Fix: add a real request answered with success, and one answered with an error, for the route to this file.
    expect(missing, 'a success and an error case for every route').toEqual([]);
  });
});
