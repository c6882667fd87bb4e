import type { FilterRegistry } from '../filter/filter-registry.js';
import type { ResolvedConfig } from '../config/load-config.js';
import type { ApiKeyRing } from '../http/api-keys.js';
import type { Lifecycle } from '../daemon/lifecycle.js';
import type { Logger } from '../util/logger.js';
import type { SqliteStore } from '../store/sqlite-store.js';
import type { PgStore } from '../store/pg/pg-store.js';

/** What a role built: the parts the shell (reload, status, admin, ready) needs. */
export interface BuiltRole {
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
export interface BaseContext {
  config(): ResolvedConfig;
  keys(): ApiKeyRing;
  life: Lifecycle;
  logger: Logger;
  startedAt: number;
  configFile(): string | null;
}

/** A role on SQLite (all, crawler, and ingest/api on a shared SQLite file). */
export interface RoleContext extends BaseContext {
  store: SqliteStore;
}

/** A center role (ingest, api) on the central PostgreSQL store. */
export interface PgRoleContext extends BaseContext {
  pg: PgStore;
  /** The store's URL, password hidden, and schema (for status). */
  where: string;
}
