import type { Statement } from 'better-sqlite3';
import type { Db } from './open-database.js';

/** [bucket start (epoch minute), ok, failed] */
export type MinuteRow = [minute: number, ok: number, failed: number];
/** [key, captures] — a country code or client name ('' unknown). */
export type KeyCount = [key: string, n: number];
export interface TorrentRow {
  infohash: string;
  name: string | null;
  seeders: number;
  leechers: number;
  failed: number;
}

/**
 * The dashboard's reads: every query is a range of a rollup table's key (capture-rollups.ts), so
 * its cost depends on the range asked for (at most 7 days: 10,080 minutes, 168 hours × the
 * distinct countries / clients / watched torrents), never on how many captures are stored.
 */
export class SqliteDashboardRepository {
  private readonly seriesStmt: Statement;
  private readonly hourSeriesStmt: Statement;
  private readonly countsStmt: Statement;
  private readonly dayCountsStmt: Statement;
  private readonly torrentsStmt: Statement;
  private readonly dayTorrentsStmt: Statement;
  private readonly nameStmt: Statement;

  constructor(db: Db) {
    this.seriesStmt = db
      .prepare(
        `SELECT minute - minute % @bucket AS b, sum(ok), sum(failed) FROM capture_minutes
         WHERE minute >= @from AND minute < @to GROUP BY b ORDER BY b`,
      )
      .raw();
    this.hourSeriesStmt = db
      .prepare(
        `SELECT hour * 60 - (hour * 60) % @bucket AS b, sum(ok), sum(failed) FROM capture_hours
         WHERE hour >= @from AND hour < @to GROUP BY b ORDER BY b`,
      )
      .raw();
    this.dayCountsStmt = db
      .prepare('SELECT key, sum(n) AS total FROM capture_day_counts WHERE kind = ? AND day >= ? GROUP BY key ORDER BY total DESC, key')
      .raw();
    this.countsStmt = db
      .prepare('SELECT key, sum(n) AS total FROM capture_hour_counts WHERE kind = ? AND hour >= ? GROUP BY key ORDER BY total DESC, key')
      .raw();
    this.torrentsStmt = db
      .prepare(
        `SELECT infohash, sum(seeders) AS s, sum(leechers) AS l, sum(failed) AS f FROM capture_hour_torrents
         WHERE hour >= ? GROUP BY infohash ORDER BY s + l + f DESC, infohash LIMIT ?`,
      )
      .raw();
    this.dayTorrentsStmt = db
      .prepare(
        `SELECT infohash, sum(seeders) AS s, sum(leechers) AS l, sum(failed) AS f FROM capture_day_torrents
         WHERE day >= ? GROUP BY infohash ORDER BY s + l + f DESC, infohash LIMIT ?`,
      )
      .raw();
    this.nameStmt = db.prepare('SELECT name FROM torrents WHERE infohash = ?').pluck();
  }

  /**
   * Captures per bucket of `bucketMinutes` in [fromMinute, toMinute), buckets without captures left
   * out. Buckets and bounds of whole hours read the per-hour table (the 7-day range).
   */
  series(fromMinute: number, toMinute: number, bucketMinutes: number): MinuteRow[] {
    if (bucketMinutes % 60 === 0 && fromMinute % 60 === 0 && toMinute % 60 === 0) {
      return this.hourSeriesStmt.all({ bucket: bucketMinutes, from: fromMinute / 60, to: toMinute / 60 }) as MinuteRow[];
    }
    return this.seriesStmt.all({ bucket: bucketMinutes, from: fromMinute, to: toMinute }) as MinuteRow[];
  }

  /**
   * Captures by country or client since `fromHour` (epoch hour), most first. A `fromHour` at the
   * start of a day reads the per-day table (the 7-day range).
   */
  counts(kind: 'country' | 'client', fromHour: number): KeyCount[] {
    if (fromHour % 24 === 0) return this.dayCountsStmt.all(kind, fromHour / 24) as KeyCount[];
    return this.countsStmt.all(kind, fromHour) as KeyCount[];
  }

  /**
   * The `limit` torrents with the most captures since `fromHour`, with their names when known. A
   * `fromHour` at the start of a day (a multiple of 24) reads the per-day table (the 7-day range).
   */
  torrents(fromHour: number, limit: number): TorrentRow[] {
    const rows = fromHour % 24 === 0 ? this.dayTorrentsStmt.all(fromHour / 24, limit) : this.torrentsStmt.all(fromHour, limit);
    return (rows as Array<[string, number, number, number]>).map(([infohash, seeders, leechers, failed]) => ({
      infohash,
      name: (this.nameStmt.get(infohash) as string | null | undefined) ?? null,
      seeders,
      leechers,
      failed,
    }));
  }
}
