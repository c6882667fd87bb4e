import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { configSchema, type Config } from '../../src/config/config-schema.js';
import { FilterRegistry } from '../../src/filter/filter-registry.js';
import { ApiKeyRing } from '../../src/http/api-keys.js';
import { createApiServer } from '../../src/http/api-server.js';
import { SqliteCaptureRepository } from '../../src/store/capture-repository.js';
import { SqliteFilterOverlayRepository } from '../../src/store/filter-overlay-repository.js';
import { openDatabase, type Db } from '../../src/store/open-database.js';
import { SqliteTorrentRepository } from '../../src/store/torrent-repository.js';
import { createSpamModule, type SpamModule } from '../../src/spam/module.js';
import { SqliteEvidenceRepository } from '../../src/store/spam-evidence-repository.js';
import { SqliteSpamRepository } from '../../src/store/spam-repository.js';
import { silentLogger } from '../../src/util/logger.js';
import { tempDir } from './temp-dir.js';
import type { NewCapture } from '../../src/model/capture.js';
import { openPgStore, type PgStore } from '../../src/store/pg/pg-store.js';
import { freshPgSchema, type PgTestSchema } from './pg-test-schema.js';

export type ConfigInput = z.input<typeof configSchema>;

export interface ApiFixtureOptions {
  /** API keys, config-shaped (defaults apply: state active, methods ["*"], filters ["*"]). */
  apiKeys?: ConfigInput['apiKeys'];
  /** Capture Filters, config-shaped (defaults apply). */
  filters?: ConfigInput['filters'];
  /** The `http` section (pageSize, bodyLimitBytes, timeouts). */
  http?: ConfigInput['http'];
  /** The `database` section (busyTimeoutMs; the path is the fixture's). */
  database?: ConfigInput['database'];
  /**
   * The SQLite file. Given: the caller owns it (reopen the same file in a second fixture).
   * Omitted: a fresh temp dir is made and removed by close().
   */
  dbFile?: string;
  /** Overrides the page size the server reads (default: config http.pageSize). */
  pageSize?: () => number;
  /** The `spam` section (the spam list's routes are always registered; its scanner is not started). */
  spam?: ConfigInput['spam'];
  /** Clock of the spam module (epoch ms). */
  now?: () => number;
  /**
   * Where the API reads captures and torrents: the SQLite file (default) or PostgreSQL (a fresh
   * schema, or `pgSchema` to share one between servers). The filter registry and the overlay stay
   * on the SQLite file either way.
   */
  store?: 'sqlite' | 'postgres';
  pgSchema?: PgTestSchema;
}

export interface ApiFixture {
  /** Base URL without trailing slash, e.g. http://127.0.0.1:41234 */
  url: string;
  /** Directory holding the database (and a place for pcap files). */
  dir: string;
  dbFile: string;
  db: Db;
  config: Config;
  repos: {
    torrents: SqliteTorrentRepository;
    overlay: SqliteFilterOverlayRepository;
    captures: SqliteCaptureRepository;
  };
  /** Where the API reads captures and torrents. */
  store: 'sqlite' | 'postgres';
  /** The PostgreSQL store (store: 'postgres'). */
  pg?: PgStore;
  /** Stores captures where the API reads them; their ids, in batch order. */
  insertCaptures(batch: readonly NewCapture[]): Promise<number[]>;
  registry: FilterRegistry;
  spam: SpamModule;
  spamRepo: SqliteSpamRepository;
  /** Metadata requests passed to onMetadataWanted. */
  wanted: string[];
  app: FastifyInstance;
  /** Stops the server, closes the database and, if the fixture made it, removes the temp dir. */
  close(): Promise<void>;
}

/** Builds the HTTP API as src/main.ts does, on a real SQLite file and a real port on 127.0.0.1. */
export async function startApi(options: ApiFixtureOptions = {}): Promise<ApiFixture> {
  const config = configSchema.parse({ apiKeys: options.apiKeys ?? [], filters: options.filters ?? [], http: options.http ?? {}, database: options.database ?? {}, spam: options.spam ?? {} });
  let dir: string;
  let cleanup: (() => void) | undefined;
  if (options.dbFile !== undefined) {
    dir = path.dirname(options.dbFile);
  } else {
    const t = tempDir('capture-api-');
    dir = t.dir;
    cleanup = t.cleanup;
  }
  const dbFile = options.dbFile ?? path.join(dir, 'capture.db');
  const db = openDatabase(dbFile, { busyTimeoutMs: config.database.busyTimeoutMs });
  const torrents = new SqliteTorrentRepository(db);
  const overlay = new SqliteFilterOverlayRepository(db);
  const captures = new SqliteCaptureRepository(db);
  const registry = new FilterRegistry({ overlay, torrents }, config.filters);
  const keys = new ApiKeyRing(config.apiKeys);
  const wanted: string[] = [];
  const spamRepo = new SqliteSpamRepository(db);
  const spam = createSpamModule(
    { store: spamRepo, evidence: new SqliteEvidenceRepository(db), keys: () => keys, logger: silentLogger(), ...(options.now ? { now: options.now } : {}) },
    () => config.spam,
  );
  let app: FastifyInstance | undefined;
  let pgSchema: PgTestSchema | undefined;
  let pgStore: PgStore | undefined;
  let ownSchema = false;
  try {
    if (options.store === 'postgres') {
      ownSchema = options.pgSchema === undefined;
      pgSchema = options.pgSchema ?? (await freshPgSchema('api'));
      pgStore = await openPgStore({ url: pgSchema.url, schema: pgSchema.schema, max: 4 });
    }
    app = await createApiServer(
      {
        keys: () => keys,
        pageSize: options.pageSize ?? (() => config.http.pageSize),
        filters: registry,
        captures: pgStore?.captures ?? captures,
        torrents: pgStore?.torrents ?? torrents,
        onMetadataWanted: (ih) => wanted.push(ih),
        logger: silentLogger(),
        modules: [spam.http],
      },
      {
        bodyLimitBytes: config.http.bodyLimitBytes,
        requestTimeoutMs: config.http.requestTimeoutMs,
        keepAliveTimeoutMs: config.http.keepAliveTimeoutMs,
        trustProxy: config.http.trustProxy,
      },
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
  } catch (err) {
    await app?.close();
    await pgStore?.close();
    if (ownSchema) await pgSchema?.drop();
    db.close();
    cleanup?.();
    throw err;
  }
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address');
  const server = app;
  let closed = false;
  return {
    url: `http://127.0.0.1:${address.port}`,
    dir,
    dbFile,
    db,
    config,
    repos: { torrents, overlay, captures },
    store: pgStore ? 'postgres' : 'sqlite',
    ...(pgStore ? { pg: pgStore } : {}),
    insertCaptures: async (batch) => (pgStore ? pgStore.captures.insertMany(batch) : captures.insertMany(batch)),
    registry,
    spam,
    spamRepo,
    wanted,
    app: server,
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
      await pgStore?.close();
      if (ownSchema) await pgSchema?.drop();
      db.close();
      cleanup?.();
    },
  };
}

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  /** Parsed JSON when the response is JSON, else undefined. */
  body: T;
  text: string;
}

async function toResponse<T>(res: Response): Promise<ApiResponse<T>> {
  const text = await res.text();
  let body: unknown;
  if ((res.headers.get('content-type') ?? '').includes('json')) body = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: body as T, text };
}

/** What fetch accepts as a request body. */
export type RequestBody = NonNullable<RequestInit['body']>;

export type QueryInit = Record<string, string | number | boolean | undefined> | string;

function queryString(params: QueryInit | undefined): string {
  if (params === undefined) return '';
  if (typeof params === 'string') return params.length > 0 ? `?${params}` : '';
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) sp.append(k, String(v));
  const s = sp.toString();
  return s.length > 0 ? `?${s}` : '';
}

/** GET base+path with query params (an object, or a raw query string without "?"). */
export async function apiGet<T = unknown>(base: string, pathname: string, params?: QueryInit): Promise<ApiResponse<T>> {
  return toResponse<T>(await fetch(`${base}${pathname}${queryString(params)}`));
}

/** POST an application/x-www-form-urlencoded body, like `curl --data`. */
export async function apiPostForm<T = unknown>(
  base: string,
  pathname: string,
  form: Record<string, string> | string,
  query?: QueryInit,
): Promise<ApiResponse<T>> {
  const body = typeof form === 'string' ? form : new URLSearchParams(form).toString();
  return toResponse<T>(
    await fetch(`${base}${pathname}${queryString(query)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    }),
  );
}

/** POST anything (multipart FormData, raw buffers with a content type, …). */
export async function apiPost<T = unknown>(
  base: string,
  pathname: string,
  init: { body: RequestBody; contentType?: string; query?: QueryInit },
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = {};
  if (init.contentType !== undefined) headers['content-type'] = init.contentType;
  return toResponse<T>(await fetch(`${base}${pathname}${queryString(init.query)}`, { method: 'POST', headers, body: init.body }));
}
