import ipaddr from 'ipaddr.js';
import type { RouteSchema } from '../api-shape/route-schema.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BtnConfig } from '../config/config-schema.js';
import { PING_SCHEMAS as S } from './btn-schemas.js';
import { torrentIdentifier } from './torrent-identifier.js';
import { BtnError } from './btn-error.js';
import type { BtnApps } from './btn-apps.js';
import type { BtnIngest, RawSubmission, SubmissionKind } from './btn-ingest.js';
import { readCredentials } from './credentials.js';
import { normalizeIp } from './normalize.js';
import { pingConfig, protocolVersion, ROUTES } from './ping-config.js';
import type { BtnApp, BtnQueryStore, BtnSubmissionStore, CaptureEvidence } from './ports.js';
import type { BtnRules } from './rules.js';
import type { PowCaptcha } from './pow-captcha.js';

export interface PingDeps {
  config: () => BtnConfig;
  apps: BtnApps;
  ingest: BtnIngest;
  rules: BtnRules;
  submissions: BtnSubmissionStore;
  queries: BtnQueryStore;
  captures: CaptureEvidence;
  pow: PowCaptcha;
}

type Query = Record<string, unknown>;

function auth(deps: PingDeps, req: FastifyRequest): BtnApp {
  return deps.apps.authenticate(readCredentials(req.headers, req.query as Query));
}

function rev(req: FastifyRequest): string | undefined {
  const r = (req.query as Query).rev;
  return typeof r === 'string' ? r : undefined;
}

const ok = (data: unknown, message: string | null = null): { success: true; message: string | null; data: unknown } => ({
  success: true,
  message,
  data,
});

/** The §3.7 answer about one IP, from submissions, the generated lists and the daemon's captures. */
export function ipReport(deps: PingDeps, ip: string): Record<string, unknown> {
  const t0 = Date.now();
  const bans = deps.queries.bansOf({ ip }, 100);
  const t1 = Date.now();
  const swarms = deps.queries.swarmsOf({ ip }, 100);
  const t2 = Date.now();
  const counts = deps.queries.countsOf({ ip });
  const captured = deps.captures.byIp(ip, 100);
  const t3 = Date.now();
  const denied = deps.rules.entries('deny').filter((e) => e.ip === ip);
  const allowed = deps.rules.entries('allow').filter((e) => e.ip === ip);
  const labels = [
    ...denied.map((e) => `denylist: ${e.reason}`),
    ...allowed.map((e) => `allowlist: ${e.reason}`),
    ...(captured.length ? [`captured by this daemon ${captured.length} time(s)`] : []),
  ];
  const color = allowed.length ? 'green' : denied.length ? 'red' : counts.bans > 0 ? 'orange' : 'gray';
  return {
    color,
    labels,
    bans: {
      duration: t1 - t0,
      total: counts.bans,
      records: bans.map((b) => ({
        populate_time: b.banAt,
        torrent: String(b.torrent.id),
        peer_ip: b.peerIp,
        peer_port: b.peerPort,
        peer_id: b.peerId,
        peer_client_name: b.peerClientName,
        peer_progress: b.peerProgress,
        peer_flags: b.flags,
        reporter_progress: b.downloaderProgress,
        to_peer_traffic: b.toPeerTraffic,
        from_peer_traffic: b.fromPeerTraffic,
        module_name: b.module,
        rule: b.rule,
        description: b.description,
        structured_data: JSON.parse(b.structuredData) as unknown,
      })),
    },
    swarms: {
      duration: t2 - t1,
      total: counts.swarms,
      records: swarms.map((s) => ({
        torrent: s.torrent,
        peer_ip: s.peerIp,
        peer_port: s.peerPort,
        peer_id: s.peerId,
        peer_client_name: s.peerClientName,
        peer_progress: s.peerProgress,
        from_peer_traffic: s.fromPeerTraffic,
        to_peer_traffic: s.toPeerTraffic,
        from_peer_traffic_offset: s.fromPeerTrafficOffset,
        to_peer_traffic_offset: s.toPeerTrafficOffset,
        flags: s.flags,
        first_time_seen: s.firstSeen,
        last_time_seen: s.lastSeen,
        user_progress: s.userProgress,
      })),
      concurrent_download_torrents_count: swarms.filter((s) => s.userProgress < 1).length,
      concurrent_seeding_torrents_count: swarms.filter((s) => s.userProgress >= 1).length,
    },
    traffic: {
      duration: t2 - t1,
      to_peer_traffic: counts.toPeerTraffic,
      from_peer_traffic: counts.fromPeerTraffic,
      share_ratio: counts.fromPeerTraffic > 0 ? counts.toPeerTraffic / counts.fromPeerTraffic : 0,
    },
    torrents: { duration: t2 - t1, count: counts.torrents },
    captures: {
      duration: t3 - t2,
      total: captured.length,
      records: captured.map((c) => ({ ...c, torrent_identifier: torrentIdentifier(c.infohash) })),
    },
  };
}

/** An IP to ask about, canonical (private and reserved addresses may be asked about too). */
export function ipParam(raw: unknown): string {
  const ip = normalizeIp(raw);
  if (typeof ip === 'string') return ip;
  if (typeof raw === 'string' && ip.reason === 'ip_not_public') {
    const t = raw.trim().replace(/%.*$/, '');
    return ipaddr.process(t).toString();
  }
  throw new BtnError('BTN_BAD_PARAMETER', 'parameter "ip" must be an IP address');
}

function queryIp(req: FastifyRequest): string {
  return ipParam((req.query as Query).ip);
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

function widget(ip: string, report: Record<string, unknown>): string {
  const bans = report.bans as { total: number; records: Array<Record<string, unknown>> };
  const swarms = report.swarms as { total: number };
  const captures = report.captures as { total: number };
  const rows = bans.records
    .slice(0, 20)
    .map((b) => `<tr><td>${new Date(b.populate_time as number).toISOString()}</td><td>${escapeHtml(String(b.peer_client_name ?? ''))}</td><td>${escapeHtml(String(b.rule))}</td></tr>`)
    .join('');
  const labels = (report.labels as string[]).map((l) => `<li>${escapeHtml(l)}</li>`).join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>BTN: ${escapeHtml(ip)}</title>
<style>body{font-family:sans-serif;margin:8px}table{border-collapse:collapse}td{border:1px solid #ccc;padding:2px 6px}</style></head>
<body><h3 style="color:${escapeHtml(String(report.color))}">${escapeHtml(ip)}</h3><ul>${labels}</ul>
<p>${bans.total} ban(s), ${swarms.total} swarm record(s), ${captures.total} capture(s) by this daemon</p>
<table><tr><th>time</th><th>client</th><th>rule</th></tr>${rows}</table></body></html>`;
}

/** The BTN client protocol (spec §2–§4) under /ping/. */
export function registerPingRoutes(app: FastifyInstance, deps: PingDeps): void {
  app.get(ROUTES.config, { schema: S.config }, async (req) => {
    auth(deps, req);
    return pingConfig(deps.config(), protocolVersion(req.headers['user-agent']));
  });

  const submit = (route: string, kind: SubmissionKind, schema: RouteSchema): void => {
    // rawBody: the body arrives read but not inflated (module.ts), for the decode thread.
    app.post(route, { schema, config: { rawBody: true } }, async (req) => {
      const a = auth(deps, req);
      const body = req.body as RawSubmission | undefined;
      const r = body?.bytes instanceof Uint8Array ? await deps.ingest.ingestRaw(kind, a.ref, body) : await deps.ingest.ingest(kind, a.ref, body);
      return ok(r, `${r.inserted + r.updated + r.unchanged} of ${r.received} rows accepted`);
    });
  };
  submit(ROUTES.submitBans, 'submit_bans', S.submitBans);
  submit(ROUTES.submitSwarm, 'submit_swarm', S.submitSwarm);
  submit(ROUTES.submitHistories, 'submit_histories', S.submitHistories);
  submit(ROUTES.legacySubmitPeers, 'legacy_submit_peers', S.legacySubmitPeers);
  submit(ROUTES.legacySubmitBans, 'legacy_submit_bans', S.legacySubmitBans);

  const identity = async (req: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    auth(deps, req);
    const set = deps.rules.peerIdentity();
    reply.header('X-BTN-ContentVersion', set.version);
    // Never 204 to rev=initial: a client without a cached ruleset fails on it (spec §3.4).
    const r = rev(req);
    if (r !== undefined && r !== 'initial' && r === set.version) return reply.code(204).send();
    return set;
  };
  app.get(ROUTES.ruleIdentity, { schema: S.ruleIdentity }, identity);
  app.get(ROUTES.legacyRules, { schema: S.legacyRules }, identity);

  for (const [route, which, schema] of [
    [ROUTES.ipDenylist, 'deny', S.ipDenylist],
    [ROUTES.ipAllowlist, 'allow', S.ipAllowlist],
  ] as const) {
    app.get(route, { schema }, async (req, reply) => {
      auth(deps, req);
      const list = deps.rules.ipList(which);
      reply.header('X-BTN-ContentVersion', list.version);
      if (rev(req) === list.version) return reply.code(204).send();
      return reply.type('text/plain; charset=utf-8').send(list.text);
    });
  }

  app.post(ROUTES.heartbeat, { schema: S.heartbeat }, async (req) => {
    // multi_if:false heartbeats carry no credentials (spec §3.6): answered, not recorded.
    const creds = readCredentials(req.headers, req.query as Query);
    const externalIp = req.ip;
    if (creds) {
      const a = deps.apps.authenticate(creds);
      const body = req.body as { ifaddr?: unknown } | undefined;
      const ifaddr = typeof body?.ifaddr === 'string' ? body.ifaddr.slice(0, 128) : 'default';
      await deps.submissions.putHeartbeat(a.ref, ifaddr, externalIp, Date.now());
    }
    return { external_ip: externalIp };
  });

  app.get(ROUTES.ipQuery, { schema: S.ipQuery }, async (req) => {
    auth(deps, req);
    deps.pow.require(req.headers);
    return ipReport(deps, queryIp(req));
  });

  app.get(ROUTES.ipQueryWidget, { schema: S.ipQueryWidget }, async (req, reply) => {
    auth(deps, req);
    const ip = queryIp(req);
    return reply.type('text/html; charset=utf-8').send(widget(ip, ipReport(deps, ip)));
  });

  app.get(ROUTES.captcha, { schema: S.captcha }, async (req) => {
    auth(deps, req);
    return deps.pow.create();
  });
}
