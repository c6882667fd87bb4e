import path from 'node:path';
import { createBtnModule } from './btn/module.js';
import { createCaptureModule } from './capture/capture-module.js';
import { mergeReloaded } from './config/config-reload.js';
import { loadConfig, type LoadedConfig, type ResolvedConfig } from './config/load-config.js';
import { createAdminModule } from './daemon/admin-server.js';
import { daemonStatus } from './daemon/daemon-status.js';
import { acquireInstanceLock } from './daemon/instance-lock.js';
import { Lifecycle } from './daemon/lifecycle.js';
import { createSdNotifier } from './daemon/sd-notify.js';
import { createDht } from './dht/dht-module.js';
import { FilterRegistry } from './filter/filter-registry.js';
import { onNewlyWatched } from './filter/newly-watched.js';
import { openGeoIp } from './geoip/geoip-lookup.js';
import { ApiKeyRing } from './http/api-keys.js';
import { createApiModule } from './http/api-module.js';
import { createNotifications } from './notify/notifier.js';
import { createOpsModule } from './ops/module.js';
import { AddressPolicy } from './protocol/address-policy.js';
import { openBtnStore } from './store/btn-store.js';
import { createSpamModule } from './spam/module.js';
import { spamRuleSource } from './daemon/spam-rule-source.js';
import { openSqliteStore } from './store/sqlite-store.js';
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
}

/**
 * The composition root: loads the config, builds every shared object once (store, GeoIP, filters,
 * address policy, API keys) and the modules that use them, starts the modules in order and stops
 * them in reverse. Nothing else imports this file except the CLI's `start`.
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

  if (config.store.location.kind === 'postgres') {
    // The all-in-one daemon keeps everything in one SQLite file; PostgreSQL is the central store of
    // the cluster's ingest and api roles (README, "Storage").
    throw new AppError('CONFIG_INVALID', 'store.url is a postgres:// URL: the all-in-one daemon stores in SQLite (a file path or sqlite:PATH); PostgreSQL is for the ingest and api roles');
  }

  // Before anything is opened or bound: a usable data dir, and no other instance on it.
  const releaseLock = acquireInstanceLock(config.dataDir);
  const life = new Lifecycle(log);
  life.onStop(releaseLock);
  try {
    // Shared collaborators, built once.
    const store = openSqliteStore(config.database);
    life.onStop(() => store.close());
    const geoip = await openGeoIp(config.geoip, logger.child({ component: 'geoip' }));
    life.onStop(() => geoip.close?.());
    const filters = new FilterRegistry({ overlay: store.overlay, torrents: store.torrents }, config.filters);
    // The dashboard counts per torrent only the torrents filters list (not all of the DHT in watch-all mode).
    store.captures.rollups.setTorrentScope((ih) => filters.compiled.listsInfohash(ih));
    const policy = new AddressPolicy(config.capture.allowedPrivateRanges);
    let keys = new ApiKeyRing(config.apiKeys);

    // Operations (metrics, health, retention): built first, its observers go to capture and the API;
    // it reads the other modules' stats lazily, and starts after the API.
    const ops = createOpsModule(
      {
        logger, store: store.ops, databasePath: config.database.path, pcapDir: config.pcap.dir,
        sources: { dht: () => dht.stats(), capture: () => capture.stats(), notify: () => notify.status(), apiListening: () => api.url() !== '' },
        dashboard: { store: store.dashboard, keys: () => keys, watchedCount: () => filters.compiled.stats().infohashes },
      },
      config,
    );

    // Modules, in start order: notifications, capture, BTN, API, ops, admin, DHT.
    const notify = await life.start(
      createNotifications({ outbox: store.outbox, captures: store.captures, filters: () => filters.list(), logger }, config.notify),
    );
    const capture = await life.start(
      createCaptureModule(
        {
          filters, geo: (ip) => geoip.lookup(ip), torrents: store.torrents, captures: store.captures, notify,
          dialable: (ip, port) => policy.isDialable(ip, port), observe: ops.observe, logger,
        },
        { capture: config.capture, pcap: config.pcap, drainTimeoutMs: config.shutdown.drainTimeoutMs, databaseDir: path.dirname(config.database.path) },
      ),
    );
    // Started last (below): its first lookups then run without the API's start-up in their way.
    const dht = createDht(
      {
        logger, nodes: store.dhtNodes, nodes6: store.dhtNodes6, onPeer: (p) => void capture.offer(p),
        watched: () => [...filters.compiled.watchedInfohashes(), ...capture.metadataWanted()],
        watchAll: () => filters.compiled.watchesAllTorrents,
        allowDestination: (ip, port) => policy.isDialable(ip, port).ok,
        newlyWatched: (listener) => onNewlyWatched(filters, listener),
      },
      config.dht,
    );
    const metadataWanted = (ih: string): void => {
      capture.wantMetadata(ih);
      dht.wantNow(ih);
    };
    const spam = await life.start(createSpamModule({ store: store.spam, evidence: store.evidence, keys: () => keys, logger }, () => config.spam));
    const spamRules = spamRuleSource((q) => spam.service.list(q), () => config.spam);
    const btnStore = openBtnStore(store.db);
    const btn = await life.start(createBtnModule({ ...btnStore, spam: spamRules, logger }, { config: () => config.btn }));
    ops.registerRetention({ name: 'btnSubmissions', deleteOlderThan: (before, limit) => btnStore.submissions.deleteOlderThan(before, limit) });
    ops.registerRetention({ name: 'spamReports', deleteOlderThan: (before, limit) => store.spam.deleteReportsOlderThan(before, limit) });
    const api = await life.start(
      createApiModule(
        {
          modules: [btn.http, spam.http, ...(ops.dashboard ? [ops.dashboard] : [])],
          keys: () => keys, pageSize: () => config.http.pageSize, filters, captures: store.captures, torrents: store.torrents,
          onMetadataWanted: metadataWanted, ops: ops.api, logger, storageDir: path.dirname(config.database.path),
        },
        config.http,
      ),
    );
    await life.start(ops);

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
      filters.setConfig(config.filters);
      logger.level = config.log.level;
      warnConfig(config);
      notifier.ready('reloaded');
      const restartNeeded = merged.restartNeeded;
      const message = restartNeeded.length ? `config reloaded; these changes need a restart: ${restartNeeded.join(', ')}` : 'config reloaded';
      log.info({ restartNeeded }, message);
      return { ok: true, message, restartNeeded };
    };
    const status = (): Record<string, unknown> =>
      daemonStatus({
        startedAt, configFile: () => loaded.file ?? null, config: () => config, apiUrl: () => api.url(), apiKeys: () => keys.size,
        dht, capture, notify, outbox: store.outbox, filters, btn, ops,
      });
    await life.start(createAdminModule({ handlers: { status, reload, metadataWanted }, logger }, config.admin));
    await life.start(dht);

    life.onStop(notifier.startWatchdog(() => ops.watchdogOk()));
    notifier.ready(`API on ${api.url()}`);
    log.info({ api: api.url(), admin: config.admin.socket }, 'ready');

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
    return { apiUrl: api.url(), socketPath: config.admin.socket, stop, stopped };
  } catch (err) {
    await life.stopAll();
    throw err;
  }
}
