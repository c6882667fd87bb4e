/**
 * The daemon's HTTP server with only the BTN module, on a store a bench opened, plus one BTN app
 * to submit with, and the WAL checkpointer the daemon runs: what bench/btn-ingest-server.ts and
 * bench/btn-capture-lock.ts both serve.
 */
import type { FastifyInstance } from 'fastify';
import { BtnApps } from '../src/btn/btn-apps.js';
import { createBtnModule } from '../src/btn/module.js';
import type { Config } from '../src/config/config-schema.js';
import { FilterRegistry } from '../src/filter/filter-registry.js';
import { ApiKeyRing } from '../src/http/api-keys.js';
import { createApiServer } from '../src/http/api-server.js';
import type { openBtnStore } from '../src/store/btn-store.js';
import type { SqliteStore } from '../src/store/sqlite-store.js';
import { WalCheckpointer, type WalCheckpointStatus } from '../src/store/wal-checkpointer.js';
import { writeTurnOf } from '../src/store/write-turn.js';
import { silentLogger } from '../src/util/logger.js';

export interface BtnBenchServer {
  app: FastifyInstance;
  url: string;
  appId: string;
  appSecret: string;
  /** The BTN module's status (its ingest and decode-thread counters). */
  status(): Record<string, unknown>;
  /** The WAL checkpointer's status (checkpoints, the WAL's size, fallbacks). */
  checkpoint(): WalCheckpointStatus;
  /** Stops the BTN module, then closes the HTTP server, then the WAL checkpointer. */
  close(): Promise<void>;
}

export async function startBtnBenchServer(
  store: SqliteStore,
  btnStore: ReturnType<typeof openBtnStore>,
  config: Config,
  options: { decodeThreads?: number } = {},
): Promise<BtnBenchServer> {
  // WAL checkpoints as the daemon runs them (database.checkpoint: a worker thread every second, the
  // writers' automatic checkpoint off meanwhile); CHECKPOINT_WORKER=0: SQLite's own, in each commit.
  const checkpoint = { ...config.database.checkpoint, worker: config.database.checkpoint.worker && process.env.CHECKPOINT_WORKER !== '0' };
  // THREAD_CHECKPOINT=1: as before session 7, the BTN write thread's connection keeps SQLite's own
  // checkpoint in its commits and the worker never takes the write turn (the daemon's connection only).
  const main = process.env.THREAD_CHECKPOINT === '1' ? { setAutoCheckpoint: (pages: number) => void store.db.pragma(`wal_autocheckpoint = ${pages}`) } : store.ops;
  const checkpointer = new WalCheckpointer({ file: store.db.name, main, logger: silentLogger() }, checkpoint);
  checkpointer.start();
  const btn = createBtnModule({ ...btnStore, writeTurn: writeTurnOf(store.db), logger: silentLogger() }, { config: () => config.btn, ...options });
  const app = await createApiServer(
    {
      modules: [btn.http],
      keys: () => new ApiKeyRing([]),
      pageSize: () => 1000,
      filters: new FilterRegistry({ overlay: store.overlay, torrents: store.torrents }, []),
      captures: store.captures,
      torrents: store.torrents,
      logger: silentLogger(),
    },
    { bodyLimitBytes: config.http.bodyLimitBytes, requestTimeoutMs: 120_000, keepAliveTimeoutMs: 60_000, trustProxy: false },
  );
  await btnStore.start();
  await app.listen({ host: '127.0.0.1', port: 0 });
  btn.start();
  const { app: created, appSecret } = new BtnApps(btnStore.apps, { autoAccount: false }).create('bench', null);
  return {
    app,
    url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`,
    appId: created.appId,
    appSecret,
    status: () => btn.status(),
    checkpoint: () => checkpointer.status(),
    close: async () => {
      btn.stop();
      await app.close();
      await checkpointer.stop();
    },
  };
}
