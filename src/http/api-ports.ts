import type { CaptureRecord } from '../model/capture.js';
import type { TorrentMetadata } from '../protocol/metainfo.js';
import type { PeerPage, PeerPageQuery } from '../store/capture-repository.js';
import type { TorrentInfo } from '../store/torrent-repository.js';
import type { FilterRegistry } from '../filter/filter-registry.js';
import type { ApiKeyRing } from './api-keys.js';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../util/logger.js';

/** A value now (SQLite answers synchronously) or later (PostgreSQL); handlers await either. */
export type MaybePromise<T> = T | Promise<T>;

/** Read side of the capture store, as the API needs it (SQLite or PostgreSQL). */
export interface CaptureQueries {
  page(q: PeerPageQuery): MaybePromise<PeerPage>;
  get(id: number): MaybePromise<CaptureRecord | undefined>;
  filtersOf(id: number): MaybePromise<string[]>;
}

/** The torrents the daemon knows (SQLite or PostgreSQL). */
export interface TorrentCatalog {
  get(infohash: string): MaybePromise<TorrentInfo>;
  addPending(infohash: string, source: string): MaybePromise<boolean>;
  putMetadata(meta: TorrentMetadata, source: string): MaybePromise<void>;
}

/** The ops module's side of the API: health for /healthz and /readyz, and request timings for metrics. */
export interface ApiOps {
  /** The latest health report (cached; never blocks). */
  readiness(): { ready: boolean } & Record<string, unknown>;
  /** Each answered request: the route pattern (never the raw URL), method, status and duration. */
  onRequestDone?(route: string, method: string, status: number, durationMs: number): void;
}

export interface ApiDeps {
  /** Current key ring (swapped on reload). */
  keys(): ApiKeyRing;
  /** Current page size for peers/all (swapped on reload). */
  pageSize(): number;
  filters: FilterRegistry;
  captures: CaptureQueries;
  torrents: TorrentCatalog;
  /** Called when a torrent's metadata becomes wanted (the DHT looks it up). */
  onMetadataWanted?(infohash: string): void;
  /** Health routes and request metrics (absent: no /healthz, /readyz). */
  ops?: ApiOps;
  logger: Logger;
  /** Observer of every route as it is registered (test/integration/openapi.test.ts: each must be in /openapi.json). */
  onRoute?(method: string, url: string): void;
  /** Directory of the database: a write failing with an I/O error is probed there (read-only? full?). */
  storageDir?: string;
  /** Domain modules that add routes (BTN), registered after the Capture API's. */
  modules?: readonly HttpModule[];
}

/** A domain's routes on the API server. */
export interface HttpModule {
  name: string;
  /** URL prefixes whose errors use the Sparkle/BTN body `{success: false, message, data: null}`. */
  stdRespPrefixes: readonly string[];
  register(app: FastifyInstance): Promise<void> | void;
}

export interface ApiOptions {
  bodyLimitBytes: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  trustProxy: boolean;
}
