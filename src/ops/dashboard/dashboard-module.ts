import { Counter, Gauge, type Registry } from 'prom-client';
import type { Config } from '../../config/config-schema.js';
import type { Logger } from '../../util/logger.js';
import type { OpsSources } from '../ports.js';
import { loadDashboardAssets } from './dashboard-assets.js';
import { DashboardSessions } from './dashboard-auth.js';
import { DashboardData } from './dashboard-data.js';
import { registerDashboardRoutes } from './dashboard-routes.js';
import type { DashboardHttp, DashboardKeys, DashboardStore } from './ports.js';
import { SseHub } from './sse-hub.js';

export interface DashboardDeps {
  store: DashboardStore;
  sources: OpsSources;
  keys(): DashboardKeys;
  /** Infohashes listed by enabled filters. */
  watchedCount(): number;
  logger: Logger;
}

export type DashboardOptions = Config['dashboard'];

export interface DashboardModule {
  /** The routes under /dashboard/ (absent when dashboard.enabled is false). */
  readonly http: DashboardHttp | undefined;
  /** Adds the live-stream metrics (clients, events sent / dropped, connections) to the registry. */
  registerMetrics(registry: Registry): void;
  /** Starts the tick that samples the daemon and pushes it to the open streams. */
  start(): void;
  stop(): void;
}

/** Bytes a stream may have unsent before its events are dropped (a tick is ~1 kB). */
const MAX_BUFFERED_BYTES = 64 * 1024;

/** The web dashboard: page, login, JSON summary (rollup queries) and a live event stream. */
export function createDashboard(deps: DashboardDeps, options: DashboardOptions): DashboardModule {
  const data = new DashboardData({ store: deps.store, sources: deps.sources, watchedCount: deps.watchedCount });
  const hub = new SseHub({ maxClients: options.maxClients, heartbeatMs: options.heartbeatMs, maxBufferedBytes: MAX_BUFFERED_BYTES, maxSkippedInARow: 6 });
  const log = deps.logger.child({ component: 'dashboard' });
  let timer: NodeJS.Timeout | undefined;
  let latest: ReturnType<DashboardData['sample']> | undefined;
  const tick = (): void => {
    try {
      latest = data.sample();
      hub.broadcast('live', latest);
    } catch (err) {
      log.warn({ err }, 'dashboard sample failed');
    }
  };

  const http: DashboardHttp | undefined = options.enabled
    ? {
        name: 'dashboard',
        stdRespPrefixes: [],
        register(app) {
          const assets = loadDashboardAssets();
          registerDashboardRoutes(app, {
            sessions: new DashboardSessions(deps.keys, { ttlMs: options.sessionTtlMs, maxSessions: 1000 }),
            sessionTtlMs: options.sessionTtlMs,
            summary: (range) => data.summary(range),
            latest: () => (latest ??= data.sample()),
            hub,
            page: assets.page,
            asset: assets.asset,
          });
        },
      }
    : undefined;

  return {
    http,
    registerMetrics(registry) {
      const P = 'capture_daemon_dashboard_';
      new Gauge({
        name: `${P}streams`,
        help: 'Open live streams (server-sent events) of the dashboard',
        registers: [registry],
        collect() {
          this.set(hub.stats().clients);
        },
      });
      new Counter({
        name: `${P}stream_events_total`,
        help: 'Live events of the dashboard, by result (dropped: the client was not reading)',
        labelNames: ['result'],
        registers: [registry],
        collect() {
          const s = hub.stats();
          this.reset();
          this.inc({ result: 'sent' }, s.eventsSent);
          this.inc({ result: 'dropped' }, s.eventsDropped);
        },
      });
      new Counter({
        name: `${P}stream_connections_total`,
        help: 'Live stream connections, by result (refused: dashboard.maxClients reached; closed_slow: closed for not reading)',
        labelNames: ['result'],
        registers: [registry],
        collect() {
          const s = hub.stats();
          this.reset();
          this.inc({ result: 'accepted' }, s.accepted);
          this.inc({ result: 'refused' }, s.refused);
          this.inc({ result: 'closed_slow' }, s.closedSlow);
        },
      });
    },
    start() {
      if (!options.enabled) return;
      tick();
      timer = setInterval(tick, options.tickMs);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
      hub.close();
    },
  };
}
