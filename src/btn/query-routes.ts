import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isInfoHash } from '../model/infohash.js';
import { BtnError } from './btn-error.js';
import type { BtnApps, CreatedApp } from './btn-apps.js';
import { userDto, type BtnUser, type BtnUsers } from './btn-users.js';
import { ipParam, ipReport, type PingDeps } from './ping-routes.js';
import type { BtnApp, Condition, ListQuery } from './ports.js';
import { QUERY_SCHEMAS as S } from './btn-schemas.js';
import { torrentIdentifier } from './torrent-identifier.js';

/** The seed's paging: 0-based `page` (default 0), `pageSize` default 100, above 3000 refused. */
export const MAX_PAGE_SIZE = 3000;

type Obj = Record<string, unknown>;

function intOf(v: unknown, name: string, fallback: number): number {
  if (v === undefined || v === null || v === '') return fallback;
  const n = typeof v === 'string' && /^-?\d{1,12}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new BtnError('BTN_BAD_PARAMETER', `"${name}" must be an integer`);
  return n;
}

export function paging(src: Obj): { page: number; pageSize: number } {
  const page = intOf(src.page, 'page', 0);
  const pageSize = intOf(src.pageSize, 'pageSize', 100);
  if (page < 0) throw new BtnError('BTN_BAD_PARAMETER', '"page" must be 0 or more (pages are 0-based)');
  if (pageSize < 1) throw new BtnError('BTN_BAD_PARAMETER', '"pageSize" must be 1 or more');
  if (pageSize > MAX_PAGE_SIZE) throw new BtnError('BTN_PAGE_TOO_LARGE', `page size too large (at most ${MAX_PAGE_SIZE})`);
  return { page, pageSize };
}

const STRING_FIELDS = ['peerId', 'peerClientName', 'peerIp', 'torrentIdentifier', 'module', 'rule', 'appId'];
const NUMBER_FIELDS = [
  'torrentSize',
  'peerPort',
  'fromPeerTraffic',
  'fromPeerTrafficSpeed',
  'toPeerTraffic',
  'toPeerTrafficSpeed',
  'peerProgress',
  'downloaderProgress',
];

/** A query body (`{page, pageSize, <field>, <field>CompareMethod, …, orConnector, sortBy, sortOrder}`) as a ListQuery. */
export function listQuery(body: unknown, allowed: readonly string[], time: { from: string; to: string }): ListQuery {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Obj;
  const conditions: Condition[] = [];
  for (const field of allowed) {
    const v = b[field];
    if (v === undefined || v === null || v === '') continue;
    const isString = STRING_FIELDS.includes(field);
    const method = b[`${field}CompareMethod`] ?? (field === 'btnBan' ? 'EQUAL' : isString ? 'EQUALS' : 'EQUAL');
    if (typeof method !== 'string') throw new BtnError('BTN_BAD_PARAMETER', `"${field}CompareMethod" must be a string`);
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new BtnError('BTN_BAD_PARAMETER', `"${field}" must be a string, number or boolean`);
    }
    conditions.push({ field, method: method as Condition['method'], value: v });
  }
  const sortBy = b.sortBy === undefined || b.sortBy === null ? [] : Array.isArray(b.sortBy) ? b.sortBy : [b.sortBy];
  if (!sortBy.every((s): s is string => typeof s === 'string')) throw new BtnError('BTN_BAD_PARAMETER', '"sortBy" must be a list of field names');
  const order = String(b.sortOrder ?? 'DESC').toUpperCase();
  if (order !== 'ASC' && order !== 'DESC') throw new BtnError('BTN_BAD_PARAMETER', '"sortOrder" must be ASC or DESC');
  const q: ListQuery = { ...paging(b), conditions, or: b.orConnector === true, sortBy, sortOrder: order };
  const from = b[time.from];
  const to = b[time.to];
  if (from !== undefined && from !== null) q.timeFrom = intOf(from, time.from, 0);
  if (to !== undefined && to !== null) q.timeTo = intOf(to, time.to, 0);
  return q;
}

const ok = (data: unknown, message: string | null = null): Obj => ({ success: true, message, data });

export interface QueryDeps extends PingDeps {
  users: () => BtnUsers;
  apps: BtnApps;
  listApps(owner?: string): BtnApp[];
  findApp(appId: string): BtnApp | undefined;
  /** The writes of the user-app routes: in the daemon's write turn (module.ts), so they wait for the BTN write thread's transaction instead of failing in SQLite's lock. */
  createApp(comment: string, owner: string): Promise<CreatedApp>;
  resetSecret(appId: string): Promise<string | undefined>;
  setComment(appId: string, comment: string): Promise<boolean>;
  deleteApp(appId: string): Promise<boolean>;
  countOwned(owner: string): number;
}

/** The Sparkle query API (spec §7.1, the seed's pages) under /api/. */
export function registerQueryRoutes(app: FastifyInstance, deps: QueryDeps): void {
  const login = (req: FastifyRequest): BtnUser => deps.users().authenticate(req.headers);
  const q = (req: FastifyRequest): Obj => req.query as Obj;
  const browse = (req: FastifyRequest): ListQuery => ({ ...paging(q(req)), conditions: [], or: false, sortBy: [], sortOrder: 'DESC' });

  app.get('/api/snapshot', { schema: S.snapshot }, async (req) => {
    login(req);
    return ok(deps.queries.snapshots(browse(req)));
  });
  app.post('/api/snapshot/query', { schema: S.snapshotQuery }, async (req) => {
    login(req);
    return ok(deps.queries.snapshots(listQuery(req.body, [...STRING_FIELDS.slice(0, 4), 'appId', ...NUMBER_FIELDS], { from: 'timeFrom', to: 'timeTo' })));
  });
  app.get('/api/banhistory', { schema: S.banHistory }, async (req) => {
    login(req);
    return ok(deps.queries.bans(browse(req)));
  });
  app.post('/api/banhistory/query', { schema: S.banHistoryQuery }, async (req) => {
    login(req);
    const fields = [...STRING_FIELDS, ...NUMBER_FIELDS.filter((f) => !f.endsWith('Speed')), 'btnBan'];
    return ok(deps.queries.bans(listQuery(req.body, fields, { from: 'timeFrom', to: 'timeTo' })));
  });
  app.get('/api/clientdiscovery', { schema: S.clientDiscovery }, async (req) => {
    login(req);
    return ok(deps.queries.discoveries(browse(req)));
  });
  app.post('/api/clientdiscovery/query', { schema: S.clientDiscoveryQuery }, async (req) => {
    login(req);
    return ok(deps.queries.discoveries(listQuery(req.body, ['peerId', 'peerClientName'], { from: 'foundAtTimeFrom', to: 'foundAtTimeTo' })));
  });

  // User applications: a user sees and changes its own; an admin any.
  const item = (a: BtnApp): Obj => ({
    id: a.ref,
    appId: a.appId,
    comment: a.comment,
    createdAt: a.createdAt,
    user: userDto(deps.users().byName(a.owner)),
    bannedAt: a.bannedAt,
    lastAccessAt: a.lastSeenAt,
    bannedReason: a.bannedReason,
  });
  const mine = (u: BtnUser, appId: string): BtnApp => {
    const a = deps.findApp(appId);
    if (!a || (u.role !== 'admin' && a.owner !== u.name)) throw new BtnError('BTN_NOT_FOUND', `user application ${appId} not found`);
    return a;
  };
  const comment = (body: unknown): string => {
    const c = (body as Obj | undefined)?.comment;
    if (c !== undefined && c !== null && typeof c !== 'string') throw new BtnError('BTN_BAD_PARAMETER', '"comment" must be a string');
    return (c ?? '').slice(0, 1024);
  };
  app.get('/api/userapp', { schema: S.userApps }, async (req) => {
    const u = login(req);
    return ok(deps.listApps(u.name).map(item));
  });
  app.get('/api/userapp/:appId', { schema: S.userApp }, async (req) => ok(item(mine(login(req), (req.params as Obj).appId as string))));
  app.put('/api/userapp', { schema: S.createUserApp }, async (req) => {
    const u = login(req);
    if (deps.countOwned(u.name) >= u.maxApps) throw new BtnError('BTN_APP_LIMIT', `you have ${u.maxApps} user applications, the most allowed`);
    const { app: a, appSecret } = await deps.createApp(comment(req.body), u.name);
    return ok({ id: a.ref, appId: a.appId, appSecret, comment: a.comment, createdAt: a.createdAt, user: userDto(u) });
  });
  app.patch('/api/userapp/:appId', { schema: S.updateUserApp }, async (req) => {
    const a = mine(login(req), (req.params as Obj).appId as string);
    await deps.setComment(a.appId, comment(req.body));
    return ok(item(deps.findApp(a.appId) as BtnApp));
  });
  app.post('/api/userapp/:appId/resetAppSecret', { schema: S.resetAppSecret }, async (req) => {
    const u = login(req);
    const a = mine(u, (req.params as Obj).appId as string);
    const appSecret = (await deps.resetSecret(a.appId)) as string;
    return ok({ id: a.ref, appId: a.appId, appSecret, comment: a.comment, createdAt: a.createdAt, user: userDto(deps.users().byName(a.owner)) });
  });
  app.delete('/api/userapp/:appId', { schema: S.deleteUserApp }, async (req) => {
    const a = mine(login(req), (req.params as Obj).appId as string);
    await deps.deleteApp(a.appId);
    return ok(null, 'user application deleted');
  });

  app.get('/api/user/me', { schema: S.me }, async (req) => ok(userDto(login(req))));
  app.get('/api/user/:id', { schema: S.user }, async (req) => {
    const u = login(req);
    if (u.role !== 'admin') throw new BtnError('BTN_FORBIDDEN', 'reading other users needs the admin role');
    const other = deps.users().byId(Number((req.params as Obj).id));
    if (!other) throw new BtnError('BTN_NOT_FOUND', 'user not found');
    return ok(userDto(other));
  });

  // No login needed (as in the seed's server).
  app.get('/api/torrent/hash', { schema: S.torrentHash }, async (req) => {
    const hash = q(req).hash;
    if (typeof hash !== 'string' || !isInfoHash(hash)) throw new BtnError('BTN_BAD_PARAMETER', '"hash" must be a 40-character hex infohash');
    return ok({ torrentIdentifier: torrentIdentifier(hash) });
  });

  // The generated rules with their reasons.
  app.get('/api/rules', { schema: S.rules }, async (req) => {
    login(req);
    return ok({ ipDenylist: deps.rules.entries('deny'), ipAllowlist: deps.rules.entries('allow'), peerIdentity: deps.rules.peerIdentity() });
  });

  // One peer or one torrent: what clients submitted and what the daemon captured, together.
  app.get('/api/peer', { schema: S.peer }, async (req) => {
    login(req);
    const { ip, infohash } = q(req) as { ip?: unknown; infohash?: unknown };
    const limit = paging({ pageSize: q(req).limit ?? 100 }).pageSize;
    if (typeof ip === 'string' && ip !== '') {
      const canonical = ipParam(ip);
      return ok({ ip: canonical, ...ipReport(deps, canonical) });
    }
    if (typeof infohash === 'string' && isInfoHash(infohash)) {
      const id = torrentIdentifier(infohash);
      return ok({
        infohash: infohash.toLowerCase(),
        torrentIdentifier: id,
        bans: deps.queries.bansOf({ torrentIdentifier: id }, limit),
        swarms: deps.queries.swarmsOf({ torrentIdentifier: id }, limit),
        counts: deps.queries.countsOf({ torrentIdentifier: id }),
        captures: deps.captures.byInfohash(infohash, limit),
      });
    }
    throw new BtnError('BTN_BAD_PARAMETER', 'give "ip" (an IP address) or "infohash" (40 hex characters)');
  });
}
