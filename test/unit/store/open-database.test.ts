import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate, schemaVersion } from '../../../src/store/migrations.js';
import { openDatabase } from '../../../src/store/open-database.js';
import { SqliteCaptureRepository } from '../../../src/store/capture-repository.js';
import { SqliteFilterOverlayRepository } from '../../../src/store/filter-overlay-repository.js';
import { SqliteTorrentRepository } from '../../../src/store/torrent-repository.js';
import { tempDir } from '../../helpers/temp-dir.js';

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

function fresh(): string {
  const t = tempDir();
  cleanup = t.cleanup;
  return path.join(t.dir, 'sub', 'capture.db');
}

describe('openDatabase', () => {
  it('creates the file with WAL, foreign keys, busy timeout, and the latest schema', () => {
    const db = openDatabase(fresh(), { busyTimeoutMs: 1234 });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(1234);
    expect(schemaVersion(db)).toBe(MIGRATIONS.length);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).toEqual([
      'btn_apps',
      'btn_bans',
      'btn_client_discovery',
      'btn_counts',
      'btn_heartbeats',
      'btn_histories',
      'btn_sessions',
      'btn_swarm',
      'btn_torrents',
      'btn_users',
      'capture_day_counts', 'capture_day_torrents', 'capture_filters', 'capture_hour_counts', 'capture_hour_torrents', 'capture_hours', 'capture_minutes', 'captures', 'cluster_state', 'dht_nodes', 'filter_infohashes', 'filter_names', 'forward_outbox', 'ingested_uids', 'outbox', 'peers',
      'spam_evidence_fired', 'spam_removals', 'spam_reports', 'spam_scan_cursors', 'spam_swarm_peers', 'spam_swarms', 'spam_torrents',
      'torrents']);
    db.close();
  });

  it('migrates once: reopening applies nothing', () => {
    const file = fresh();
    openDatabase(file).close();
    const db = openDatabase(file, { migrate: false });
    expect(migrate(db)).toEqual([]);
    db.close();
  });

  it('refuses a database from a newer version', () => {
    const file = fresh();
    openDatabase(file).close();
    const raw = new Database(file);
    raw.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    raw.close();
    expect(() => openDatabase(file)).toThrow(/newer than this daemon knows/);
  });

  it('plans peers/all as index range scans of the listing key, never a sort or a scan', () => {
    const db = openDatabase(fresh());
    const repo = new SqliteCaptureRepository(db);
    const range = 'SEARCH f USING PRIMARY KEY (filter_id=? AND success=? AND found_at>? AND found_at<?)';
    const capture = 'SEARCH c USING INTEGER PRIMARY KEY (rowid=?)';
    for (const success of [true, false]) {
      const plan = repo.explainPage(success);
      expect(plan.page).toEqual([range, capture]);
      expect(plan.more).toEqual([range]);
    }
    // success unset: both success ranges, merged in key order (no temp b-tree).
    const plan = repo.explainPage(undefined);
    expect(plan.page).toEqual(['MERGE (UNION ALL)', 'LEFT', range, capture, 'RIGHT', range, capture]);
    expect(plan.more).toEqual([range]);
    // filtersOf / isListedUnder: probes of the key, whatever the table sizes.
    expect(repo.explainFiltersOf()).toEqual([
      capture,
      'SCAN n',
      'SEARCH f USING PRIMARY KEY (filter_id=? AND success=? AND found_at=? AND capture_id=?)',
      capture,
      'SEARCH f USING PRIMARY KEY (filter_id=? AND success=? AND found_at=? AND capture_id=?)',
    ]);
    db.close();
  });

  it('enforces foreign keys and the report-xor-error rule', () => {
    const db = openDatabase(fresh());
    expect(() => db.prepare("INSERT INTO outbox (capture_id, filter, target, created_at) VALUES (999, 'f', 'amqp', 0)").run()).toThrow(/FOREIGN KEY/);
    expect(() => db.prepare("INSERT INTO captures (found_at, ip, port, infohash) VALUES (0, '1.2.3.4', 1, 'x')").run()).toThrow(/CHECK/);
    db.close();
  });
});

describe('repositories', () => {
  it('stores a capture with its filter listings and outbox rows in one transaction', () => {
    const db = openDatabase(fresh());
    const repo = new SqliteCaptureRepository(db);
    const [id] = repo.insertMany([
      {
        foundAt: 1000,
        ip: '203.0.113.5',
        port: 6881,
        infohash: 'ab'.repeat(20),
        countryCode: 'DE',
        report: { date: 1500, totalPiecesInTorrent: 64, hasPieces: 64, hasTotal: true, clientName: 'qBittorrent 4.6.5', hostIdentifier: '' },
        filters: ['a', 'b'],
        notify: [{ filter: 'a', target: 'amqp' }],
      },
    ]);
    expect(repo.get(id as number)).toMatchObject({ ip: '203.0.113.5', countryCode: 'DE', report: { hasTotal: true } });
    expect(repo.filtersOf(id as number).sort()).toEqual(['a', 'b']);
    expect(db.prepare('SELECT count(*) FROM outbox').pluck().get()).toBe(1);
    // A failing row rolls the whole batch back.
    expect(() =>
      repo.insertMany([
        { foundAt: 1, ip: '1.1.1.1', port: 1, infohash: 'cd'.repeat(20), error: 'connect timeout', filters: ['a'] },
        { foundAt: 2, ip: '1.1.1.2', port: 2, infohash: 'cd'.repeat(20), error: 'x', filters: ['a'], notify: [{ filter: 'a', target: 'pigeon' as 'amqp' }] },
      ]),
    ).toThrow();
    expect(db.prepare('SELECT count(*) FROM captures').pluck().get()).toBe(1);
    db.close();
  });

  it('tracks torrents from unknown to pending to known', () => {
    const db = openDatabase(fresh());
    const repo = new SqliteTorrentRepository(db);
    const ih = 'ef'.repeat(20);
    expect(repo.get(ih).state).toBe('unknown');
    expect(repo.addPending(ih, 'test')).toBe(true);
    expect(repo.addPending(ih, 'test')).toBe(false);
    expect(repo.get(ih).state).toBe('pending');
    expect(repo.pendingInfohashes()).toEqual([ih]);
    repo.putMetadata({ infohash: ih, name: 'n', totalSize: 10, pieceLength: 16384, pieceCount: 1, files: [{ path: 'n', length: 10 }], info: Buffer.from('d4:name1:ne') }, 'test');
    expect(repo.get(ih)).toMatchObject({ state: 'known', name: 'n', pieceCount: 1, files: [{ path: 'n', length: 10 }] });
    expect(repo.pendingInfohashes()).toEqual([]);
    db.close();
  });

  it('keeps the last API change per filter and infohash', () => {
    const db = openDatabase(fresh());
    const repo = new SqliteFilterOverlayRepository(db);
    repo.record('f', 'aa'.repeat(20), 'add', 1);
    repo.record('f', 'aa'.repeat(20), 'delete', 2);
    repo.record('g', 'bb'.repeat(20), 'add', 3);
    expect(repo.list()).toEqual([
      { filter: 'f', infohash: 'aa'.repeat(20), op: 'delete', changedAt: 2 },
      { filter: 'g', infohash: 'bb'.repeat(20), op: 'add', changedAt: 3 },
    ]);
    expect(repo.reset('f')).toBe(1);
    expect(repo.list()).toHaveLength(1);
    db.close();
  });
});
