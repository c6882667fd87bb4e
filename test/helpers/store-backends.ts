import path from 'node:path';
import type { CaptureRecord, NewCapture } from '../../src/model/capture.js';
import type { TorrentMetadata } from '../../src/protocol/metainfo.js';
import type { PeerPage, PeerPageQuery } from '../../src/store/capture-repository.js';
import type { OverlayChange } from '../../src/store/filter-overlay-repository.js';
import { openPgStore, type PgStore } from '../../src/store/pg/pg-store.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import type { TorrentInfo } from '../../src/store/torrent-repository.js';
import { freshPgSchema } from './pg-test-schema.js';
import { tempDir } from './temp-dir.js';

type Maybe<T> = T | Promise<T>;

/** What both capture repositories offer (SQLite answers at once, PostgreSQL with promises). */
export interface AnyCaptureStore {
  insertMany(batch: readonly NewCapture[], now?: number): Maybe<number[]>;
  page(q: PeerPageQuery): Maybe<PeerPage>;
  get(id: number): Maybe<CaptureRecord | undefined>;
  filtersOf(id: number): Maybe<string[]>;
  isListedUnder(id: number, filter: string): Maybe<boolean>;
  countPerMinuteSince(ms: number): Maybe<Array<[number, number]>>;
}

export interface AnyTorrentStore {
  get(infohash: string): Maybe<TorrentInfo>;
  addPending(infohash: string, source: string, now?: number): Maybe<boolean>;
  putMetadata(meta: TorrentMetadata, source: string, now?: number): Maybe<void>;
  pendingInfohashes(): Maybe<string[]>;
  infoDictionary(infohash: string): Maybe<Buffer | undefined>;
}

export interface AnyOverlayStore {
  record(filter: string, infohash: string, op: 'add' | 'delete', now?: number): Maybe<void>;
  list(): Maybe<OverlayChange[]>;
  reset(filter: string): Maybe<number>;
}

export interface OpenedBackend {
  captures: AnyCaptureStore;
  torrents: AnyTorrentStore;
  overlay: AnyOverlayStore;
  /** A single number from SQL (the same SQL must work on both engines). */
  scalar(sql: string): Promise<number>;
  /** The PostgreSQL store (undefined on SQLite). */
  pg?: PgStore;
  close(): Promise<void>;
}

export interface StoreBackend {
  name: 'sqlite' | 'postgres';
  /** Ids from a sequence: a rolled-back batch leaves a gap (SQLite reuses them). */
  idsHaveGaps: boolean;
  /** Keeps the notification outbox (PostgreSQL does not: crawlers keep it). */
  hasOutbox: boolean;
  open(): Promise<OpenedBackend>;
}

export const storeBackends: readonly StoreBackend[] = [
  {
    name: 'sqlite',
    idsHaveGaps: false,
    hasOutbox: true,
    open() {
      const t = tempDir('store-backend-');
      const store = openSqliteStore({ path: path.join(t.dir, 'capture.db'), busyTimeoutMs: 5000 });
      return Promise.resolve({
        captures: store.captures,
        torrents: store.torrents,
        overlay: store.overlay,
        scalar: (sql: string) => Promise.resolve(Number(store.db.prepare(sql).pluck().get())),
        close() {
          store.close();
          t.cleanup();
          return Promise.resolve();
        },
      });
    },
  },
  {
    name: 'postgres',
    idsHaveGaps: true,
    hasOutbox: false,
    async open() {
      const s = await freshPgSchema('store');
      let store: PgStore;
      try {
        store = await openPgStore({ url: s.url, schema: s.schema, max: 4 });
      } catch (err) {
        await s.drop();
        throw err;
      }
      return {
        captures: store.captures,
        torrents: store.torrents,
        overlay: store.overlay,
        pg: store,
        scalar: async (sql: string) => Number(Object.values((await store.pool.query(sql)).rows[0] as object)[0]),
        async close() {
          await store.close();
          await s.drop();
        },
      };
    },
  },
];
