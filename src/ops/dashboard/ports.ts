import type { FastifyInstance } from 'fastify';
import type { KeyCount, MinuteRow, TorrentRow } from '../../store/dashboard-repository.js';

export type { KeyCount, MinuteRow, TorrentRow };

/** What the dashboard reads from the store: ranges of the rollup tables only (SqliteDashboardRepository). */
export interface DashboardStore {
  series(fromMinute: number, toMinute: number, bucketMinutes: number): MinuteRow[];
  counts(kind: 'country' | 'client', fromHour: number): KeyCount[];
  torrents(fromHour: number, limit: number): TorrentRow[];
}

/** The API keys, as the dashboard checks them (http/ApiKeyRing: throws the API's key errors). */
export interface DashboardKeys {
  authorize(key: unknown, method: 'dashboard'): { name: string; mayUseFilter(filter: string): boolean };
}

/** The dashboard's routes, handed to the API server (the shape of http/HttpModule). */
export interface DashboardHttp {
  name: string;
  stdRespPrefixes: readonly string[];
  register(app: FastifyInstance): void;
}
