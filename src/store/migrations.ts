import type Database from 'better-sqlite3';
import { AppError } from '../util/app-error.js';

/**
 * Numbered migrations, applied in order; `PRAGMA user_version` holds the number of the last one
 * applied. Never edit a released migration: append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: torrents, filter overlay, sightings, captures, per-filter listing, outbox.
  `
  CREATE TABLE torrents (
    infohash     TEXT PRIMARY KEY CHECK (length(infohash) = 40),
    state        TEXT NOT NULL CHECK (state IN ('pending', 'known')),
    name         TEXT,
    total_size   INTEGER,
    piece_length INTEGER,
    piece_count  INTEGER,
    files        TEXT,            -- JSON array of {path, length}
    info         BLOB,            -- the bencoded info dictionary (metadata)
    source       TEXT NOT NULL,   -- upload | infohash | dht
    added_at     INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- Changes made through the API on top of the config's infohash lists (see README, "Filters").
  CREATE TABLE filter_infohashes (
    filter     TEXT NOT NULL,
    infohash   TEXT NOT NULL CHECK (length(infohash) = 40),
    op         TEXT NOT NULL CHECK (op IN ('add', 'delete')),
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (filter, infohash)
  ) WITHOUT ROWID;

  -- One row per (ip, port, infohash) ever found: the de-duplication and recapture key.
  CREATE TABLE peers (
    ip              TEXT NOT NULL,
    port            INTEGER NOT NULL,
    infohash        TEXT NOT NULL,
    first_seen      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL,
    seen_count      INTEGER NOT NULL DEFAULT 1,
    last_capture_at INTEGER,
    PRIMARY KEY (ip, port, infohash)
  ) WITHOUT ROWID;

  CREATE TABLE filter_names (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
  );

  -- One row per capture attempt: a report or an error, never both.
  CREATE TABLE captures (
    id              INTEGER PRIMARY KEY,
    found_at        INTEGER NOT NULL,  -- ms, when the peer was found in the DHT
    ip              TEXT NOT NULL,
    port            INTEGER NOT NULL,
    infohash        TEXT NOT NULL,
    country_code    TEXT,
    city            TEXT,
    isp             TEXT,
    report_at       INTEGER,           -- ms, when the report was made
    total_pieces    INTEGER,
    has_pieces      INTEGER,
    has_total       INTEGER,
    client_name     TEXT,
    host_identifier TEXT,
    error           TEXT,
    pcap_path       TEXT,
    CHECK ((report_at IS NULL) <> (error IS NULL))
  );

  -- A capture listed under each filter it matched: the peers/all query is a range scan of this key.
  CREATE TABLE capture_filters (
    filter_id  INTEGER NOT NULL REFERENCES filter_names (id),
    found_at   INTEGER NOT NULL,
    capture_id INTEGER NOT NULL REFERENCES captures (id),
    success    INTEGER NOT NULL,
    PRIMARY KEY (filter_id, found_at, capture_id)
  ) WITHOUT ROWID;
  CREATE INDEX capture_filters_by_success ON capture_filters (filter_id, success, found_at, capture_id);
  CREATE INDEX capture_filters_by_capture ON capture_filters (capture_id);
  CREATE INDEX captures_by_found_at ON captures (found_at);

  -- Transactional outbox: written with the capture, deleted only after confirmed delivery.
  CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    capture_id      INTEGER NOT NULL REFERENCES captures (id),
    filter          TEXT NOT NULL,
    target          TEXT NOT NULL CHECK (target IN ('amqp', 'email')),
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    parked_reason   TEXT
  );
  CREATE INDEX outbox_by_target ON outbox (target, parked_reason, id);
  CREATE INDEX outbox_by_capture ON outbox (capture_id);
  `,
  // 2: the DHT routing table, saved periodically and at stop, restored at start.
  `
  CREATE TABLE dht_nodes (
    host      TEXT NOT NULL,
    port      INTEGER NOT NULL,
    id        BLOB,             -- 20-byte node id (NULL: address only)
    last_seen INTEGER NOT NULL, -- ms
    PRIMARY KEY (host, port)
  ) WITHOUT ROWID;
  CREATE INDEX dht_nodes_by_last_seen ON dht_nodes (last_seen);
  `,
  // 3: one b-tree per capture listing instead of three. capture_filters becomes keyed (filter_id,
  // success, found_at, capture_id): peers/all with success=true|false is one range of the key, with
  // success unset two ranges merged in order. Dropped: the (filter_id, success, …) index (now the
  // key), the index by capture_id (filtersOf probes the key: a capture's found_at is in its row) and
  // the foreign keys (the repository writes a capture and its listings in one transaction; each
  // foreign-key check was two more b-tree probes per listing). The copy reads the old success index,
  // which is in the new key order, so it appends without sorting; dropping the index by capture_id
  // first lets the new table reuse its pages instead of growing the file.
  `
  DROP INDEX IF EXISTS capture_filters_by_capture;
  ALTER TABLE capture_filters RENAME TO capture_filters_v2;
  CREATE TABLE capture_filters (
    filter_id  INTEGER NOT NULL,
    success    INTEGER NOT NULL CHECK (success IN (0, 1)),
    found_at   INTEGER NOT NULL,
    capture_id INTEGER NOT NULL,
    PRIMARY KEY (filter_id, success, found_at, capture_id)
  ) WITHOUT ROWID;
  INSERT INTO capture_filters (filter_id, success, found_at, capture_id)
    SELECT filter_id, success, found_at, capture_id FROM capture_filters_v2
    ORDER BY filter_id, success, found_at, capture_id;
  DROP TABLE capture_filters_v2;
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
