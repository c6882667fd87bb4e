import type { Registry } from 'prom-client';
import { createCenterCluster } from '../cluster/center-cluster.js';
import { registerIngestMetrics } from '../cluster/cluster-metrics.js';
import { centerCaptureStats } from '../cluster/role-stats.js';
import { emptyDhtStats } from '../dht/dht-module.js';
import { FilterRegistry } from '../filter/filter-registry.js';
import { createApiModule } from '../http/api-module.js';
import { createOpsModule } from '../ops/module.js';
import { PgOpsProbe, PgOverlayCache } from '../store/pg/pg-center-adapters.js';
import { PgRetention } from '../store/pg/pg-retention.js';
import { notificationsOff } from '../notify/notify-status.js';
import type { ClusterStateStore } from '../cluster/node-identity.js';
import { VERSION } from '../util/version.js';
import type { BuiltRole, PgRoleContext } from './role-context.js';

/** Named values of a center role on PostgreSQL: kept in memory (the role is stateless; set cluster.nodeId to name it). */
function memoryClusterState(): ClusterStateStore {
  const values = new Map<string, string>();
  return { get: (k) => values.get(k), set: (k, v) => void values.set(k, v) };
}

/**
 * role ingest and role api on the central PostgreSQL store (store.url postgres://…). Stateless: no
 * SQLite file, so any number of either can run on any host. ingest consumes the ingest queue in
 * batches with manual acks and writes them idempotently (PgCentralIngestStore: a capture's uid is
 * unique per month, a sighting's in ingested_sightings), and runs PgRetention (drops whole months
 * of captures, bounds peers and the sighting uids). api serves the Capture API and torrents from
 * PostgreSQL; its infohash changes are stored there and sent to the crawlers at once. Both send the
 * shared configuration (config filters + the stored infohash changes) and re-read the stored
 * changes every few seconds (another api node's change). Not on PostgreSQL: notifications (the
 * outbox is SQLite; refused by the config check), the BTN server (refused), the spam list and the
 * dashboard (their tables are SQLite: not served, a warning at start).
 */
export async function startPgCenterRole(ctx: PgRoleContext, role: 'ingest' | 'api'): Promise<BuiltRole> {
  const { pg, life, logger } = ctx;
  const config = ctx.config();
  const log = logger.child({ component: 'daemon' });
  const overlay = new PgOverlayCache(pg.overlay);
  await overlay.refresh();
  const filters = new FilterRegistry({ overlay, torrents: pg.torrents }, config.filters);
  const probe = new PgOpsProbe(pg.pool, config.health.checkIntervalMs);
  await probe.start();
  life.onStop(() => probe.stop());
  const center = createCenterCluster(
    { state: memoryClusterState(), ingestStore: role === 'ingest' ? pg.ingest : null, logger, readShared: () => ({ filters: [...ctx.config().filters], overlay: overlay.list() }) },
    config,
    role,
  );
  const notify = notificationsOff(config.notify.outboxMaxRows);
  let api: ReturnType<typeof createApiModule> | undefined;
  const ops = createOpsModule(
    {
      logger, store: probe, databasePath: '', pcapDir: config.pcap.dir,
      sources: {
        dht: () => emptyDhtStats(false), capture: () => centerCaptureStats(center.consumer?.stats() ?? null), notify: () => notify,
        apiListening: () => (api ? api.url() !== '' : 'none'),
      },
      ...(center.consumer ? { registerMetrics: (r: Registry) => registerIngestMetrics(r, () => (center.consumer as NonNullable<typeof center.consumer>).stats()) } : {}),
    },
    // The ops module's retention is SQLite's row-by-row one: PgRetention (below) is this store's.
    { ...config, retention: { ...config.retention, enabled: false } },
  );
  let retention: PgRetention | undefined;
  if (role === 'ingest' && config.retention.enabled) {
    const limits = (): { captures: number; sightings: number; ingestedUids: number } => {
      const d = ctx.config().retention.maxAgeDays;
      return { captures: d.captures, sightings: d.sightings, ingestedUids: d.ingestedUids };
    };
    retention = new PgRetention(pg, limits, logger.child({ component: 'retention' }));
  }
  center.start();
  life.onStop(() => center.stop());
  if (role === 'api') {
    const notServed = [...(config.spam.enabled ? ['spam list (spam.enabled)'] : []), ...(config.dashboard.enabled ? ['dashboard (dashboard.enabled)'] : [])];
    if (notServed.length > 0) log.warn({ notServed }, 'not served by the api role on PostgreSQL (their tables are SQLite): set them to false to silence this');
    // Infohash changes through this API go to the crawlers at once.
    filters.onChange((_compiled, change) => change && center.configChanged());
    api = await life.start(
      createApiModule(
        {
          keys: ctx.keys, pageSize: () => ctx.config().http.pageSize, filters, captures: pg.captures, torrents: pg.torrents,
          ops: ops.api, logger, storageDir: ctx.config().dataDir,
        },
        ctx.config().http,
      ),
    );
  }
  // Another api node's infohash change: re-read the stored changes, rebuild and send when they differ.
  const refresh = setInterval(() => {
    overlay.refresh().then(
      (changed) => {
        if (!changed) return;
        filters.setConfig(ctx.config().filters);
        center.configChanged();
      },
      () => undefined, // PostgreSQL away: the health check says so; the cached changes stay in use
    );
  }, Math.min(2_000, config.cluster.sharedConfig.publishIntervalMs));
  refresh.unref();
  life.onStop(() => clearInterval(refresh));
  await life.start(ops);
  if (retention) {
    retention.start(config.retention.intervalMs);
    life.onStop(() => (retention as PgRetention).stop());
  }
  const apiUrl = (): string => api?.url() ?? '';
  const capturesLastHour = async (): Promise<number | null> => {
    try {
      return (await pg.captures.countPerMinuteSince(Date.now() - 3_600_000)).reduce((n, [, k]) => n + k, 0);
    } catch {
      return null;
    }
  };
  return {
    apiUrl,
    filters,
    metadataWanted: () => undefined,
    reloaded: () => center.configChanged(),
    watchdogOk: () => ops.watchdogOk(),
    status: async () => {
      const db = probe.state();
      return {
        role, version: VERSION, pid: process.pid, startedAt: new Date(ctx.startedAt).toISOString(), uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
        configFile: ctx.configFile(), api: apiUrl(), dht: { enabled: false, nodes: 0, address: null },
        queues: { ingestUnacked: center.consumer?.stats().unacked ?? 0, outbox: 0 },
        capturesLastHour: (await capturesLastHour()) ?? 0, notify,
        filters: { total: filters.list().length, enabled: filters.compiled.filterCount }, apiKeys: ctx.keys().size,
        database: { path: ctx.where, bytes: db.bytes },
        store: { kind: 'postgres', where: ctx.where, reachable: db.reachable, lastOkAt: db.lastOkAt, lastError: db.lastError, ...(retention ? { retention: retention.stats() } : {}) },
        ops: ops.status(), cluster: center.status(),
      };
    },
  };
}
