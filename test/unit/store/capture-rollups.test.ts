import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NewCapture } from '../../../src/model/capture.js';
import { SqliteCaptureRepository } from '../../../src/store/capture-repository.js';
import { ROLLUP_KEEP_MS } from '../../../src/store/capture-rollups.js';
import { SqliteDashboardRepository } from '../../../src/store/dashboard-repository.js';
import { MIGRATIONS, migrate } from '../../../src/store/migrations.js';
import { openDatabase, type Db } from '../../../src/store/open-database.js';
import { prng } from '../../helpers/prng.js';
import { tempDir } from '../../helpers/temp-dir.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function fresh(opts: { migrate?: boolean } = {}): Db {
  const t = tempDir('cd-rollups-');
  const db = openDatabase(path.join(t.dir, 'capture.db'), opts);
  cleanups.push(t.cleanup, () => db.close());
  return db;
}

const HOUR = 3_600_000;
const NOW = 1_800_000_000_000;
const IHS = ['1'.repeat(40), '2'.repeat(40), '3'.repeat(40), '4'.repeat(40)];

/** Random captures over the 10 days before `now`: countries, clients, seeders, leechers and failures mixed. */
function randomCaptures(n: number, seed: number, now = NOW): NewCapture[] {
  const rnd = prng(seed);
  return Array.from({ length: n }, () => {
    const foundAt = now - Math.floor(rnd() * 10 * 24 * HOUR);
    const c: NewCapture = { foundAt, ip: '192.0.2.1', port: 1, infohash: IHS[Math.floor(rnd() * IHS.length)] as string, filters: ['f'] };
    const cc = ['DE', 'FR', 'JP', undefined][Math.floor(rnd() * 4)];
    if (cc) c.countryCode = cc;
    if (rnd() < 0.3) c.error = 'connect timeout';
    else {
      const client = ['qBittorrent 4.6.2', 'Transmission 4.0.5', ''][Math.floor(rnd() * 3)] as string;
      c.report = { date: foundAt, totalPiecesInTorrent: 10, hasPieces: 10, hasTotal: rnd() < 0.4, clientName: client, hostIdentifier: '' };
    }
    return c;
  });
}

/** The rollups as they should be: GROUP BY over the captures themselves (what the dashboard must never run per request). */
function expected(db: Db, since: number, scope: (ih: string) => boolean) {
  const minutes = db.prepare('SELECT found_at / 60000 AS m, sum(error IS NULL), sum(error IS NOT NULL) FROM captures WHERE found_at >= ? GROUP BY m ORDER BY m').raw().all(since);
  const countries = db.prepare("SELECT found_at / 3600000 AS h, coalesce(country_code, ''), count(*) FROM captures WHERE found_at >= ? GROUP BY 1, 2 ORDER BY 1, 2").raw().all(since);
  const clients = db.prepare("SELECT found_at / 3600000 AS h, coalesce(client_name, ''), count(*) FROM captures WHERE found_at >= ? AND error IS NULL GROUP BY 1, 2 ORDER BY 1, 2").raw().all(since);
  const torrents = (
    db
      .prepare(
        `SELECT found_at / 3600000 AS h, infohash, sum(coalesce(has_total, -1) = 1), sum(coalesce(has_total, -1) = 0), sum(error IS NOT NULL) FROM captures
         WHERE found_at >= ? GROUP BY 1, 2 ORDER BY 1, 2`,
      )
      .raw()
      .all(since) as unknown[][]
  ).filter((r) => scope(r[1] as string));
  const dayTorrents = (
    db
      .prepare(
        `SELECT found_at / 86400000 AS d, infohash, sum(coalesce(has_total, -1) = 1), sum(coalesce(has_total, -1) = 0), sum(error IS NOT NULL) FROM captures
         WHERE found_at >= ? GROUP BY 1, 2 ORDER BY 1, 2`,
      )
      .raw()
      .all(Math.ceil(since / 86_400_000) * 86_400_000) as unknown[][]
  ).filter((r) => scope(r[1] as string));
  const hours = db.prepare('SELECT found_at / 3600000 AS h, sum(error IS NULL), sum(error IS NOT NULL) FROM captures WHERE found_at >= ? GROUP BY h ORDER BY h').raw().all(since);
  const day = Math.ceil(since / 86_400_000) * 86_400_000;
  const dayCountries = db.prepare("SELECT found_at / 86400000 AS d, coalesce(country_code, ''), count(*) FROM captures WHERE found_at >= ? GROUP BY 1, 2 ORDER BY 1, 2").raw().all(day);
  const dayClients = db.prepare("SELECT found_at / 86400000 AS d, coalesce(client_name, ''), count(*) FROM captures WHERE found_at >= ? AND error IS NULL GROUP BY 1, 2 ORDER BY 1, 2").raw().all(day);
  return { minutes, countries, clients, torrents, dayTorrents, hours, dayCountries, dayClients };
}

function actual(db: Db, since: number) {
  return {
    minutes: db.prepare('SELECT minute, ok, failed FROM capture_minutes WHERE minute >= ? ORDER BY minute').raw().all(Math.floor(since / 60_000)),
    countries: db.prepare("SELECT hour, key, n FROM capture_hour_counts WHERE kind = 'country' AND hour >= ? ORDER BY 1, 2").raw().all(Math.floor(since / HOUR)),
    clients: db.prepare("SELECT hour, key, n FROM capture_hour_counts WHERE kind = 'client' AND hour >= ? ORDER BY 1, 2").raw().all(Math.floor(since / HOUR)),
    torrents: db.prepare('SELECT hour, infohash, seeders, leechers, failed FROM capture_hour_torrents WHERE hour >= ? ORDER BY 1, 2').raw().all(Math.floor(since / HOUR)),
    dayTorrents: db.prepare('SELECT day, infohash, seeders, leechers, failed FROM capture_day_torrents WHERE day >= ? ORDER BY 1, 2').raw().all(Math.ceil(since / 86_400_000)),
    hours: db.prepare('SELECT hour, ok, failed FROM capture_hours WHERE hour >= ? ORDER BY hour').raw().all(Math.floor(since / HOUR)),
    dayCountries: db.prepare("SELECT day, key, n FROM capture_day_counts WHERE kind = 'country' AND day >= ? ORDER BY 1, 2").raw().all(Math.ceil(since / 86_400_000)),
    dayClients: db.prepare("SELECT day, key, n FROM capture_day_counts WHERE kind = 'client' AND day >= ? ORDER BY 1, 2").raw().all(Math.ceil(since / 86_400_000)),
  };
}

describe('capture rollups (the dashboard counters)', () => {
  it('equal GROUP BY over the captures, batch after batch, with torrents only in scope; rows past 8 days are pruned', () => {
    const db = fresh();
    const repo = new SqliteCaptureRepository(db);
    const scope = (ih: string): boolean => ih !== IHS[3];
    repo.rollups.setTorrentScope(scope);
    for (let b = 0; b < 8; b++) repo.insertMany(randomCaptures(700, b), NOW);
    // Whole hours from the pruning cut on (older hours are gone, the cut hour itself kept whole).
    const since = Math.ceil((NOW - ROLLUP_KEEP_MS) / HOUR) * HOUR;
    const want = expected(db, since, scope);
    expect(want.torrents.length).toBeGreaterThan(100);
    expect(actual(db, since)).toEqual(want);
    const oldest = db.prepare('SELECT min(minute) FROM capture_minutes').pluck().get() as number;
    expect(oldest * 60_000).toBeGreaterThanOrEqual(NOW - ROLLUP_KEEP_MS - 60_000);
    expect(db.prepare('SELECT min(found_at) FROM captures').pluck().get() as number).toBeLessThan(NOW - ROLLUP_KEEP_MS - HOUR);
  });

  it('migration 12 (and 14, 17) count the last 7 days of an existing database (minutes, countries, clients)', () => {
    const db = fresh({ migrate: false });
    db.exec('BEGIN');
    for (const sql of MIGRATIONS.slice(0, 11)) db.exec(sql);
    db.pragma('user_version = 11');
    db.exec('COMMIT');
    const now = Date.now();
    const rows = randomCaptures(2000, 42, now);
    const insert = db.prepare(
      'INSERT INTO captures (found_at, ip, port, infohash, country_code, report_at, client_name, has_total, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    for (const c of rows) insert.run(c.foundAt, c.ip, c.port, c.infohash, c.countryCode ?? null, c.report?.date ?? null, c.report?.clientName ?? null, c.report ? (c.report.hasTotal ? 1 : 0) : null, c.error ?? null);
    migrate(db); // the upgrade: 12 (rollups) and every later one, the per-day torrent table included
    const weekAgo = (Math.floor(Date.now() / 1000) - 7 * 86400) * 1000;
    const since = Math.ceil(weekAgo / HOUR) * HOUR; // hours counted whole
    const want = expected(db, since, () => false);
    const got = actual(db, since);
    expect(got.minutes).toEqual(want.minutes);
    expect(got.countries).toEqual(want.countries);
    expect(got.clients).toEqual(want.clients);
    expect(got.torrents).toEqual([]);
    expect(got.dayTorrents).toEqual([]);
    // 17: per hour and per day, from the per-minute and per-hour tables.
    expect(got.hours).toEqual(want.hours);
    expect(got.dayCountries).toEqual(want.dayCountries);
    expect(got.dayClients).toEqual(want.dayClients);
    expect(want.hours.length).toBeGreaterThan(150);
  });

  it('the dashboard queries read ranges of the rollup keys, never the captures table', () => {
    const db = fresh();
    new SqliteDashboardRepository(db);
    const plans = [
      ['SELECT minute - minute % 15 AS b, sum(ok), sum(failed) FROM capture_minutes WHERE minute >= 1 AND minute < 2 GROUP BY b ORDER BY b'],
      ["SELECT key, sum(n) AS total FROM capture_hour_counts WHERE kind = 'country' AND hour >= 1 GROUP BY key ORDER BY total DESC, key"],
      ['SELECT infohash, sum(seeders) AS s, sum(leechers) AS l, sum(failed) AS f FROM capture_hour_torrents WHERE hour >= 1 GROUP BY infohash ORDER BY s + l + f DESC, infohash LIMIT 15'],
      ['SELECT infohash, sum(seeders) AS s, sum(leechers) AS l, sum(failed) AS f FROM capture_day_torrents WHERE day >= 1 GROUP BY infohash ORDER BY s + l + f DESC, infohash LIMIT 15'],
      ['SELECT hour * 60 - (hour * 60) % 120 AS b, sum(ok), sum(failed) FROM capture_hours WHERE hour >= 1 AND hour < 2 GROUP BY b ORDER BY b'],
      ["SELECT key, sum(n) AS total FROM capture_day_counts WHERE kind = 'client' AND day >= 1 GROUP BY key ORDER BY total DESC, key"],
    ].map(([sql]) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as Array<{ detail: string }>).map((r) => r.detail).join('; '));
    expect(plans[0]).toMatch(/SEARCH capture_minutes USING PRIMARY KEY \(minute>\?/);
    expect(plans[1]).toMatch(/SEARCH capture_hour_counts USING PRIMARY KEY \(kind=\? AND hour>\?/);
    expect(plans[2]).toMatch(/SEARCH capture_hour_torrents USING PRIMARY KEY \(hour>\?/);
    expect(plans[3]).toMatch(/SEARCH capture_day_torrents USING PRIMARY KEY \(day>\?/);
    expect(plans[4]).toMatch(/SEARCH capture_hours USING PRIMARY KEY \(hour>\?/);
    expect(plans[5]).toMatch(/SEARCH capture_day_counts USING PRIMARY KEY \(kind=\? AND day>\?/);
    for (const p of plans) expect(p).not.toMatch(/captures\b/);
  });

  it('the dashboard repository answers from the rollups: series in buckets, counts most first, torrents with names', () => {
    const db = fresh();
    const repo = new SqliteCaptureRepository(db);
    const dash = new SqliteDashboardRepository(db);
    const t0 = 60_000 * 15 * 1000; // a bucket boundary
    const mk = (foundAt: number, ok: boolean, cc: string, ih = IHS[0] as string): NewCapture => ({
      foundAt, ip: '192.0.2.1', port: 1, infohash: ih, filters: ['f'], countryCode: cc,
      ...(ok ? { report: { date: foundAt, totalPiecesInTorrent: 1, hasPieces: 1, hasTotal: true, clientName: 'X 1', hostIdentifier: '' } } : { error: 'connect timeout' }),
    });
    repo.insertMany([mk(t0, true, 'DE'), mk(t0 + 60_000, false, 'DE'), mk(t0 + 14 * 60_000, true, 'FR'), mk(t0 + 15 * 60_000, true, 'DE', IHS[1])], t0);
    db.prepare("INSERT INTO torrents (infohash, state, name, source, added_at, updated_at) VALUES (?, 'known', 'Film', 'upload', 1, 1)").run(IHS[0]);
    expect(dash.series(t0 / 60_000, t0 / 60_000 + 30, 15)).toEqual([[t0 / 60_000, 2, 1], [t0 / 60_000 + 15, 1, 0]]);
    expect(dash.counts('country', Math.floor(t0 / HOUR))).toEqual([['DE', 3], ['FR', 1]]);
    const dayStart = Math.floor(t0 / 86_400_000) * 24;
    expect(dash.torrents(dayStart, 10)).toEqual(dash.torrents(dayStart + 1, 10)); // the day table and the hour table agree
    // Whole hours read the per-hour table, a day's start the per-day counts: the same answers.
    expect(dash.series(t0 / 60_000, t0 / 60_000 + 120, 120)).toEqual([[t0 / 60_000, 3, 1]]);
    expect(dash.series(t0 / 60_000, t0 / 60_000 + 120, 120)).toEqual(dash.series(t0 / 60_000, t0 / 60_000 + 121, 120).slice(0, 1));
    expect(dash.counts('country', dayStart)).toEqual(dash.counts('country', dayStart + 1));
    expect(dash.counts('client', dayStart)).toEqual([['X 1', 3]]);
    expect(dash.torrents(Math.floor(t0 / HOUR), 10)).toEqual([
      { infohash: IHS[0], name: 'Film', seeders: 2, leechers: 0, failed: 1 },
      { infohash: IHS[1], name: null, seeders: 1, leechers: 0, failed: 0 },
    ]);
  });
});
