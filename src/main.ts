import { mergeReloaded } from './config/config-reload.js';
import { loadConfig, type LoadedConfig, type ResolvedConfig } from './config/load-config.js';
import { createAdminModule } from './daemon/admin-server.js';
import { acquireInstanceLock } from './daemon/instance-lock.js';
import { Lifecycle } from './daemon/lifecycle.js';
import { createSdNotifier } from './daemon/sd-notify.js';
import { ApiKeyRing } from './http/api-keys.js';
import { openSqliteStore } from './store/sqlite-store.js';
import { redactPgUrl } from './store/pg/pg-pool.js';
import { openPgStore } from './store/pg/pg-store.js';
import { AppError, errorMessage } from './util/app-error.js';
import { createLogger, type Logger } from './util/logger.js';
import { VERSION } from './util/version.js';
import type { BaseContext, BuiltRole, RoleContext } from './roles/role-context.js';
import { startNodeRole } from './roles/node-role.js';
import { startCenterRole } from './roles/center-role.js';
import { startPgCenterRole } from './roles/pg-center-role.js';

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

/**
 * The composition root: loads the config, builds every shared object once (store, GeoIP, filters,
 * address policy, API keys) and the modules that use them, starts the modules in order and stops
 * them in reverse. Each role's object graph is built in src/roles/ (the rest of the composition
 * root, one file per role). Nothing else imports this file except the CLI's `start`.
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
