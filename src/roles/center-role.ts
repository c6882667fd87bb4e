import { fileSize } from '../util/file-size.js';
import type { Registry } from 'prom-client';
import { createBtnModule } from '../btn/module.js';
import { createCenterCluster } from '../cluster/center-cluster.js';
import { registerIngestMetrics } from '../cluster/cluster-metrics.js';
import { centerCaptureStats } from '../cluster/role-stats.js';
import { snapshotVersion } from '../cluster/shared-config.js';
import { emptyDhtStats } from '../dht/dht-module.js';
import { FilterRegistry } from '../filter/filter-registry.js';
import { createApiModule } from '../http/api-module.js';
import { createNotifications } from '../notify/notifier.js';
import { createOpsModule } from '../ops/module.js';
import { SqliteCentralIngestStore } from '../store/central-ingest-repository.js';
import { SqliteClusterState } from '../store/cluster-state-repository.js';
import { VERSION } from '../util/version.js';
import { apiWritesInTurn } from '../store/write-turn.js';
import type { BuiltRole, RoleContext } from './role-context.js';
import { startApiSide } from './api-side.js';
import { retentionWorker } from './retention-worker.js';

/**
 * role ingest and role api: the center, on the central store. ingest consumes what crawlers
 * forward (idempotent batches) and notifies (the outbox relay runs here); api serves the HTTP API
 * (stateless: any number of them). Both send the shared configuration to the crawlers; an api
 * node sends it at once after an infohash change through its API.
 */
export async function startCenterRole(ctx: RoleContext, role: 'ingest' | 'api'): Promise<BuiltRole> {
  const { store, life, logger } = ctx;
  const config = ctx.config();
  // API changes wait for the BTN write thread's transaction in the write turn, not in SQLite's lock (a 503 after 50 ms).
  const { overlay } = apiWritesInTurn(store.db, store);
  const filters = new FilterRegistry({ overlay, torrents: store.torrents }, config.filters);
  store.captures.rollups.setTorrentScope((ih) => filters.compiled.listsInfohash(ih));
  const notifyConfig = role === 'api' ? { ...config.notify, amqp: { ...config.notify.amqp, enabled: false }, email: { ...config.notify.email, enabled: false } } : config.notify;
  const notifications = createNotifications({ outbox: store.outbox, captures: store.captures, filters: () => filters.list(), logger }, notifyConfig);
  const ingestStore =
    role === 'ingest'
      ? new SqliteCentralIngestStore(
          { db: store.db, captures: store.captures },
          { notifyTargets: (name) => { const f = filters.get(name); return f ? notifications.targetsOf(f) : []; } },
        )
      : null;
  const center = createCenterCluster(
    {
      state: new SqliteClusterState(store.db), ingestStore, logger,
      readShared: () => ({ filters: [...ctx.config().filters], overlay: store.overlay.list() }),
    },
    config,
    role,
  );
  let api: ReturnType<typeof createApiModule> | undefined;
  const ops = createOpsModule(
    {
      logger, store: store.ops, databasePath: config.database.path, pcapDir: config.pcap.dir,
      retentionSteps: retentionWorker(ctx),
      sources: {
        dht: () => emptyDhtStats(false), capture: () => centerCaptureStats(center.consumer?.stats() ?? null), notify: () => notifications.status(),
        apiListening: () => (api ? api.url() !== '' : 'none'),
      },
      dashboard: { store: store.dashboard, keys: ctx.keys, watchedCount: () => filters.compiled.stats().infohashes },
      ...(center.consumer ? { registerMetrics: (r: Registry) => registerIngestMetrics(r, () => (center.consumer as NonNullable<typeof center.consumer>).stats()) } : {}),
    },
    config,
  );
  // The idempotency keys are bounded: uids older than retention.maxAgeDays.ingestedUids go.
  if (ingestStore) ops.registerRetention({ name: 'ingestedUids', deleteOlderThan: (before, limit) => ingestStore.deleteUidsOlderThan(before, limit) });
  if (role === 'ingest') await life.start(notifications);
  center.start();
  life.onStop(() => center.stop());
  let btn: ReturnType<typeof createBtnModule> | undefined;
  if (role === 'api') {
    // Infohash changes through this API go to the crawlers at once.
    filters.onChange((_compiled, change) => change && center.configChanged());
    ({ api, btn } = await startApiSide(ctx, ops, filters));
    // Another api node's infohash change: rebuild from the central store when its version differs.
    let version = snapshotVersion(ctx.config().filters, store.overlay.list());
    const timer = setInterval(() => {
      const now = snapshotVersion(ctx.config().filters, store.overlay.list());
      if (now !== version) filters.setConfig(ctx.config().filters);
      version = now;
    }, Math.min(2_000, config.cluster.sharedConfig.publishIntervalMs));
    timer.unref();
    life.onStop(() => clearInterval(timer));
  }
  await life.start(ops);
  const apiUrl = (): string => api?.url() ?? '';
  const capturesLastHour = (): number => store.captures.countPerMinuteSince(Date.now() - 3_600_000).reduce((n, [, k]) => n + k, 0);
  return {
    apiUrl,
    filters,
    metadataWanted: () => undefined,
    reloaded: () => center.configChanged(),
    watchdogOk: () => ops.watchdogOk(),
    status: () => {
      const cfg = ctx.config();
      return {
        role, version: VERSION, pid: process.pid, startedAt: new Date(ctx.startedAt).toISOString(), uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
        configFile: ctx.configFile(), api: apiUrl(), dht: { enabled: false, nodes: 0, address: null },
        queues: { ingestUnacked: center.consumer?.stats().unacked ?? 0, outbox: store.outbox.countPending() },
        capturesLastHour: capturesLastHour(), notify: notifications.status(),
        filters: { total: filters.list().length, enabled: filters.compiled.filterCount }, apiKeys: ctx.keys().size,
        database: { path: cfg.database.path, bytes: fileSize(cfg.database.path) + fileSize(`${cfg.database.path}-wal`) },
        ...(btn ? { btn: btn.status() } : {}), ops: ops.status(), cluster: center.status(),
      };
    },
  };
}
