import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { BtnConfig } from '../config/config-schema.js';
import type { Logger } from '../util/logger.js';
import { inWriteTurn, withWriteTurn, type WriteTurnPort } from '../util/write-turn-port.js';
import { BtnApps } from './btn-apps.js';
import { BtnIngest } from './btn-ingest.js';
import { BtnUsers } from './btn-users.js';
import { DecodePool } from './decode-pool.js';
import { registerLoginRoutes } from './login-routes.js';
import { OAuthLogin } from './oauth-login.js';
import { PowCaptcha } from './pow-captcha.js';
import { registerPingRoutes } from './ping-routes.js';
import type { BtnAppStore, BtnQueryStore, BtnSubmissionStore, BtnUserStore, CaptureEvidence, SpamListSource } from './ports.js';
import { registerQueryRoutes } from './query-routes.js';
import { parseJson, readBody, readRawBody } from './request-body.js';
import { BtnRules } from './rules.js';

export interface BtnDeps {
  apps: BtnAppStore;
  submissions: BtnSubmissionStore;
  queries: BtnQueryStore;
  captures: CaptureEvidence;
  users: BtnUserStore;
  /** The spam list as a rule source (absent: no spam entries). */
  spam?: SpamListSource;
  /** The write turn of the store's write thread: the module's periodic writes on the daemon's connection take it. */
  writeTurn?: WriteTurnPort;
  logger: Logger;
}

export interface BtnModuleOptions {
  /** The current `btn:` section (re-read on every request: a reload applies at once). */
  config: () => BtnConfig;
  /** Raw bytes read and discarded after a too-large body before the connection is closed instead. */
  maxDrainBytes?: number;
  /** Evidence-based lists are recomputed at most this often (ms). */
  rulesRefreshMs?: number;
  /** Swarm rows per write transaction (default 1,000: a longer batch is stored in parts, the API served between them). */
  swarmChunkRows?: number;
  /** Threads that inflate, parse and normalise submissions (default 1; 0: on the event loop). */
  decodeThreads?: number;
}

/** The routes as the HTTP server takes a domain's (structurally http/'s HttpModule: btn/ does not import http/). */
export interface BtnRoutes {
  name: string;
  /** URL prefixes whose errors use the Sparkle body `{success: false, message, data: null}`. */
  stdRespPrefixes: readonly string[];
  register(app: FastifyInstance): Promise<void>;
}

export interface BtnModule {
  http: BtnRoutes;
  start(): void;
  stop(): void;
  status(): Record<string, unknown>;
}

/**
 * The BTN server (issue 10): PeerBanHelper's client protocol under /ping/ and the Sparkle query
 * API under /api/, on the daemon's HTTP server. Nothing is registered while `btn.enabled` is false.
 */
export function createBtnModule(deps: BtnDeps, options: BtnModuleOptions): BtnModule {
  const config = options.config;
  const apps = new BtnApps(deps.apps, {
    get autoAccount() {
      return config().autoAccount;
    },
  });
  const decode = (options.decodeThreads ?? 1) > 0 ? new DecodePool({ threads: options.decodeThreads ?? 1 }) : undefined;
  const ingest = new BtnIngest(deps.submissions, {
    ...(options.swarmChunkRows !== undefined ? { swarmChunkRows: options.swarmChunkRows } : {}),
    ...(decode ? { decode } : {}),
    maxBodyBytes: () => config().maxBodyBytes,
  });
  const rules = new BtnRules(
    { config, queries: deps.queries, captures: deps.captures, ...(deps.spam ? { spam: deps.spam } : {}) },
    { refreshMs: options.rulesRefreshMs ?? 60_000 },
  );
  const pow = new PowCaptcha(() => config().powCaptcha);
  const users = new BtnUsers(config, deps.users);
  const oauth = new OAuthLogin({ config, users });
  const log = deps.logger.child({ component: 'btn' });
  let timer: NodeJS.Timeout | undefined;

  const register = async (app: FastifyInstance): Promise<void> => {
    if (!config().enabled) return;
    await app.register(async (scope) => {
      // BTN bodies are gzip + chunked JSON of unknown length (spec §1.3): inflated here as a
      // stream with a cap on the decoded size, for every content type the client may send.
      scope.removeAllContentTypeParsers();
      // Submissions (routes with config.rawBody) are only read here: the decode thread inflates and parses them.
      scope.addContentTypeParser('*', async (req: FastifyRequest, payload: NodeJS.ReadableStream) => {
        const enc = req.headers['content-encoding'];
        const limits = { maxBytes: config().maxBodyBytes, maxDrainBytes: options.maxDrainBytes ?? 4 * config().maxBodyBytes };
        const stream = payload as import('node:stream').Readable;
        const encoding = typeof enc === 'string' ? enc : undefined;
        if ((req.routeOptions.config as { rawBody?: boolean } | undefined)?.rawBody) return await readRawBody(stream, encoding, limits);
        return parseJson(await readBody(stream, encoding, limits));
      });
      const pingDeps = { config, apps, ingest, rules, submissions: deps.submissions, queries: deps.queries, captures: deps.captures, pow };
      registerPingRoutes(scope, pingDeps);
      registerQueryRoutes(scope, {
        ...pingDeps,
        users: () => users,
        listApps: (owner) => deps.apps.list(owner),
        findApp: (appId) => deps.apps.find(appId),
        createApp: inWriteTurn(deps.writeTurn, (c: string, owner: string) => apps.create(c, owner)),
        resetSecret: inWriteTurn(deps.writeTurn, (appId: string) => apps.resetSecret(appId)),
        setComment: inWriteTurn(deps.writeTurn, (appId: string, c: string) => deps.apps.setComment(appId, c)),
        deleteApp: inWriteTurn(deps.writeTurn, (appId: string) => deps.apps.delete(appId)),
        countOwned: (owner) => deps.apps.countOwned(owner),
      });
      registerLoginRoutes(scope, { config, users, oauth });
    });
    log.info({ publicUrl: config().publicUrl }, 'BTN server enabled: /ping/config, /api/');
  };

  return {
    http: { name: 'btn', stdRespPrefixes: ['/ping/', '/api/', '/auth/'], register },
    start() {
      decode?.start();
      // In the write turn: while the write thread writes a batch, these wait for it (not in SQLite's busy handler).
      timer = setInterval(() => {
        void withWriteTurn(deps.writeTurn, () => apps.flushSeen()).catch((err: unknown) => log.warn({ err }, 'BTN last-seen update failed'));
        void withWriteTurn(deps.writeTurn, () => deps.users.purgeSessions(Date.now(), 1000)).catch((err: unknown) =>
          log.warn({ err }, 'BTN expired-session purge failed'),
        );
      }, 30_000);
      timer.unref();
    },
    stop() {
      void decode?.close();
      if (timer) clearInterval(timer);
      timer = undefined;
      try {
        apps.flushSeen(true);
      } catch (err) {
        log.warn({ err }, 'BTN last-seen update failed');
      }
    },
    status: () => ({ enabled: config().enabled, ingest: ingest.status(), ...(decode ? { decode: decode.status() } : {}), powSessions: pow.size(), oauthLoginsPending: oauth.size() }),
  };
}
