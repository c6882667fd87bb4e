import { statSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type LoadedConfig, type ResolvedConfig } from './config/load-config.js';
import { CapturePipeline } from './capture/capture-pipeline.js';
import { CaptureScheduler } from './capture/capture-scheduler.js';
import { capturePeer, makePeerId } from './capture/peer-capture.js';
import { ReverseDns } from './capture/reverse-dns.js';
import { startAdminServer } from './daemon/admin-server.js';
import { startDht } from './dht/start-dht.js';
import { createSdNotifier } from './daemon/sd-notify.js';
import { FilterRegistry } from './filter/filter-registry.js';
import { openGeoIp, type GeoIpLookup } from './geoip/geoip-lookup.js';
import { ApiKeyRing } from './http/api-keys.js';
import { createApiServer } from './http/api-server.js';
import type { NewCapture } from './model/capture.js';
import { startNotifications } from './notify/notifier.js';
import { PcapStore } from './pcap/pcap-store.js';
import { AddressPolicy } from './protocol/address-policy.js';
import { SqliteCaptureRepository } from './store/capture-repository.js';
import { SqliteFilterOverlayRepository } from './store/filter-overlay-repository.js';
import { SqliteDhtNodeRepository } from './store/dht-node-repository.js';
import { openDatabase, type Db } from './store/open-database.js';
import { SqliteOutboxRepository } from './store/outbox-repository.js';
import { SqliteTorrentRepository } from './store/torrent-repository.js';
import { RecentCaptureCounter } from './store/recent-capture-counter.js';
import { errorMessage } from './util/app-error.js';
import { BatchWriter } from './util/batch-writer.js';
import { createLogger, type Logger } from './util/logger.js';
import { VERSION } from './util/version.js';

/** The key shipped in the example config: the daemon warns while it is in use. */
export const EXAMPLE_API_KEY = 'example-key-change-me-now';

/** Config keys whose change needs a restart (reload keeps the running value and says so). */
const RESTART_KEYS = ['dataDir', 'database', 'http.listen', 'admin', 'dht', 'geoip', 'pcap', 'capture', 'notify'] as const;

function get(obj: unknown, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

function fileSize(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}

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
}

/**
 * The composition root: loads the config, builds every object explicitly, starts them in order,
 * and stops them in reverse. Nothing else imports this file except the CLI's `start`.
 */
export async function startDaemon(options: StartOptions = {}): Promise<RunningDaemon> {
  const env = options.env ?? process.env;
  let loaded: LoadedConfig = loadConfig({ file: options.configFile, env });
  let config: ResolvedConfig = loaded.config;
  const logger = options.logger ?? createLogger(config.log.level);
  const log = logger.child({ component: 'daemon' });
  const startedAt = Date.now();
  const notifier = createSdNotifier(logger.child({ component: 'sd-notify' }), env);

  log.info({ version: VERSION, configFile: loaded.file ?? '(embedded defaults)', dataDir: config.dataDir }, 'starting');
  const warnConfig = (c: ResolvedConfig): void => {
    if (c.apiKeys.length === 0) log.warn('no API keys configured: every API request will be refused (see apiKeys in the config)');
    for (const k of c.apiKeys) {
      if (k.key === EXAMPLE_API_KEY) log.warn({ apiKey: k.name }, 'API key still uses the example secret: change it');
    }
  };
  warnConfig(config);

  const closers: Array<() => Promise<void> | void> = [];
  const closeAll = async (): Promise<void> => {
    while (closers.length > 0) {
      const close = closers.pop() as () => Promise<void> | void;
      try {
        await close();
      } catch (err) {
        log.error({ err }, 'error while stopping');
      }
    }
  };

  let db: Db;
  let api: FastifyInstance;
  let geoip: GeoIpLookup;
  try {
    db = openDatabase(config.database.path, { busyTimeoutMs: config.database.busyTimeoutMs });
    const dbRef = db;
    closers.push(() => {
      dbRef.close();
    });
    const torrents = new SqliteTorrentRepository(db);
    const overlay = new SqliteFilterOverlayRepository(db);
    const captures = new SqliteCaptureRepository(db);
    const outbox = new SqliteOutboxRepository(db);

    geoip = await openGeoIp(
      { countryDb: config.geoip.countryDb, cityDb: config.geoip.cityDb, asnDb: config.geoip.asnDb },
      logger.child({ component: 'geoip' }),
    );
    const geoRef = geoip;
    closers.push(() => geoRef.close?.());

    const filters = new FilterRegistry({ overlay, torrents }, config.filters);
    let keys = new ApiKeyRing(config.apiKeys);

    // Notifications: relay the outbox to RabbitMQ / email (never waits for a target to be up).
    const notifications = startNotifications({ db, captures, logger }, config.notify, () => filters.list());
    closers.push(() => notifications.stop());

    // Store: captures and their outbox rows, batched, one transaction per batch.
    const recentCaptures = new RecentCaptureCounter(captures.countPerMinuteSince(Date.now() - 3_600_000));
    const writer = new BatchWriter<NewCapture>(
      (batch) => {
        captures.insertMany(batch);
        for (const c of batch) recentCaptures.add(c.foundAt);
        notifications.wake();
      },
      { maxBatch: 500, maxDelayMs: 200, maxPending: 50_000 },
      log,
    );
    closers.push(() => writer.close());

    // Capture: bounded queue, global and per-IP concurrency, every connection with deadlines.
    const cap = config.capture;
    const scheduler = new CaptureScheduler(
      {
        concurrency: cap.concurrency,
        perIpConcurrency: cap.perIpConcurrency,
        queueSize: cap.queueSize,
        jobTimeoutMs: cap.totalTimeoutMs + cap.reverseDns.timeoutMs + 5_000,
      },
      (err) => log.warn({ err }, 'capture job failed'),
    );
    closers.push(() => scheduler.stop());
    const policy = new AddressPolicy(cap.allowedPrivateRanges);
    const reverseDns = new ReverseDns(cap.reverseDns);
    const pcapStore = new PcapStore({ dir: config.pcap.dir, retentionDays: config.pcap.retentionDays || 36_500 });
    const peerId = makePeerId();
    const captureLog = logger.child({ component: 'capture' });
    const pipeline = new CapturePipeline(
      {
        filters,
        geo: (ip) => geoip.lookup(ip),
        torrents,
        dialable: (ip, port) => policy.isDialable(ip, port),
        capture: (input, signal) =>
          capturePeer(
            input,
            {
              connectTimeoutMs: cap.connectTimeoutMs,
              handshakeTimeoutMs: cap.handshakeTimeoutMs,
              idleTimeoutMs: cap.idleTimeoutMs,
              totalTimeoutMs: cap.totalTimeoutMs,
              haveWindowMs: cap.haveWindowMs,
              pieceStateWaitMs: cap.pieceStateWaitMs,
              peerId,
              ...(cap.localAddress ? { localAddress: cap.localAddress } : {}),
            },
            signal,
          ),
        reverseDns: (ip, signal) => reverseDns.lookup(ip, signal),
        pcap: pcapStore,
        store: (c) => writer.add(c),
        notifyTargets: (f) => notifications.targetsOf(f),
        onMetadata: (ih) => captureLog.info({ infoHash: ih }, 'metadata fetched from peers'),
        scheduler,
        logger: captureLog,
      },
      { recaptureIntervalMs: cap.recaptureIntervalMs },
    );
    const pcapPrune = setInterval(() => {
      if (config.pcap.retentionDays > 0) void pcapStore.prune().catch((err: unknown) => log.warn({ err }, 'pcap prune failed'));
    }, 3_600_000);
    pcapPrune.unref();
    closers.push(() => clearInterval(pcapPrune));

    // DHT: lookups of watched infohashes (and of torrents waiting for metadata), announces, BEP 51.
    const dht = await startDht(
      {
        logger,
        nodes: new SqliteDhtNodeRepository(db),
        onPeer: (p) => void pipeline.offer(p),
        watched: () => [...filters.compiled.watchedInfohashes(), ...pipeline.metadataWanted()],
        watchAll: () => filters.compiled.watchesAllTorrents,
      },
      { ...config.dht, tuning: { allowedRanges: cap.allowedPrivateRanges } },
    );
    closers.push(() => dht.stop());
    // A newly watched infohash is looked up within seconds.
    let watchedBefore = filters.compiled;
    filters.onChange((compiled, change) => {
      if (change !== undefined) {
        // One API add/delete: no need to compare 100k infohashes.
        if (change.op === 'add' && !watchedBefore.listsInfohash(change.infohash)) dht.wantNow(change.infohash);
      } else {
        for (const ih of compiled.watchedInfohashes()) if (!watchedBefore.listsInfohash(ih)) dht.wantNow(ih);
      }
      watchedBefore = compiled;
    });
    const metadataWanted = (ih: string): void => {
      pipeline.wantMetadata(ih);
      dht.wantNow(ih);
    };

    api = await createApiServer(
      {
        keys: () => keys,
        pageSize: () => config.http.pageSize,
        filters,
        captures,
        torrents,
        onMetadataWanted: metadataWanted,
        logger,
      },
      {
        bodyLimitBytes: config.http.bodyLimitBytes,
        requestTimeoutMs: config.http.requestTimeoutMs,
        keepAliveTimeoutMs: config.http.keepAliveTimeoutMs,
        trustProxy: config.http.trustProxy,
      },
    );
    const apiRef = api;
    closers.push(() => apiRef.close());
    await api.listen({ host: config.http.listen.host, port: config.http.listen.port });

    const reload = async (): Promise<{ ok: boolean; message: string; restartNeeded?: string[] }> => {
      let next: LoadedConfig;
      try {
        next = loadConfig({ file: options.configFile, env });
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'reload failed: keeping the running config');
        return { ok: false, message: `reload failed, the running config is kept:\n${errorMessage(err)}` };
      }
      notifier.reloading();
      const restartNeeded = RESTART_KEYS.filter((k) => JSON.stringify(get(next.config, k)) !== JSON.stringify(get(config, k)));
      // Keep the values that need a restart; take everything else.
      const merged = { ...next.config } as Record<string, unknown>;
      for (const k of restartNeeded) {
        const top = k.split('.')[0] as string;
        merged[top] = k.includes('.') ? { ...(merged[top] as object), [k.split('.')[1] as string]: get(config, k) } : get(config, k);
      }
      loaded = next;
      config = merged as ResolvedConfig;
      keys = new ApiKeyRing(config.apiKeys);
      filters.setConfig(config.filters);
      logger.level = config.log.level;
      warnConfig(config);
      notifier.ready('reloaded');
      const message = restartNeeded.length
        ? `config reloaded; these changes need a restart: ${restartNeeded.join(', ')}`
        : 'config reloaded';
      log.info({ restartNeeded }, message);
      return { ok: true, message, restartNeeded };
    };

    const status = (): Record<string, unknown> => ({
      version: VERSION,
      pid: process.pid,
      startedAt: new Date(startedAt).toISOString(),
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      configFile: loaded.file ?? null,
      api: apiUrl,
      dht: { enabled: config.dht.enabled, nodes: dht.nodeCount(), address: dht.address(), stats: dht.stats() },
      queues: {
        captureQueue: scheduler.stats().queued,
        capturesRunning: scheduler.stats().running,
        storeBatch: writer.stats().pending,
        metadataWanted: pipeline.metadataWanted().size,
        outbox: outbox.countPending(),
      },
      capture: { scheduler: scheduler.stats(), pipeline: pipeline.stats(), reverseDns: reverseDns.stats(), store: writer.stats() },
      notify: notifications.status(),
      capturesLastHour: recentCaptures.lastHour(),
      filters: { total: filters.list().length, enabled: filters.compiled.filterCount },
      apiKeys: keys.size,
      database: {
        path: config.database.path,
        bytes: fileSize(config.database.path) + fileSize(`${config.database.path}-wal`),
      },
    });

    const admin = await startAdminServer(
      config.admin.socket,
      { status, reload, metadataWanted },
      logger,
    );
    closers.push(() => admin.close());

    const addr = api.server.address();
    const apiUrl =
      typeof addr === 'object' && addr !== null
        ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
        : String(addr);

    const stopWatchdog = notifier.startWatchdog(() => true);
    closers.push(stopWatchdog);
    notifier.ready(`API on ${apiUrl}`);
    log.info({ api: apiUrl, admin: config.admin.socket }, 'ready');

    let resolveStopped!: () => void;
    const stopped = new Promise<void>((r) => (resolveStopped = r));
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        notifier.stopping();
        log.info('stopping');
        await closeAll();
        log.info('stopped');
        resolveStopped();
      })();
      return stopping;
    };

    if (options.handleSignals) {
      const onHup = (): void => void reload();
      const onTerm = (): void => void stop();
      process.on('SIGHUP', onHup);
      process.once('SIGTERM', onTerm);
      process.once('SIGINT', onTerm);
      closers.unshift(() => {
        process.off('SIGHUP', onHup);
        process.off('SIGTERM', onTerm);
        process.off('SIGINT', onTerm);
      });
    }

    return { apiUrl, socketPath: config.admin.socket, stop, stopped };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
