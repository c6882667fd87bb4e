import { z } from 'zod';
import { json, media, named, noBody, type RouteSchema } from '../api-shape/route-schema.js';

/** What the BTN routes declare for /openapi.json (docs/api.md, "BTN server", in words). Errors are Sparkle-shaped. */

const APP_CREDENTIALS = ['BTN_NO_CREDENTIALS', 'BTN_APP_NOT_FOUND', 'BTN_APP_BANNED'] as const;
const BODY = ['BTN_BODY_TOO_LARGE', 'BTN_BAD_BODY', 'STORAGE_UNAVAILABLE'] as const;
const LOGIN = ['BTN_LOGIN_REQUIRED'] as const;
const APP_SECURITY = [{ btnApp: [], btnAppSecret: [] }];
const USER_SECURITY: Array<Record<string, string[]>> = [{ btnUser: [] }, { btnSession: [] }];
const PING = ['BTN client protocol'];
const QUERY = ['BTN query API'];

/** `{success: true, message, data}`. */
const ok = (data: z.ZodType): z.ZodObject => z.strictObject({ success: z.literal(true), message: z.string().nullable(), data });
const page = (item: z.ZodType): z.ZodObject => z.strictObject({ page: z.int().min(0), size: z.int().min(0), total: z.int().min(0), results: z.array(item) });
const ms = z.int().describe('epoch ms');

const ingestResult = named(
  'BtnIngestResult',
  z.strictObject({
    submitId: z.string(),
    received: z.int().min(0),
    inserted: z.int().min(0),
    updated: z.int().min(0),
    unchanged: z.int().min(0),
    dropped: z.record(z.string(), z.int().min(0)).describe('rows dropped, by reason'),
  }),
);

const peerIdentity = named(
  'BtnPeerIdentityRuleset',
  z.strictObject({
    version: z.string(),
    peer_id: z.record(z.string(), z.array(z.string())),
    client_name: z.record(z.string(), z.array(z.string())),
    ip: z.record(z.string(), z.array(z.string())),
    port: z.record(z.string(), z.array(z.int())),
    script: z.record(z.string(), z.unknown()),
  }),
);

const ability = z.looseObject({ interval: z.int().positive().optional(), random_initial_delay: z.int().min(0).optional(), endpoint: z.string().optional() });
const pingConfig = named(
  'BtnConfig',
  z.strictObject({
    min_protocol_version: z.int(),
    max_protocol_version: z.int(),
    ability: z.record(z.string(), ability),
    proof_of_work_captcha: z.strictObject({ endpoint: z.string() }).optional(),
  }),
);

const snapshotItem = named(
  'BtnSnapshot',
  z.strictObject({
    id: z.int(),
    appId: z.string(),
    submitId: z.string(),
    peerIp: z.string(),
    peerPort: z.int(),
    peerId: z.string().nullable(),
    peerClientName: z.string().nullable(),
    torrent: z.strictObject({ id: z.int(), identifier: z.string(), size: z.number(), privateTorrent: z.boolean() }),
    fromPeerTraffic: z.number(),
    fromPeerTrafficSpeed: z.number(),
    toPeerTraffic: z.number(),
    toPeerTrafficSpeed: z.number(),
    peerProgress: z.number(),
    downloaderProgress: z.number(),
    flags: z.string().nullable(),
  }),
);
const banItem = named(
  'BtnBan',
  snapshotItem.extend({
    banAt: ms,
    btnBan: z.boolean(),
    module: z.string(),
    rule: z.string(),
    description: z.string(),
    banUniqueId: z.string().nullable(),
    structuredData: z.string().describe('JSON text'),
  }),
);
const discoveryItem = named(
  'BtnClientDiscovery',
  z.strictObject({ hash: z.number(), clientName: z.string(), peerId: z.string(), foundAt: ms, source: z.enum(['btn', 'capture']) }),
);

export const user = named(
  'BtnUser',
  z.strictObject({
    id: z.int(),
    avatar: z.string().nullable(),
    nickname: z.string(),
    email: z.string().nullable(),
    registerAt: z.int().nullable(),
    lastSeenAt: z.int().nullable(),
    bannedAt: z.int().nullable(),
    bannedReason: z.string().nullable(),
  }),
);
const userApp = named(
  'BtnUserApp',
  z.strictObject({
    id: z.int(),
    appId: z.string(),
    comment: z.string(),
    createdAt: ms,
    user: user.nullable(),
    bannedAt: z.int().nullable(),
    lastAccessAt: z.int().nullable(),
    bannedReason: z.string().nullable(),
  }),
);
const newSecret = z.strictObject({ id: z.int(), appId: z.string(), appSecret: z.string(), comment: z.string(), createdAt: ms, user: user.nullable() });

const ipReport = named(
  'BtnIpReport',
  z.looseObject({
    color: z.enum(['green', 'red', 'orange', 'gray']),
    labels: z.array(z.string()),
    bans: z.looseObject({ duration: z.number(), total: z.int(), records: z.array(z.looseObject({})) }),
    swarms: z.looseObject({ duration: z.number(), total: z.int(), records: z.array(z.looseObject({})) }),
    traffic: z.looseObject({ to_peer_traffic: z.number(), from_peer_traffic: z.number(), share_ratio: z.number() }),
    torrents: z.looseObject({ count: z.int() }),
    captures: z.looseObject({ total: z.int(), records: z.array(z.looseObject({})) }),
  }),
);

const rev = z.object({ rev: z.string().optional().describe('the version the client has: 204 when it is still current (never for "initial")') });
const paging = z.object({ page: z.string().optional().describe('0-based, default 0'), pageSize: z.string().optional().describe('default 100, at most 3000') });
const queryBody = z.looseObject({ page: z.int().optional(), pageSize: z.int().optional(), orConnector: z.boolean().optional(), sortBy: z.array(z.string()).optional(), sortOrder: z.enum(['ASC', 'DESC']).optional() }).describe('conditions: <field>, <field>CompareMethod (docs/api.md)');
const appIdParams = z.object({ appId: z.string() });
const comment = z.object({ comment: z.string().optional() });

const submission = (summary: string): RouteSchema => ({
  summary,
  tags: PING,
  security: APP_SECURITY,
  consumes: ['application/json'],
  body: z.looseObject({}).describe('JSON, may be gzip or deflate (Content-Encoding), chunked'),
  response: { 200: json('accepted', ok(ingestResult)) },
  errors: [...APP_CREDENTIALS, ...BODY, 'BTN_BAD_PARAMETER'],
});

const ipList = (which: string): RouteSchema => ({
  summary: `The generated IP ${which} (text: a "# reason" line, then the IP or CIDR)`,
  tags: PING,
  security: APP_SECURITY,
  querystring: rev,
  response: {
    200: media('the list; X-BTN-ContentVersion = SHA-256 of the text', { 'text/plain': z.string() }),
    204: noBody('rev is the current version'),
  },
  errors: APP_CREDENTIALS,
});

const identity: RouteSchema = {
  summary: 'The peer-identity ruleset',
  tags: PING,
  security: APP_SECURITY,
  querystring: rev,
  response: { 200: json('the ruleset (X-BTN-ContentVersion = its version)', peerIdentity), 204: noBody('rev is the current version') },
  errors: APP_CREDENTIALS,
};

export const PING_SCHEMAS = {
  config: {
    summary: 'The config document: abilities and endpoints, by BTN-Protocol-Version in the User-Agent',
    tags: PING,
    security: APP_SECURITY,
    response: { 200: json('the config', pingConfig) },
    errors: APP_CREDENTIALS,
  },
  submitBans: submission('submit_bans: {bans: [...]}'),
  submitSwarm: submission('submit_swarm: {swarms: [...]}'),
  submitHistories: submission('submit_histories: {populate_time, peers: [...]}'),
  legacySubmitPeers: submission('legacy submit_peers: {populate_time, peers: [...]}'),
  legacySubmitBans: submission('legacy submit_bans: {populate_time, bans: [...]}'),
  ruleIdentity: identity,
  legacyRules: { ...identity, summary: 'The peer-identity ruleset (legacy route)' },
  ipDenylist: ipList('denylist'),
  ipAllowlist: ipList('allowlist'),
  heartbeat: {
    summary: 'Heartbeat: the address the server sees (recorded only with credentials)',
    tags: PING,
    security: [...APP_SECURITY, {}],
    consumes: ['application/json'],
    body: z.looseObject({ ifaddr: z.string().optional() }),
    response: { 200: json('the external address', z.strictObject({ external_ip: z.string() })) },
    errors: [...APP_CREDENTIALS, ...BODY],
  },
  ipQuery: {
    summary: 'What the server knows about an IP: bans, swarms, traffic, and the captures of this daemon',
    tags: PING,
    security: APP_SECURITY,
    querystring: z.object({ ip: z.string().describe('an IP address') }),
    response: { 200: json('the report', ipReport) },
    errors: [...APP_CREDENTIALS, 'BTN_BAD_PARAMETER', 'BTN_POW_FAILED'],
  },
  ipQueryWidget: {
    summary: 'The same report as an HTML page (the client shows it in an iframe)',
    tags: PING,
    security: APP_SECURITY,
    querystring: z.object({ ip: z.string(), appId: z.string().optional(), appSecret: z.string().optional() }),
    response: { 200: media('the page', { 'text/html': z.string() }) },
    errors: [...APP_CREDENTIALS, 'BTN_BAD_PARAMETER'],
  },
  captcha: {
    summary: 'A proof-of-work challenge (when btn.powCaptcha.enabled; 404 otherwise)',
    tags: PING,
    security: APP_SECURITY,
    querystring: z.object({ type: z.string().optional() }),
    response: {
      200: json('the challenge', z.strictObject({ id: z.string(), challengeBase64: z.string(), difficultyBits: z.int(), algorithm: z.literal('SHA-256'), expireAt: ms })),
    },
    errors: [...APP_CREDENTIALS, 'BTN_NOT_FOUND'],
  },
} satisfies Record<string, RouteSchema>;

const list = (summary: string, item: z.ZodType, query: boolean): RouteSchema => ({
  summary,
  tags: QUERY,
  security: USER_SECURITY,
  ...(query ? { body: queryBody, consumes: ['application/json'] } : { querystring: paging }),
  response: { 200: json('a page', ok(page(item))) },
  errors: [...LOGIN, 'BTN_BAD_PARAMETER', 'BTN_PAGE_TOO_LARGE', ...(query ? (['QUERY_FIELD_INVALID', 'BTN_BAD_BODY', 'BTN_BODY_TOO_LARGE'] as const) : [])],
});

export const QUERY_SCHEMAS = {
  snapshot: list('Swarm snapshots, newest first', snapshotItem, false),
  snapshotQuery: list('Swarm snapshots matching conditions', snapshotItem, true),
  banHistory: list('Ban history, newest first', banItem, false),
  banHistoryQuery: list('Ban history matching conditions', banItem, true),
  clientDiscovery: list('First-seen client names with their peer id prefix', discoveryItem, false),
  clientDiscoveryQuery: list('Client discoveries matching conditions', discoveryItem, true),
  userApps: {
    summary: 'Your user applications (admin: all)',
    tags: QUERY,
    security: USER_SECURITY,
    response: { 200: json('the applications', ok(z.array(userApp))) },
    errors: LOGIN,
  },
  userApp: {
    summary: 'One user application',
    tags: QUERY,
    security: USER_SECURITY,
    params: appIdParams,
    response: { 200: json('the application', ok(userApp)) },
    errors: [...LOGIN, 'BTN_NOT_FOUND'],
  },
  createUserApp: {
    summary: 'Create a user application (its secret is shown once)',
    tags: QUERY,
    security: USER_SECURITY,
    consumes: ['application/json'],
    body: comment,
    response: { 200: json('the new application with its secret', ok(newSecret)) },
    errors: [...LOGIN, ...BODY, 'BTN_BAD_PARAMETER', 'BTN_APP_LIMIT'],
  },
  updateUserApp: {
    summary: "Change a user application's comment",
    tags: QUERY,
    security: USER_SECURITY,
    params: appIdParams,
    consumes: ['application/json'],
    body: comment,
    response: { 200: json('the application', ok(userApp)) },
    errors: [...LOGIN, ...BODY, 'BTN_BAD_PARAMETER', 'BTN_NOT_FOUND'],
  },
  resetAppSecret: {
    summary: 'A new secret for a user application (shown once)',
    tags: QUERY,
    security: USER_SECURITY,
    params: appIdParams,
    response: { 200: json('the application with its new secret', ok(newSecret)) },
    errors: [...LOGIN, 'BTN_NOT_FOUND', 'STORAGE_UNAVAILABLE'],
  },
  deleteUserApp: {
    summary: 'Delete a user application (soft delete)',
    tags: QUERY,
    security: USER_SECURITY,
    params: appIdParams,
    response: { 200: json('deleted', ok(z.null())) },
    errors: [...LOGIN, 'BTN_NOT_FOUND', 'STORAGE_UNAVAILABLE'],
  },
  me: { summary: 'The logged-in user', tags: QUERY, security: USER_SECURITY, response: { 200: json('the user', ok(user)) }, errors: LOGIN },
  logout: {
    summary: 'Log out: ends the session used (a configured token has none to end)',
    tags: QUERY,
    security: USER_SECURITY,
    response: { 200: media('empty', { 'text/plain': z.literal('') }) },
    errors: LOGIN,
  },
  user: {
    summary: 'Another user (admin role)',
    tags: QUERY,
    security: USER_SECURITY,
    params: z.object({ id: z.string() }),
    response: { 200: json('the user', ok(user)) },
    errors: [...LOGIN, 'BTN_FORBIDDEN', 'BTN_NOT_FOUND'],
  },
  torrentHash: {
    summary: "A torrent's identifier as BTN clients compute it (no login)",
    tags: QUERY,
    querystring: z.object({ hash: z.string().describe('40 hex characters') }),
    response: { 200: json('the identifier', ok(z.strictObject({ torrentIdentifier: z.string() }))) },
    errors: ['BTN_BAD_PARAMETER'],
  },
  rules: {
    summary: 'The generated lists with the reason of each entry, and the peer-identity ruleset',
    tags: QUERY,
    security: USER_SECURITY,
    response: {
      200: json('the rules', ok(z.strictObject({ ipDenylist: z.array(z.looseObject({ ip: z.string(), reason: z.string() })), ipAllowlist: z.array(z.looseObject({ ip: z.string(), reason: z.string() })), peerIdentity }))),
    },
    errors: LOGIN,
  },
  peer: {
    summary: 'One peer (ip) or one torrent (infohash): what clients submitted and what the daemon captured',
    tags: QUERY,
    security: USER_SECURITY,
    querystring: z.object({ ip: z.string().optional(), infohash: z.string().optional(), limit: z.string().optional().describe('default 100, at most 3000') }),
    response: { 200: json('the evidence', ok(z.looseObject({}))) },
    errors: [...LOGIN, 'BTN_BAD_PARAMETER', 'BTN_PAGE_TOO_LARGE'],
  },
} satisfies Record<string, RouteSchema>;
