import path from 'node:path';
import { fileSize } from './util/file-size.js';
import type { Registry } from 'prom-client';
import { createBtnModule } from './btn/module.js';
import { createCenterCluster } from './cluster/center-cluster.js';
import { registerCrawlerMetrics, registerIngestMetrics } from './cluster/cluster-metrics.js';
import { createCrawlerCluster, type CrawlerCluster } from './cluster/crawler-cluster.js';
import { centerCaptureStats } from './cluster/role-stats.js';
import { snapshotVersion } from './cluster/shared-config.js';
import { createCaptureModule } from './capture/capture-module.js';
import { mergeReloaded } from './config/config-reload.js';
import { loadConfig, type LoadedConfig, type ResolvedConfig } from './config/load-config.js';
import { createAdminModule } from './daemon/admin-server.js';
import { daemonStatus } from './daemon/daemon-status.js';
import { acquireInstanceLock } from './daemon/instance-lock.js';
import { Lifecycle } from './daemon/lifecycle.js';
import { createSdNotifier } from './daemon/sd-notify.js';
import { createDht, emptyDhtStats } from './dht/dht-module.js';
import { FilterRegistry } from './filter/filter-registry.js';
import { onNewlyWatched } from './filter/newly-watched.js';
import { openGeoIp } from './geoip/geoip-lookup.js';
import { ApiKeyRing } from './http/api-keys.js';
import { createApiModule } from './http/api-module.js';
import { createNotifications } from './notify/notifier.js';
import { createOpsModule } from './ops/module.js';
import { AddressPolicy } from './protocol/address-policy.js';
import { openBtnStore } from './store/btn-store.js';
import { SqliteCentralIngestStore } from './store/central-ingest-repository.js';
import { SqliteClusterState } from './store/cluster-state-repository.js';
import { SqliteForwardOutbox } from './store/forward-outbox-repository.js';
import { createSpamModule } from './spam/module.js';
import { spamRuleSource } from './daemon/spam-rule-source.js';
import { openSqliteStore, type SqliteStore } from './store/sqlite-store.js';
import { writeTurnOf } from './store/write-turn.js';
import { PgOpsProbe, PgOverlayCache } from './store/pg/pg-center-adapters.js';
import { redactPgUrl } from './store/pg/pg-pool.js';
import { PgRetention } from './store/pg/pg-retention.js';
import { openPgStore, type PgStore } from './store/pg/pg-store.js';
import { notificationsOff } from './notify/notify-status.js';
import type { ClusterStateStore } from './cluster/node-identity.js';
import type { NewCapture } from './model/capture.js';
import { AppError, errorMessage } from './util/app-error.js';
import { createLogger, type Logger } from './util/logger.js';
import { VERSION } from './util/version.js';

/** The key shipped in the example config: the daemon warns while it is in use. */
export const EXAMPLE_API_KEY = 'example-key-change-me-now';

export interface RunningDaemon {
  /** The API's address, e.g. http://127.0.0.1:8080 */
  readonly apiUrl: string;
  readonly socketPath: string;
  stop(): Promise<void>;
  /** Resolves when the daemon has stopped (signal or stop()). */
  readonly stopped: Promise<void>;
}

export interface StartOptions {
  configFile?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Install SIGHUP/SIGTERM/SIGINT handlers (the CLI does; tests that embed the daemon do not). */
  handleSignals?: boolean;
  logger?: Logger;
  /** `start --role`: overrides the config's `role` (as CAPTURE_DAEMON_ROLE would). */
  role?: Role | undefined;
}

export type Role = ResolvedConfig['role'];

/** What a role built: the parts the shell (reload, status, admin, ready) needs. */
interface BuiltRole {
  apiUrl(): string;
  filters: FilterRegistry;
  status(): Record<string, unknown> | Promise<Record<string, unknown>>;
  metadataWanted(infohash: string): void;
  /** After a config reload (filters and keys swapped): the cluster's shared config goes out again. */
  reloaded?(): void;
  watchdogOk(): boolean;
  /** Started after the admin socket (the DHT: its first lookups run without the start-up in their way). */
  startLast?(): Promise<void>;
}

/** What every role builder shares: the running config and key ring, the lifecycle. */
interface BaseContext {
  config(): ResolvedConfig;
  keys(): ApiKeyRing;
  life: Lifecycle;
  logger: Logger;
  startedAt: number;
  configFile(): string | null;
}

/** A role on SQLite (all, crawler, and ingest/api on a shared SQLite file). */
interface RoleContext extends BaseContext {
  store: SqliteStore;
}

/** A center role (ingest, api) on the central PostgreSQL store. */
interface PgRoleContext extends BaseContext {
  pg: PgStore;
  /** The store's URL, password hidden, and schema (for status). */
  where: string;
}

/**
 * The composition root: loads the config, builds every shared object once (store, GeoIP, filters,
 * address policy, API keys) and the modules that use them, starts the modules in order and stops
 * them in reverse. Nothing else imports this file except the CLI's `start`.
 */
export async function startDaemon(options: StartOptions = {}): Promise<RunningDaemon> {
  const env = options.role ? { ...(options.env ?? process.env), CAPTURE_DAEMON_ROLE: options.role } : (options.env ?? process.env);
  let loaded: LoadedConfig = loadConfig({ file: options.configFile, env });
  let config: ResolvedConfig = loaded.config;
  const logger = options.logger ?? createLogger(config.log.level);
  const log = logger.child({ component: 'daemon' });
  const startedAt = Date.now();
  const notifier = createSdNotifier(logger.child({ component: 'sd-notify' }), env);
  log.info({ version: VERSION, role: config.role, configFile: loaded.file ?? '(embedded defaults)', dataDir: config.dataDir }, 'starting');
  const warnConfig = (c: ResolvedConfig): void => {
    if (c.apiKeys.length === 0) log.warn('no API keys configured: every API request will be refused (see apiKeys in the config)');
    for (const k of c.apiKeys) {
      if (k.key === EXAMPLE_API_KEY) log.warn({ apiKey: k.name }, 'API key still uses the example secret: change it');
    }
  };
  warnConfig(config);

  const pgLocation = config.store.location.kind === 'postgres' ? config.store.location : undefined;
  const role = config.role;
  if (pgLocation && role !== 'ingest' && role !== 'api') {
    // The config check says so too (config-schema.ts, postgresRoleProblems); README, "Storage".
    throw new AppError('CONFIG_INVALID', `store.url is PostgreSQL, but role ${role} keeps its SQLite file: PostgreSQL is the central store of the ingest and api roles`);
  }

  // Before anything is opened or bound: a usable data dir, and no other instance on it.
  const releaseLock = acquireInstanceLock(config.dataDir);
  const life = new Lifecycle(log);
  life.onStop(releaseLock);
  try {
    let keys = new ApiKeyRing(config.apiKeys);
    const base: BaseContext = { config: () => config, keys: () => keys, life, logger, startedAt, configFile: () => loaded.file ?? null };
    let built: BuiltRole;
    if (pgLocation && (role === 'ingest' || role === 'api')) {
      const where = `${redactPgUrl(pgLocation.url)}${config.store.schema ? ` (schema ${config.store.schema})` : ''}`;
      log.info({ store: where }, 'opening the central store (PostgreSQL)');
      const pg = await openPgStore({ url: pgLocation.url, schema: config.store.schema, max: config.store.poolSize });
      life.onStop(() => pg.close());
      built = await startPgCenterRole({ ...base, pg, where }, role);
    } else {
      const store = openSqliteStore(config.database);
      life.onStop(() => store.close());
      const ctx: RoleContext = { ...base, store };
      built = role === 'ingest' || role === 'api' ? await startCenterRole(ctx, role) : await startNodeRole(ctx, role);
    }
    const filters = built.filters;

    const reload = async (): Promise<{ ok: boolean; message: string; restartNeeded?: string[] }> => {
      let next: LoadedConfig;
      try {
        next = loadConfig({ file: options.configFile, env });
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'reload failed: keeping the running config');
        return { ok: false, message: `reload failed, the running config is kept:\n${errorMessage(err)}` };
      }
      notifier.reloading();
      const merged = mergeReloaded(config, next.config);
      loaded = next;
      config = merged.config;
      keys = new ApiKeyRing(config.apiKeys);
      if (config.role !== 'crawler') filters.setConfig(config.filters);
      built.reloaded?.();
      logger.level = config.log.level;
      warnConfig(config);
      notifier.ready('reloaded');
      const restartNeeded = merged.restartNeeded;
      const message = restartNeeded.length ? `config reloaded; these changes need a restart: ${restartNeeded.join(', ')}` : 'config reloaded';
      log.info({ restartNeeded }, restartNeeded.length ? 'config reloaded; some changes need a restart' : 'config reloaded');
      return { ok: true, message, restartNeeded };
    };
    await life.start(createAdminModule({ handlers: { status: built.status, reload, metadataWanted: built.metadataWanted }, logger }, config.admin));
    await built.startLast?.();

    life.onStop(notifier.startWatchdog(() => built.watchdogOk()));
    notifier.ready(built.apiUrl() ? `${config.role}: API on ${built.apiUrl()}` : `${config.role}: running`);
    log.info({ role: config.role, api: built.apiUrl() || null, admin: config.admin.socket }, 'ready');

    let resolveStopped!: () => void;
    const stopped = new Promise<void>((r) => (resolveStopped = r));
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        notifier.stopping();
        log.info('stopping');
        await life.stopAll();
        log.info('stopped');
        resolveStopped();
      })();
      return stopping;
    };
    if (options.handleSignals) {
      const onHup = (): void => void reload();
      // The first SIGTERM/SIGINT stops gracefully (shutdown.drainTimeoutMs); a second one exits at once.
      const onTerm = (signal: NodeJS.Signals): void => {
        if (stopping === undefined) return void stop();
        log.warn({ signal }, 'second signal while stopping: exiting now, without waiting for the rest');
        process.exit(signal === 'SIGINT' ? 130 : 143);
      };
      process.on('SIGHUP', onHup);
      process.on('SIGTERM', onTerm);
      process.on('SIGINT', onTerm);
      life.onStopLast(() => {
        process.off('SIGHUP', onHup);
        process.off('SIGTERM', onTerm);
        process.off('SIGINT', onTerm);
      });
    }
    return { apiUrl: built.apiUrl(), socketPath: config.admin.socket, stop, stopped };
  } catch (err) {
    await life.stopAll();
    throw err;
  }
}

/**
 * role all (the single-node daemon) and role crawler. A crawler is the same pipeline without the
 * HTTP API (no API, BTN, spam list) and without notifications (the center notifies): its captures
 * are written with a forward row each and forwarded to the center, found peers go through the
 * crawlers' mesh (work split), BEP 51 sampling stays in its key-space slice, its DHT id is kept,
 * and its filters are the center's shared configuration (its last copy while the center is away).
 */
async function startNodeRole(ctx: RoleContext, role: 'all' | 'crawler'): Promise<BuiltRole> {
  const { store, life, logger } = ctx;
  const config = ctx.config();
  let cluster: CrawlerCluster | undefined;
  // Built after the cluster (which says which filters to start with); the cluster swaps them later.
  const late: { filters?: FilterRegistry } = {};
  if (role === 'crawler') {
    const state = new SqliteClusterState(store.db);
    const outbox = new SqliteForwardOutbox(store.db);
    cluster = createCrawlerCluster(
      {
        state, outbox, writer: (crawlerId) => outbox.captureWriter(store.captures, crawlerId), replaceOverlay: (o) => store.overlay.replaceAll(o),
        setFilters: (f) => late.filters?.setConfig(f), logger,
        sighted: (peer) => late.filters?.compiled.wantsInfohash(peer.infohash) ?? false,
      },
      config,
    );
  }
  const geoip = await openGeoIp(config.geoip, logger.child({ component: 'geoip' }));
  life.onStop(() => geoip.close?.());
  const registry = new FilterRegistry({ overlay: store.overlay, torrents: store.torrents }, cluster ? cluster.initialFilters(config.filters) : config.filters);
  late.filters = registry;
  // The dashboard counts per torrent only the torrents filters list (not all of the DHT in watch-all mode).
  store.captures.rollups.setTorrentScope((ih) => registry.compiled.listsInfohash(ih));
  const policy = new AddressPolicy(config.capture.allowedPrivateRanges);

  // Operations (metrics, health, retention): built first, its observers go to capture and the API;
  // it reads the other modules' stats lazily, and starts after the API.
  const ops = createOpsModule(
    {
      logger, store: store.ops, databasePath: config.database.path, pcapDir: config.pcap.dir,
      sources: { dht: () => dht.stats(), capture: () => capture.stats(), notify: () => notify.status(), apiListening: () => (api ? api.url() !== '' : 'none') },
      dashboard: { store: store.dashboard, keys: ctx.keys, watchedCount: () => registry.compiled.stats().infohashes },
      ...(cluster ? { registerMetrics: (r: Registry) => registerCrawlerMetrics(r, { forward: () => c.forwarder.stats(), mesh: () => c.mesh.stats() }) } : {}),
    },
    config,
  );
  const c = cluster as CrawlerCluster;

  // Modules, in start order: notifications, capture, (cluster,) BTN, API, ops, admin, DHT.
  const notifyConfig = cluster ? { ...config.notify, amqp: { ...config.notify.amqp, enabled: false }, email: { ...config.notify.email, enabled: false } } : config.notify;
  const notify = await life.start(createNotifications({ outbox: store.outbox, captures: store.captures, filters: () => registry.list(), logger }, notifyConfig));
  const captures = cluster
    ? {
        insertMany: (batch: NewCapture[]) => c.insertMany(batch),
        countPerMinuteSince: (since: number) => store.captures.countPerMinuteSince(since),
        forgetPcapsFoundBefore: (cutoff: number, limit: number) => store.captures.forgetPcapsFoundBefore(cutoff, limit),
      }
    : store.captures;
  const capture = await life.start(
    createCaptureModule(
      {
        filters: registry, geo: (ip) => geoip.lookup(ip), torrents: store.torrents, captures,
        notify: cluster ? { targetsOf: () => [], wake: () => c.wake() } : notify,
        dialable: (ip, port) => policy.isDialable(ip, port), observe: ops.observe, logger,
        writeTurn: writeTurnOf(store.db), // shared with the BTN write thread
      },
      { capture: config.capture, pcap: config.pcap, drainTimeoutMs: config.shutdown.drainTimeoutMs, databaseDir: path.dirname(config.database.path) },
    ),
  );
  if (cluster) {
    c.start();
    life.onStop(() => c.stop());
  }
  // Started last (startLast): its first lookups then run without the API's start-up in their way.
  const dht = createDht(
    {
      logger, nodes: store.dhtNodes, nodes6: store.dhtNodes6,
      onPeer: cluster ? (p) => c.offer(p, (peer) => capture.offer(peer)) : (p) => void capture.offer(p),
      watched: () => [...registry.compiled.watchedInfohashes(), ...capture.metadataWanted()],
      watchAll: () => registry.compiled.watchesAllTorrents,
      allowDestination: (ip, port) => policy.isDialable(ip, port).ok,
      newlyWatched: (listener) => onNewlyWatched(registry, listener),
      ...(cluster ? { nodeId: c.dhtNodeId, sampleSlice: () => c.sampleSlice() } : {}),
    },
    config.dht,
  );
  const metadataWanted = (ih: string): void => {
    capture.wantMetadata(ih);
    dht.wantNow(ih);
  };
  let api: ReturnType<typeof createApiModule> | undefined;
  let btn: ReturnType<typeof createBtnModule> | undefined;
  if (!cluster) {
    ({ api, btn } = await startApiSide(ctx, ops, registry, metadataWanted));
  }
  await life.start(ops);
  const apiUrl = (): string => api?.url() ?? '';
  return {
    apiUrl,
    filters: registry,
    metadataWanted,
    watchdogOk: () => ops.watchdogOk(),
    status: () => ({
      role,
      ...daemonStatus({
        startedAt: ctx.startedAt, configFile: ctx.configFile, config: ctx.config, apiUrl, apiKeys: () => ctx.keys().size,
        dht, capture, notify, outbox: store.outbox, filters: registry, ...(btn ? { btn } : {}), ops,
      }),
      ...(cluster ? { cluster: c.status() } : {}),
    }),
    startLast: async () => {
      await life.start(dht);
    },
  };
}

/**
 * role ingest and role api: the center, on the central store. ingest consumes what crawlers
 * forward (idempotent batches) and notifies (the outbox relay runs here); api serves the HTTP API
 * (stateless: any number of them). Both send the shared configuration to the crawlers; an api
 * node sends it at once after an infohash change through its API.
 */
async function startCenterRole(ctx: RoleContext, role: 'ingest' | 'api'): Promise<BuiltRole> {
  const { store, life, logger } = ctx;
  const config = ctx.config();
  const filters = new FilterRegistry({ overlay: store.overlay, torrents: store.torrents }, config.filters);
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
async function startPgCenterRole(ctx: PgRoleContext, role: 'ingest' | 'api'): Promise<BuiltRole> {
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

/**
 * The HTTP side of the roles that serve it (all, api): the spam list, the BTN server fed by its
 * rules, their retention, and the API carrying them (and the dashboard) on one listener.
 */
async function startApiSide(
  ctx: RoleContext,
  ops: ReturnType<typeof createOpsModule>,
  filters: FilterRegistry,
  onMetadataWanted?: (infohash: string) => void,
): Promise<{ api: ReturnType<typeof createApiModule>; btn: ReturnType<typeof createBtnModule> }> {
  const { store, life, logger } = ctx;
  const spam = await life.start(createSpamModule({ store: store.spam, evidence: store.evidence, keys: ctx.keys, logger }, () => ctx.config().spam));
  const spamRules = spamRuleSource((q) => spam.service.list(q), () => ctx.config().spam);
  const btnStore = openBtnStore(store.db, { writeThread: true });
  life.onStop(() => btnStore.close()); // after the BTN module's stop (stops run last-registered first)
  const btn = await life.start(createBtnModule({ ...btnStore, spam: spamRules, logger }, { config: () => ctx.config().btn }));
  ops.registerRetention({ name: 'btnSubmissions', deleteOlderThan: (before, limit) => btnStore.submissions.deleteOlderThan(before, limit) });
  ops.registerRetention({ name: 'spamReports', deleteOlderThan: (before, limit) => store.spam.deleteReportsOlderThan(before, limit) });
  const api = await life.start(
    createApiModule(
      {
        modules: [btn.http, spam.http, ...(ops.dashboard ? [ops.dashboard] : [])],
        keys: ctx.keys, pageSize: () => ctx.config().http.pageSize, filters, captures: store.captures, torrents: store.torrents,
        ...(onMetadataWanted ? { onMetadataWanted } : {}), ops: ops.api, logger, storageDir: path.dirname(ctx.config().database.path),
      },
      ctx.config().http,
    ),
  );
  return { api, btn };
}

