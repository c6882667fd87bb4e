import type { Statement } from 'better-sqlite3';
import type { NewCapture } from '../model/capture.js';
import type { Db } from './open-database.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Rollup rows older than this are pruned (the dashboard's longest range is 7 days). */
export const ROLLUP_KEEP_MS = 8 * 24 * HOUR;

/**
 * The dashboard's counters (migrations 12, 14 and 17), kept up to date by the capture writer inside each
 * batch's transaction: one upsert per distinct minute, country, client and watched torrent of the
 * batch (a 1,000-capture batch is typically a few dozen upserts; watched torrents per hour and per
 * day), never a scan. Once an hour the
 * rows older than ROLLUP_KEEP_MS go (a range delete of each table's key).
 *
 * Torrents are counted only when `torrentScope(infohash)` says so (the daemon passes "listed by a
 * filter"): in watch-all mode every torrent on the DHT would otherwise get rows.
 */
export class CaptureRollups {
  private readonly upMinute: Statement;
  private readonly upHourTotal: Statement;
  private readonly upHour: Statement;
  private readonly upDay: Statement;
  private readonly upTorrent: Statement;
  private readonly upDayTorrent: Statement;
  private readonly prunes: Statement[];
  private torrentScope: (infohash: string) => boolean = () => true;
  private prunedHour = -1;

  constructor(db: Db) {
    this.upMinute = db.prepare(`INSERT INTO capture_minutes (minute, ok, failed) VALUES (?, ?, ?)
      ON CONFLICT (minute) DO UPDATE SET ok = ok + excluded.ok, failed = failed + excluded.failed`);
    this.upHourTotal = db.prepare(`INSERT INTO capture_hours (hour, ok, failed) VALUES (?, ?, ?)
      ON CONFLICT (hour) DO UPDATE SET ok = ok + excluded.ok, failed = failed + excluded.failed`);
    this.upHour = db.prepare(`INSERT INTO capture_hour_counts (kind, hour, key, n) VALUES (?, ?, ?, ?)
      ON CONFLICT (kind, hour, key) DO UPDATE SET n = n + excluded.n`);
    this.upDay = db.prepare(`INSERT INTO capture_day_counts (kind, day, key, n) VALUES (?, ?, ?, ?)
      ON CONFLICT (kind, day, key) DO UPDATE SET n = n + excluded.n`);
    this.upTorrent = db.prepare(`INSERT INTO capture_hour_torrents (hour, infohash, seeders, leechers, failed) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (hour, infohash) DO UPDATE SET seeders = seeders + excluded.seeders,
        leechers = leechers + excluded.leechers, failed = failed + excluded.failed`);
    this.upDayTorrent = db.prepare(`INSERT INTO capture_day_torrents (day, infohash, seeders, leechers, failed) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (day, infohash) DO UPDATE SET seeders = seeders + excluded.seeders,
        leechers = leechers + excluded.leechers, failed = failed + excluded.failed`);
    this.prunes = [
      db.prepare('DELETE FROM capture_minutes WHERE minute < ?'),
      db.prepare("DELETE FROM capture_hour_counts WHERE kind = 'country' AND hour < ?"),
      db.prepare("DELETE FROM capture_hour_counts WHERE kind = 'client' AND hour < ?"),
      db.prepare('DELETE FROM capture_hour_torrents WHERE hour < ?'),
      db.prepare('DELETE FROM capture_day_torrents WHERE day < ?'),
      db.prepare('DELETE FROM capture_hours WHERE hour < ?'),
      db.prepare("DELETE FROM capture_day_counts WHERE kind = 'country' AND day < ?"),
      db.prepare("DELETE FROM capture_day_counts WHERE kind = 'client' AND day < ?"),
    ];
  }

  /** Which torrents get per-torrent rows (read at each batch: filters changed through the API count at once). */
  setTorrentScope(scope: (infohash: string) => boolean): void {
    this.torrentScope = scope;
  }

  /** Counts a batch; runs inside the writer's transaction. */
  add(batch: readonly NewCapture[], now: number): void {
    const minutes = new Map<number, [ok: number, failed: number]>();
    const hours = new Map<string, number>();
    const torrents = new Map<string, [hour: number, infohash: string, seeders: number, leechers: number, failed: number]>();
    const scope = this.torrentScope;
    const oldest = now - ROLLUP_KEEP_MS;
    for (const c of batch) {
      if (c.foundAt < oldest) continue; // past what the dashboard shows (and what prune() keeps)
      const minute = Math.floor(c.foundAt / MINUTE);
      const hour = Math.floor(c.foundAt / HOUR);
      const ok = c.report !== undefined;
      let m = minutes.get(minute);
      if (!m) minutes.set(minute, (m = [0, 0]));
      m[ok ? 0 : 1]++;
      const country = `country\u0000${hour}\u0000${c.countryCode ?? ''}`;
      hours.set(country, (hours.get(country) ?? 0) + 1);
      if (ok) {
        const client = `client\u0000${hour}\u0000${c.report?.clientName ?? ''}`;
        hours.set(client, (hours.get(client) ?? 0) + 1);
      }
      if (scope(c.infohash)) {
        const k = `${hour}\u0000${c.infohash}`;
        let t = torrents.get(k);
        if (!t) torrents.set(k, (t = [hour, c.infohash, 0, 0, 0]));
        if (!ok) t[4]++;
        else if (c.report?.hasTotal) t[2]++;
        else t[3]++;
      }
    }
    const hourTotals = new Map<number, [ok: number, failed: number]>();
    for (const [minute, [ok, failed]] of minutes) {
      this.upMinute.run(minute, ok, failed);
      const hour = Math.floor(minute / 60);
      const h = hourTotals.get(hour);
      if (h) {
        h[0] += ok;
        h[1] += failed;
      } else hourTotals.set(hour, [ok, failed]);
    }
    for (const [hour, [ok, failed]] of hourTotals) this.upHourTotal.run(hour, ok, failed);
    const dayCounts = new Map<string, number>();
    for (const [k, n] of hours) {
      const [kind, hour, key] = k.split('\u0000') as [string, string, string];
      this.upHour.run(kind, Number(hour), key, n);
      const dk = `${kind}\u0000${Math.floor(Number(hour) / 24)}\u0000${key}`;
      dayCounts.set(dk, (dayCounts.get(dk) ?? 0) + n);
    }
    for (const [k, n] of dayCounts) {
      const [kind, day, key] = k.split('\u0000') as [string, string, string];
      this.upDay.run(kind, Number(day), key, n);
    }
    const days = new Map<string, [day: number, infohash: string, seeders: number, leechers: number, failed: number]>();
    for (const t of torrents.values()) {
      this.upTorrent.run(t);
      const day = Math.floor(t[0] / 24);
      const k = `${day}\u0000${t[1]}`;
      const d = days.get(k);
      if (d) {
        d[2] += t[2];
        d[3] += t[3];
        d[4] += t[4];
      } else days.set(k, [day, t[1], t[2], t[3], t[4]]);
    }
    for (const d of days.values()) this.upDayTorrent.run(d);
    this.prune(now);
  }

  /** Deletes rows past ROLLUP_KEEP_MS, at most once per hour. */
  prune(now: number): void {
    const hour = Math.floor(now / HOUR);
    if (hour === this.prunedHour) return;
    this.prunedHour = hour;
    const cutoff = now - ROLLUP_KEEP_MS;
    const [minutes, countries, clients, torrents, dayTorrents, hours, dayCountries, dayClients] = this.prunes as [
      Statement, Statement, Statement, Statement, Statement, Statement, Statement, Statement,
    ];
    minutes.run(Math.floor(cutoff / MINUTE));
    countries.run(Math.floor(cutoff / HOUR));
    clients.run(Math.floor(cutoff / HOUR));
    torrents.run(Math.floor(cutoff / HOUR));
    dayTorrents.run(Math.floor(cutoff / DAY));
    hours.run(Math.floor(cutoff / HOUR));
    dayCountries.run(Math.floor(cutoff / DAY));
    dayClients.run(Math.floor(cutoff / DAY));
  }
}
