import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { BtnApps } from '../../src/btn/btn-apps.js';
import { createBtnModule, type BtnModule } from '../../src/btn/module.js';
import type { SpamListSource } from '../../src/btn/ports.js';
import { configSchema, type BtnConfig } from '../../src/config/config-schema.js';
import { FilterRegistry } from '../../src/filter/filter-registry.js';
import { ApiKeyRing } from '../../src/http/api-keys.js';
import { createApiServer } from '../../src/http/api-server.js';
import { openBtnStore, type OpenBtnStoreOptions } from '../../src/store/btn-store.js';
import { SqliteCaptureRepository } from '../../src/store/capture-repository.js';
import { SqliteFilterOverlayRepository } from '../../src/store/filter-overlay-repository.js';
import { openDatabase, type Db } from '../../src/store/open-database.js';
import { SqliteTorrentRepository } from '../../src/store/torrent-repository.js';
import { apiWritesInTurn, writeTurnOf } from '../../src/store/write-turn.js';
import { silentLogger } from '../../src/util/logger.js';
import { tempDir } from './temp-dir.js';

export type BtnInput = z.input<typeof configSchema>['btn'];

export interface BtnFixture {
  url: string;
  db: Db;
  dbFile: string;
  btn: BtnModule;
  store: ReturnType<typeof openBtnStore>;
  captures: SqliteCaptureRepository;
  /** Replaces the btn config (as a reload does). */
  setConfig(input: BtnInput): void;
  config(): BtnConfig;
  /** Creates a user application the way the CLI does. */
  createApp(comment?: string, owner?: string | null): { appId: string; appSecret: string };
  app: FastifyInstance;
  close(): Promise<void>;
}

/** The daemon's HTTP server with the BTN module on, a real SQLite file and a real port. */
export async function startBtn(
  input: BtnInput = {},
  options: {
    http?: z.input<typeof configSchema>['http'];
    rulesRefreshMs?: number;
    swarmChunkRows?: number;
    /** Threads that decode submissions (default: the module's, 1; 0: on the event loop). */
    decodeThreads?: number;
    spam?: (db: Db) => SpamListSource;
    /** Submissions written on the store's write thread, as the daemon does (default true). */
    writeThread?: OpenBtnStoreOptions['writeThread'];
    /** Capture API keys and filters (default none). */
    apiKeys?: z.input<typeof configSchema>['apiKeys'];
    filters?: z.input<typeof configSchema>['filters'];
  } = {},
): Promise<BtnFixture> {
  const parse = (b: BtnInput): BtnConfig =>
    configSchema.parse({ http: options.http ?? {}, btn: { enabled: true, publicUrl: 'http://btn.example.test:8080', ...b } }).btn;
  let btnConfig = parse(input);
  const base = configSchema.parse({ http: options.http ?? {}, apiKeys: options.apiKeys ?? [], filters: options.filters ?? [] });
  const { dir, cleanup } = tempDir('btn-');
  const dbFile = path.join(dir, 'capture.db');
  // The daemon's busy timeout (database.busyTimeoutMs, 50 ms) on its connection, as in the daemon.
  const db = openDatabase(dbFile, { busyTimeoutMs: base.database.busyTimeoutMs });
  const torrents = new SqliteTorrentRepository(db);
  const overlay = new SqliteFilterOverlayRepository(db);
  const captures = new SqliteCaptureRepository(db);
  const store = openBtnStore(db, { writeThread: options.writeThread ?? true });
  // As the daemon wires them (roles/api-side.ts, node-role.ts): API writes and the module's own in the write turn.
  const inTurn = apiWritesInTurn(db, { torrents, overlay });
  const btn = createBtnModule({ ...store, writeTurn: writeTurnOf(db), ...(options.spam ? { spam: options.spam(db) } : {}), logger: silentLogger() }, { config: () => btnConfig, rulesRefreshMs: options.rulesRefreshMs ?? 0, ...(options.swarmChunkRows ? { swarmChunkRows: options.swarmChunkRows } : {}), ...(options.decodeThreads !== undefined ? { decodeThreads: options.decodeThreads } : {}) });
  const app = await createApiServer(
    {
      modules: [btn.http],
      keys: () => new ApiKeyRing(base.apiKeys),
      pageSize: () => 1000,
      filters: new FilterRegistry({ overlay: inTurn.overlay, torrents }, base.filters),
      captures,
      torrents: inTurn.torrents,
      logger: silentLogger(),
    },
    {
      bodyLimitBytes: base.http.bodyLimitBytes,
      requestTimeoutMs: base.http.requestTimeoutMs,
      keepAliveTimeoutMs: base.http.keepAliveTimeoutMs,
      trustProxy: false,
    },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  btn.start();
  const addr = app.server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no TCP address');
  const apps = new BtnApps(store.apps, { autoAccount: false });
  return {
    url: `http://127.0.0.1:${addr.port}`,
    db,
    dbFile,
    btn,
    store,
    captures,
    app,
    setConfig: (b) => {
      btnConfig = parse(b);
    },
    config: () => btnConfig,
    createApp: (comment = 'test', owner = null) => {
      const { app: a, appSecret } = apps.create(comment, owner);
      return { appId: a.appId, appSecret };
    },
    async close() {
      btn.stop();
      await app.close();
      await store.close();
      db.close();
      cleanup();
    },
  };
}
