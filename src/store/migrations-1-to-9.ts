/**
 * SQLite migrations 1 to 9, released and frozen (never edit them). `migrations.ts` lists them first,
 * then the later ones, and applies them.
 */
export const MIGRATIONS_1_TO_9: readonly string[] = [
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
  // 4: the BTN server (src/btn/): user applications, torrents by BTN identifier, what clients submit
  // (swarm snapshots, bans, peer histories, heartbeats) and client discovery, fed by submissions and,
  // through a trigger, by the daemon's own captures (backfilled here). Two indexes on captures let
  // the BTN peer query find the daemon's captures of one IP or one infohash.
  `
  CREATE TABLE btn_apps (
    id              INTEGER PRIMARY KEY,
    app_id          TEXT NOT NULL UNIQUE,
    secret_sha256   BLOB NOT NULL CHECK (length(secret_sha256) = 32),
    comment         TEXT NOT NULL DEFAULT '',
    owner           TEXT,               -- btn.users name; NULL: made by the CLI or auto-account
    installation_id TEXT UNIQUE,        -- auto-account apps only
    created_at      INTEGER NOT NULL,
    last_seen_at    INTEGER,
    banned_at       INTEGER,
    banned_reason   TEXT,
    deleted_at      INTEGER             -- soft delete: the id is never reused
  );
  CREATE TABLE btn_torrents (
    id         INTEGER PRIMARY KEY,
    identifier TEXT NOT NULL UNIQUE CHECK (length(identifier) = 64),
    size       INTEGER NOT NULL,
    private    INTEGER NOT NULL DEFAULT 0
  );
  -- submit_swarm rows (and legacy submit_peers snapshots, downloader ''), upserted on spec §3.2's key.
  CREATE TABLE btn_swarm (
    id                       INTEGER PRIMARY KEY,
    app                      INTEGER NOT NULL,
    submit_id                TEXT NOT NULL,
    downloader               TEXT NOT NULL,
    torrent                  INTEGER NOT NULL,
    peer_ip                  TEXT NOT NULL,
    peer_port                INTEGER NOT NULL,
    peer_id                  TEXT,
    peer_client_name         TEXT,
    peer_progress            REAL NOT NULL,
    downloader_progress      REAL NOT NULL,
    from_peer_traffic        INTEGER NOT NULL,
    from_peer_traffic_offset INTEGER NOT NULL,
    from_peer_speed          INTEGER NOT NULL,
    from_peer_speed_max      INTEGER NOT NULL,
    to_peer_traffic          INTEGER NOT NULL,
    to_peer_traffic_offset   INTEGER NOT NULL,
    to_peer_speed            INTEGER NOT NULL,
    to_peer_speed_max        INTEGER NOT NULL,
    flags                    TEXT NOT NULL,
    first_seen               INTEGER NOT NULL,
    last_seen                INTEGER NOT NULL,
    received_at              INTEGER NOT NULL,
    UNIQUE (app, downloader, torrent, peer_ip, peer_port)
  );
  CREATE INDEX btn_swarm_by_ip ON btn_swarm (peer_ip);
  CREATE INDEX btn_swarm_by_torrent ON btn_swarm (torrent);
  CREATE TABLE btn_bans (
    id                  INTEGER PRIMARY KEY,
    app                 INTEGER NOT NULL,
    submit_id           TEXT NOT NULL,
    ban_at              INTEGER NOT NULL,
    peer_ip             TEXT NOT NULL,
    peer_port           INTEGER NOT NULL,
    peer_id             TEXT,
    peer_client_name    TEXT,
    peer_progress       REAL NOT NULL,
    peer_flag           TEXT,
    torrent             INTEGER NOT NULL,
    from_peer_traffic   INTEGER NOT NULL,
    to_peer_traffic     INTEGER NOT NULL,
    downloader_progress REAL NOT NULL,
    module              TEXT NOT NULL,
    rule                TEXT NOT NULL,
    description         TEXT NOT NULL,
    structured_data     TEXT NOT NULL,     -- JSON text
    btn_ban             INTEGER NOT NULL,
    ban_unique_id       TEXT,
    received_at         INTEGER NOT NULL,
    UNIQUE (app, ban_at, peer_ip, peer_port, torrent, module)
  );
  CREATE INDEX btn_bans_by_ip ON btn_bans (peer_ip, ban_at);
  CREATE INDEX btn_bans_by_time ON btn_bans (ban_at);
  CREATE INDEX btn_bans_by_torrent ON btn_bans (torrent);
  CREATE TABLE btn_histories (
    id                INTEGER PRIMARY KEY,
    app               INTEGER NOT NULL,
    torrent           INTEGER NOT NULL,
    peer_ip           TEXT NOT NULL,
    peer_id           TEXT NOT NULL,
    peer_client_name  TEXT NOT NULL,
    downloaded        INTEGER NOT NULL,
    downloaded_offset INTEGER NOT NULL,
    uploaded          INTEGER NOT NULL,
    uploaded_offset   INTEGER NOT NULL,
    first_seen        INTEGER NOT NULL,
    last_seen         INTEGER NOT NULL,
    peer_flag         TEXT,
    received_at       INTEGER NOT NULL,
    UNIQUE (app, torrent, peer_ip, peer_id, first_seen)
  );
  CREATE INDEX btn_histories_by_ip ON btn_histories (peer_ip);
  CREATE TABLE btn_heartbeats (
    app         INTEGER NOT NULL,
    ifaddr      TEXT NOT NULL,
    external_ip TEXT NOT NULL,
    seen_at     INTEGER NOT NULL,
    PRIMARY KEY (app, ifaddr, external_ip)
  ) WITHOUT ROWID;
  CREATE TABLE btn_client_discovery (
    id           INTEGER PRIMARY KEY,
    client_name  TEXT NOT NULL,
    peer_id      TEXT NOT NULL,        -- first 8 characters of the peer id ('' from captures)
    found_at     INTEGER NOT NULL,
    source       TEXT NOT NULL CHECK (source IN ('btn', 'capture')),
    found_by_app INTEGER,
    UNIQUE (client_name, peer_id)
  );
  CREATE INDEX btn_client_discovery_by_found_at ON btn_client_discovery (found_at);
  INSERT OR IGNORE INTO btn_client_discovery (client_name, peer_id, found_at, source)
    SELECT client_name, '', min(report_at), 'capture' FROM captures
    WHERE client_name IS NOT NULL AND client_name <> '' AND report_at IS NOT NULL GROUP BY client_name;
  CREATE TRIGGER btn_discover_from_capture AFTER INSERT ON captures
    WHEN NEW.client_name IS NOT NULL AND NEW.client_name <> '' AND NEW.report_at IS NOT NULL
    BEGIN
      INSERT OR IGNORE INTO btn_client_discovery (client_name, peer_id, found_at, source)
        VALUES (NEW.client_name, '', NEW.report_at, 'capture');
    END;
  CREATE INDEX captures_by_ip ON captures (ip, found_at);
  CREATE INDEX captures_by_infohash ON captures (infohash, found_at);
  `,
  // 5: the captures that still link a pcap, by found_at: pcap retention unlinks those past the
  // retention period before it deletes their files (a partial index: rows without a pcap, and rows
  // unlinked, are not in it).
  `
  CREATE INDEX captures_with_pcap ON captures (found_at) WHERE pcap_path IS NOT NULL;
  `,
  // 6: the spam list (src/spam/). One row per listed torrent (id = keyset key of the list pages), one
  // per (torrent, reporter) so a reporter counts once, removals kept as an audit trail, and the state
  // of the evidence scanner (cursors, per-swarm tallies, rules already fired).
  `
  CREATE TABLE spam_torrents (
    id             INTEGER PRIMARY KEY,
    infohash       TEXT NOT NULL UNIQUE CHECK (length(infohash) = 40),
    name           TEXT NOT NULL,
    name_key       TEXT NOT NULL,    -- the name NFC-normalised and lower-cased: name checks are case-insensitive
    category       TEXT NOT NULL DEFAULT '',
    count          INTEGER NOT NULL,
    first_reported INTEGER NOT NULL, -- epoch seconds, when the torrent was first reported (the date range's key)
    last_reported  INTEGER NOT NULL, -- epoch seconds
    reasons        TEXT              -- JSON array of {code, detail, at} from the evidence rules, or NULL
  );
  CREATE INDEX spam_torrents_by_name ON spam_torrents (name_key);
  CREATE INDEX spam_torrents_by_first_reported ON spam_torrents (first_reported, id);

  CREATE TABLE spam_reports (
    torrent_id  INTEGER NOT NULL,
    reporter    TEXT NOT NULL,      -- identity that counts once: site + creator (or site + IP for anonymous)
    site        TEXT NOT NULL,      -- API key name, "open", "cli" or "evidence"
    creator     TEXT NOT NULL,
    ip          TEXT,
    name        TEXT NOT NULL,
    category    TEXT NOT NULL,
    reason      TEXT,               -- evidence rule code; NULL for a report by a person
    detail      TEXT,
    weight      INTEGER NOT NULL,
    reported_at INTEGER NOT NULL,   -- epoch seconds
    PRIMARY KEY (torrent_id, reporter)
  ) WITHOUT ROWID;

  CREATE TABLE spam_removals (
    id         INTEGER PRIMARY KEY,
    infohash   TEXT NOT NULL,
    name       TEXT NOT NULL,
    count      INTEGER NOT NULL,
    reports    TEXT NOT NULL,       -- JSON array of the reports removed with it
    removed_by TEXT NOT NULL,
    reason     TEXT NOT NULL,
    removed_at INTEGER NOT NULL     -- epoch seconds
  );
  CREATE INDEX spam_removals_by_infohash ON spam_removals (infohash);

  CREATE TABLE spam_scan_cursors (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;

  -- Successful captures per torrent as the evidence scanner saw them; distinct peers are tallied
  -- through spam_swarm_peers, which holds at most the rule's peer threshold per torrent.
  CREATE TABLE spam_swarms (
    infohash         TEXT PRIMARY KEY,
    peers            INTEGER NOT NULL,
    seeders          INTEGER NOT NULL,
    first_capture_at INTEGER NOT NULL, -- ms
    last_capture_at  INTEGER NOT NULL  -- ms
  ) WITHOUT ROWID;
  CREATE INDEX spam_swarms_without_seeder ON spam_swarms (first_capture_at) WHERE seeders = 0;
  CREATE TABLE spam_swarm_peers (
    infohash TEXT NOT NULL,
    ip       TEXT NOT NULL,
    port     INTEGER NOT NULL,
    PRIMARY KEY (infohash, ip, port)
  ) WITHOUT ROWID;

  -- An evidence rule fires once per torrent, even if the operator removes the torrent afterwards.
  CREATE TABLE spam_evidence_fired (
    infohash TEXT NOT NULL,
    rule     TEXT NOT NULL,
    fired_at INTEGER NOT NULL,      -- epoch seconds
    PRIMARY KEY (infohash, rule)
  ) WITHOUT ROWID;

  -- The evidence scanner reads torrents whose metadata changed since its cursor.
  CREATE INDEX torrents_by_updated_at ON torrents (updated_at, infohash);
  `,
  // 7: row counts of the BTN listings that grow without bound (swarm rows, bans), kept by the BTN
  // submission repository in the batch's own transaction: the query API's unfiltered pages give an
  // exact total without a count(*) over millions of rows.
  `
  CREATE TABLE btn_counts (
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO btn_counts (name, n) SELECT 'swarm', count(*) FROM btn_swarm;
  INSERT INTO btn_counts (name, n) SELECT 'bans', count(*) FROM btn_bans;
  `,
  // 8: a report's note: what the capture noticed that the report's numbers cannot say (a metadata
  // error, an unknown piece count, a peer silent after its handshake, bytes left out of the pcap).
  `
  ALTER TABLE captures ADD COLUMN note TEXT;
  `,
  // 9: btn_swarm keyed (torrent, peer_ip, peer_port, app, downloader): the same upsert key as
  // migration 4 in another order, so the key also serves lookups by torrent and the separate
  // index by torrent goes (a 1,000-row batch dirtied ~200 more pages of it, a third of the WAL it wrote).
  `
  CREATE TABLE btn_swarm_v2 (
    id                       INTEGER PRIMARY KEY,
    app                      INTEGER NOT NULL,
    submit_id                TEXT NOT NULL,
    downloader               TEXT NOT NULL,
    torrent                  INTEGER NOT NULL,
    peer_ip                  TEXT NOT NULL,
    peer_port                INTEGER NOT NULL,
    peer_id                  TEXT,
    peer_client_name         TEXT,
    peer_progress            REAL NOT NULL,
    downloader_progress      REAL NOT NULL,
    from_peer_traffic        INTEGER NOT NULL,
    from_peer_traffic_offset INTEGER NOT NULL,
    from_peer_speed          INTEGER NOT NULL,
    from_peer_speed_max      INTEGER NOT NULL,
    to_peer_traffic          INTEGER NOT NULL,
    to_peer_traffic_offset   INTEGER NOT NULL,
    to_peer_speed            INTEGER NOT NULL,
    to_peer_speed_max        INTEGER NOT NULL,
    flags                    TEXT NOT NULL,
    first_seen               INTEGER NOT NULL,
    last_seen                INTEGER NOT NULL,
    received_at              INTEGER NOT NULL,
    UNIQUE (torrent, peer_ip, peer_port, app, downloader)
  );
  INSERT INTO btn_swarm_v2 SELECT * FROM btn_swarm ORDER BY id;
  DROP TABLE btn_swarm;
  ALTER TABLE btn_swarm_v2 RENAME TO btn_swarm;
  CREATE INDEX btn_swarm_by_ip ON btn_swarm (peer_ip);
  `,
];
