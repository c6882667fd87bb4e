import { fileSize } from '../util/file-size.js';
import type { Config } from '../config/config-schema.js';
import type { Registry } from 'prom-client';
import type { Logger } from '../util/logger.js';
import { createDashboard, type DashboardDeps } from './dashboard/dashboard-module.js';
import type { DashboardHttp } from './dashboard/ports.js';
import { HealthMonitor, type HealthReport } from './health.js';
import { createMetrics, registerRetentionPaceMetrics, type MetricsObservers } from './metrics.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import type { OpsSources, OpsStore, RetentionSteps, RetentionTarget, RetentionThreadStatus } from './ports.js';
import { Retention, type RetentionStatus } from './retention.js';
import { WalCheckpointer, type WalCheckpointStatus } from '../store/wal-checkpointer.js';

export interface OpsDeps {
  logger: Logger;
  store: OpsStore;
  /** Read lazily (at scrape, check or status time): objects built after the module are fine. */
  sources: OpsSources & { apiListening(): boolean | 'none' };
  /** More metrics on the same registry (the cluster roles' forwarder, ingest and mesh). */
  registerMetrics?: (registry: Registry) => void;
  databasePath: string;
  pcapDir: string;
  /**
   * Where retention's steps run (store/retention-worker.ts: the retention thread, or the event loop
   * as its fallback); absent: on the event loop, on `store`. Closed at stop.
   */
  retentionSteps?: RetentionSteps & { status(): RetentionThreadStatus; close(): Promise<void> };
  /** The web dashboard's own needs (absent: no dashboard, e.g. in tests of metrics alone). */
  dashboard?: Pick<DashboardDeps, 'store' | 'keys' | 'watchedCount'>;
}

export type OpsOptions = Pick<Config, 'metrics' | 'health' | 'retention'> &
  Partial<Pick<Config, 'dashboard'>> & { dht: Pick<Config['dht'], 'bootstrap'>; database: Pick<Config['database'], 'checkpoint'> };

export interface OpsStatus {
  health: HealthReport;
  retention: RetentionStatus;
  /** WAL checkpoints (the checkpoint worker); null without a SQLite file (PostgreSQL). */
  checkpoint: WalCheckpointStatus | null;
  metrics: { url: string | null };
  warnings: string[];
}

export interface OpsModule {
  /** Hooks for the stages that report as they go (capture pipeline, batched writer). */
  readonly observe: MetricsObservers;
  /** Health routes and request timing for the API server (http/ApiOps). */
  readonly api: {
    readiness(): HealthReport & Record<string, unknown>;
    onRequestDone(route: string, method: string, status: number, durationMs: number): void;
  };
  /** The dashboard's routes (/dashboard/), for the API server; undefined when it is off. */
  readonly dashboard: DashboardHttp | undefined;
  /** Other modules register their tables for age-based retention. */
  registerRetention(target: RetentionTarget): void;
  /** The systemd watchdog's gate. */
  watchdogOk(): boolean;
  status(): OpsStatus;
  /** Runs one retention pass now (tests, benchmarks). */
  runRetention(): ReturnType<Retention['runOnce']>;
  /** Binds the metrics listener, starts the health checks and the retention timer. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A WAL this far behind its checkpoints is worth a warning in `status` (SQLite's own checkpoint would run at 4 MiB). */
const WAL_WARN_BYTES = 256 * 2 ** 20;

/** Operations: Prometheus metrics on their own listener, health (readyz, watchdog), retention. */
export function createOpsModule(deps: OpsDeps, options: OpsOptions): OpsModule {
  const log = deps.logger.child({ component: 'ops' });
  // Built before the metrics (they read its status); started first and stopped after retention.
  // None on PostgreSQL (no database file) or an in-memory database.
  const checkpointer =
    deps.databasePath !== '' && deps.databasePath !== ':memory:'
      ? new WalCheckpointer(
          { file: deps.databasePath, main: deps.store, logger: deps.logger.child({ component: 'checkpoint' }), onCheckpoint: (ms, ok) => metrics.observe.checkpoint(ms, ok) },
          options.database.checkpoint,
        )
      : undefined;
  const metrics = createMetrics(
    deps.sources,
    deps.store,
    {
      main: () => fileSize(deps.databasePath),
      wal: () => fileSize(`${deps.databasePath}-wal`),
    },
    checkpointer ? () => checkpointer.status() : undefined,
  );
  deps.registerMetrics?.(metrics.registry);
  const health = new HealthMonitor(
    { store: deps.store, dht: () => deps.sources.dht(), apiBound: () => deps.sources.apiListening(), logger: log },
    { ...options.health, bootstrapCount: options.dht.bootstrap.length },
  );
  const retention = new Retention(
    {
      store: deps.store, logger: deps.logger.child({ component: 'retention' }), onDeleted: (t, n) => metrics.observe.retention(t, n), wal: checkpointer,
      ...(deps.retentionSteps ? { steps: deps.retentionSteps } : {}),
    },
    { ...options.retention, maxAgeDays: { ...options.retention.maxAgeDays }, pcapDir: deps.pcapDir },
  );
  registerRetentionPaceMetrics(metrics.registry, () => retention.status().pace);
  const dashboard =
    deps.dashboard && options.dashboard
      ? createDashboard({ ...deps.dashboard, sources: deps.sources, logger: deps.logger }, options.dashboard)
      : undefined;
  dashboard?.registerMetrics(metrics.registry);
  let server: MetricsServer | undefined;

  return {
    observe: metrics.observe,
    dashboard: dashboard?.http,
    api: {
      readiness: () => ({ ...health.current() }),
      onRequestDone: (route, method, status, ms) => metrics.observe.apiRequest(route, method, status, ms),
    },
    registerRetention: (t) => retention.register(t),
    watchdogOk: () => health.watchdogOk(),
    status: () => {
      const h = health.current();
      const checkpoint = checkpointer?.status() ?? null;
      const warnings = [...h.warnings];
      if (checkpoint?.mode === 'worker' && !checkpoint.running && checkpoint.workerRestarts > 0) {
        warnings.push('the WAL checkpoint worker is down (restarting): SQLite checkpoints inside commits on the event loop meanwhile');
      }
      const pendingBytes = (checkpoint?.walFramesPending ?? 0) * deps.store.space().pageSize;
      if (checkpoint && pendingBytes > WAL_WARN_BYTES) {
        warnings.push(`the WAL holds ${Math.round(pendingBytes / 2 ** 20)} MiB not yet checkpointed: a long read (db backup) holds an old snapshot, or checkpoints fail (${checkpoint.lastError ?? 'no error'})`);
      }
      return { health: h, retention: retention.status(), checkpoint, metrics: { url: server ? `${server.url}/metrics` : null }, warnings };
    },
    runRetention: () => retention.runOnce(),
    async start() {
      if (options.metrics.enabled) {
        server = await startMetricsServer(metrics.registry, { ...options.metrics.listen, bearerToken: options.metrics.bearerToken }, log);
        log.info({ metrics: `${server.url}/metrics` }, 'metrics listening');
      }
      checkpointer?.start();
      health.start();
      retention.start();
      dashboard?.start();
    },
    async stop() {
      dashboard?.stop();
      health.stop();
      await retention.stop();
      await deps.retentionSteps?.close();
      await checkpointer?.stop();
      await server?.close();
      server = undefined;
    },
  };
}
