import path from 'node:path';
import type { Registry } from 'prom-client';
import { createBtnModule } from '../btn/module.js';
import { registerCrawlerMetrics } from '../cluster/cluster-metrics.js';
import { createCrawlerCluster, type CrawlerCluster } from '../cluster/crawler-cluster.js';
import { createCaptureModule } from '../capture/capture-module.js';
import { daemonStatus } from '../daemon/daemon-status.js';
import { createDht } from '../dht/dht-module.js';
import { FilterRegistry } from '../filter/filter-registry.js';
import { onNewlyWatched } from '../filter/newly-watched.js';
import { openGeoIp } from '../geoip/geoip-lookup.js';
import { createApiModule } from '../http/api-module.js';
import { createNotifications } from '../notify/notifier.js';
import { createOpsModule } from '../ops/module.js';
import { AddressPolicy } from '../protocol/address-policy.js';
import { SqliteClusterState } from '../store/cluster-state-repository.js';
import { SqliteForwardOutbox } from '../store/forward-outbox-repository.js';
import { apiWritesInTurn, writeTurnOf } from '../store/write-turn.js';
import type { NewCapture } from '../model/capture.js';
import type { BuiltRole, RoleContext } from './role-context.js';
import { startApiSide } from './api-side.js';
import { retentionWorker } from './retention-worker.js';

/**
 * role all (the single-node daemon) and role crawler. A crawler is the same pipeline without the
 * HTTP API (no API, BTN, spam list) and without notifications (the center notifies): its captures
 * are written with a forward row each and forwarded to the center, found peers go through the
 * crawlers' mesh (work split), BEP 51 sampling stays in its key-space slice, its DHT id is kept,
 * and its filters are the center's shared configuration (its last copy while the center is away).
 */
export async function startNodeRole(ctx: RoleContext, role: 'all' | 'crawler'): Promise<BuiltRole> {
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
  // API changes wait for the BTN write thread's transaction in the write turn, not in SQLite's lock (a 503 after 50 ms).
  const { overlay } = apiWritesInTurn(store.db, store);
  const registry = new FilterRegistry({ overlay, torrents: store.torrents }, cluster ? cluster.initialFilters(config.filters) : config.filters);
  late.filters = registry;
  // The dashboard counts per torrent only the torrents filters list (not all of the DHT in watch-all mode).
  store.captures.rollups.setTorrentScope((ih) => registry.compiled.listsInfohash(ih));
  const policy = new AddressPolicy(config.capture.allowedPrivateRanges);

  // Operations (metrics, health, retention): built first, its observers go to capture and the API;
  // it reads the other modules' stats lazily, and starts after the API.
  const ops = createOpsModule(
    {
      logger, store: store.ops, databasePath: config.database.path, pcapDir: config.pcap.dir,
      retentionSteps: retentionWorker(ctx),
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
