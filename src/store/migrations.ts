import type Database from 'better-sqlite3';
import { AppError } from '../util/app-error.js';
import { MIGRATIONS_1_TO_9 } from './migrations-1-to-9.js';

/**
 * Numbered migrations, applied in order; `PRAGMA user_version` holds the number of the last one
 * applied. Never edit a released migration: append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  ...MIGRATIONS_1_TO_9,
  // 10: cluster roles (src/cluster/). On a central store: the stable id (uid) of every item a crawler
  // forwarded, so a redelivery is recognised and skipped. On a crawler: the forward outbox, one row
  // per capture or sighting still to be confirmed by RabbitMQ (written with the capture, deleted
  // after the broker's confirm), and small named values (the last shared-config snapshot).
  `
  CREATE TABLE ingested_uids (
    uid         TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('capture', 'sighting')),
    ref_id      INTEGER,           -- captures.id of a capture
    crawler_id  TEXT NOT NULL,
    ingested_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX ingested_uids_by_time ON ingested_uids (ingested_at);
  CREATE TABLE forward_outbox (
    id         INTEGER PRIMARY KEY, -- send order; the uid is the identity
    kind       TEXT NOT NULL CHECK (kind IN ('capture', 'sighting')),
    uid        TEXT NOT NULL UNIQUE,
    body       TEXT NOT NULL,      -- the JSON message, complete: forwarding never reads the capture again
    created_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
  );
  CREATE TABLE cluster_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // 11: spam reports by age, for retention (retention.maxAgeDays.spamReports).
  `
  CREATE INDEX spam_reports_by_time ON spam_reports (reported_at);
  `,
  // 12: the dashboard's rollups (store/capture-rollups.ts), kept by the capture writer in each
  // batch's own transaction, so the dashboard never scans captures: captures per minute (ok /
  // failed), per hour by country and by client, and per hour and watched torrent (seeders,
  // leechers, failed). Rows older than 8 days are pruned. The last 7 days of existing captures are
  // counted here once (minutes, countries, clients; torrents are counted from now on).
  `
  CREATE TABLE capture_minutes (
    minute INTEGER PRIMARY KEY,   -- found_at / 60,000
    ok     INTEGER NOT NULL,
    failed INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE capture_hour_counts (
    kind TEXT NOT NULL CHECK (kind IN ('country', 'client')),
    hour INTEGER NOT NULL,        -- found_at / 3,600,000
    key  TEXT NOT NULL,           -- country code or client name ('' unknown)
    n    INTEGER NOT NULL,
    PRIMARY KEY (kind, hour, key)
  ) WITHOUT ROWID;
  CREATE TABLE capture_hour_torrents (
    hour     INTEGER NOT NULL,
    infohash TEXT NOT NULL,
    seeders  INTEGER NOT NULL,    -- captures that reported every piece
    leechers INTEGER NOT NULL,    -- captures that reported some pieces missing
    failed   INTEGER NOT NULL,
    PRIMARY KEY (hour, infohash)
  ) WITHOUT ROWID;
  INSERT INTO capture_minutes (minute, ok, failed)
    SELECT found_at / 60000, sum(error IS NULL), sum(error IS NOT NULL) FROM captures
    WHERE found_at >= (unixepoch() - 7 * 86400) * 1000 GROUP BY 1;
  INSERT INTO capture_hour_counts (kind, hour, key, n)
    SELECT 'country', found_at / 3600000, coalesce(country_code, ''), count(*) FROM captures
    WHERE found_at >= (unixepoch() - 7 * 86400) * 1000 GROUP BY 2, 3;
  INSERT INTO capture_hour_counts (kind, hour, key, n)
    SELECT 'client', found_at / 3600000, coalesce(client_name, ''), count(*) FROM captures
    WHERE found_at >= (unixepoch() - 7 * 86400) * 1000 AND error IS NULL GROUP BY 2, 3;
  `,
  // 13: BTN query-API users made by the CLI or by an OAuth2 login (config users stay in the config),
  // and login sessions (cookie or bearer token, stored as SHA-256).
  `
  CREATE TABLE btn_users (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    max_apps     INTEGER NOT NULL,
    password     TEXT,               -- scrypt$N$r$p$salt$hash (base64); NULL: OAuth2 login only
    provider     TEXT,               -- OAuth2 provider key (btn.login.oauth2.<key>)
    subject      TEXT,               -- the provider's stable user id
    nickname     TEXT,
    avatar       TEXT,
    email        TEXT,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER,
    UNIQUE (provider, subject)
  );
  CREATE TABLE btn_sessions (
    token_sha256 BLOB PRIMARY KEY CHECK (length(token_sha256) = 32),
    user_name    TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX btn_sessions_by_user ON btn_sessions (user_name);
  CREATE INDEX btn_sessions_by_expiry ON btn_sessions (expires_at);
  `,
  // 14: the dashboard's per-torrent counts also per day, for its 7-day range: summing 168 hours ×
  // every watched torrent and sorting by torrent was the slowest of its queries (bench/README.md,
  // "dashboard"); 8 days × watched torrents is small. Filled from the hourly table once.
  `
  CREATE TABLE capture_day_torrents (
    day      INTEGER NOT NULL,    -- found_at / 86,400,000
    infohash TEXT NOT NULL,
    seeders  INTEGER NOT NULL,
    leechers INTEGER NOT NULL,
    failed   INTEGER NOT NULL,
    PRIMARY KEY (day, infohash)
  ) WITHOUT ROWID;
  INSERT INTO capture_day_torrents (day, infohash, seeders, leechers, failed)
    SELECT hour / 24, infohash, sum(seeders), sum(leechers), sum(failed) FROM capture_hour_torrents GROUP BY 1, 2;
  `,
  // 15: BTN submissions by age, for retention (retention.maxAgeDays.btnSubmissions): swarm rows and
  // histories by when a client last sent them (ever-growing keys: appends at the right edge).
  `
  CREATE INDEX btn_swarm_by_received ON btn_swarm (received_at);
  CREATE INDEX btn_histories_by_received ON btn_histories (received_at);
  `,
  // 16: how each capture's conversation was carried: tcp, tcp+mse (MSE/PE) or utp (BEP 29); NULL
  // for captures stored before (capture/transport-capture.ts).
  `
  ALTER TABLE captures ADD COLUMN transport TEXT CHECK (transport IN ('tcp', 'tcp+mse', 'utp'));
  `,
  // 17: the dashboard's 7-day range per hour (captures over time) and per day (countries, clients):
  // grouping 10,080 minute rows and 192 hours × every country and client was most of that range's
  // time (p99 60 ms at 10 M captures; bench/README.md, "dashboard"); 168 hours and 8 days × keys are
  // small. Filled once from the per-minute and per-hour tables.
  `
  CREATE TABLE capture_hours (
    hour   INTEGER PRIMARY KEY,   -- found_at / 3,600,000
    ok     INTEGER NOT NULL,
    failed INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE capture_day_counts (
    kind TEXT NOT NULL CHECK (kind IN ('country', 'client')),
    day  INTEGER NOT NULL,        -- found_at / 86,400,000
    key  TEXT NOT NULL,
    n    INTEGER NOT NULL,
    PRIMARY KEY (kind, day, key)
  ) WITHOUT ROWID;
  INSERT INTO capture_hours (hour, ok, failed) SELECT minute / 60, sum(ok), sum(failed) FROM capture_minutes GROUP BY 1;
  INSERT INTO capture_day_counts (kind, day, key, n) SELECT kind, hour / 24, key, sum(n) FROM capture_hour_counts GROUP BY 1, 2, 3;
  `,
];

export function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Applies every pending migration, each in its own transaction. Returns the versions applied. */
export function migrate(db: Database.Database): number[] {
  const current = schemaVersion(db);
  if (current > MIGRATIONS.length) {
    throw new AppError(
      'DB_TOO_NEW',
      `database schema version ${current} is newer than this daemon knows (${MIGRATIONS.length}); upgrade capture-daemon`,
    );
  }
  const applied: number[] = [];
  for (let v = current; v < MIGRATIONS.length; v++) {
    const sql = MIGRATIONS[v] as string;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${v + 1}`);
    })();
    applied.push(v + 1);
  }
  return applied;
}
