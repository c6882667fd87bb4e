import type { FastifyInstance } from 'fastify';
import type { SpamConfig } from '../config/config-schema.js';
import type { Logger } from '../util/logger.js';
import { EvidenceScanner } from './evidence-scanner.js';
import type { EvidenceStore, SpamAuth, SpamStore, SpamVerdicts } from './ports.js';
import { registerSpamRoutes } from './spam-routes.js';
import { SpamService } from './spam-service.js';

export interface SpamModuleDeps {
  store: SpamStore;
  evidence: EvidenceStore;
  /** The current API keys (swapped on reload). */
  keys(): SpamAuth;
  logger: Logger;
  now?: () => number;
}

export interface SpamModule {
  /** The routes as the HTTP server takes a domain's (structurally http/'s HttpModule; none when spam.enabled is false). */
  http: { name: string; stdRespPrefixes: readonly string[]; register(app: FastifyInstance): void };
  start(): void;
  stop(): void;
  /** What other domains (BTN rules) read: count, listed, evidence reasons of a torrent. */
  verdicts: SpamVerdicts;
  service: SpamService;
  scanner: EvidenceScanner;
  stats(): Record<string, unknown>;
}

/** The spam list: TorrentSpam-compatible reports, lists, checks and badges, fed by evidence from captures. */
export function createSpamModule(deps: SpamModuleDeps, options: () => SpamConfig): SpamModule {
  const logger = deps.logger.child({ component: 'spam' });
  const service = new SpamService(deps.store, options, deps.now);
  const scanner = new EvidenceScanner({ evidence: deps.evidence, spam: deps.store, logger, ...(deps.now ? { now: deps.now } : {}) }, () => options().evidence);
  return {
    http: {
      name: 'spam',
      stdRespPrefixes: [],
      register(app) {
        if (options().enabled) registerSpamRoutes(app, { service, keys: deps.keys, options });
      },
    },
    start() {
      if (options().enabled) scanner.start();
    },
    stop() {
      scanner.stop();
    },
    verdicts: service,
    service,
    scanner,
    stats: () => ({ reports: service.stats, evidence: scanner.stats }),
  };
}
