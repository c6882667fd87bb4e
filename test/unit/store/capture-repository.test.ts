import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { NewCapture } from '../../../src/model/capture.js';
import { SqliteCaptureRepository } from '../../../src/store/capture-repository.js';
import { MIGRATIONS, migrate, schemaVersion } from '../../../src/store/migrations.js';
import { openDatabase } from '../../../src/store/open-database.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { checkListings, randomCaptures, T0 } from '../../helpers/capture-samples.js';

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

function fresh(): string {
  const t = tempDir();
  cleanup = t.cleanup;
  return path.join(t.dir, 'capture.db');
}


/** A database at schema version 2 (as operators have it), filled the way the version-2 daemon wrote it. */
function v2Database(file: string, captures: readonly NewCapture[]): number[] {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.transaction(() => {
    db.exec(MIGRATIONS[0] as string);
    db.exec(MIGRATIONS[1] as string);
    db.pragma('user_version = 2');
  })();
  // The version-2 insert statements, verbatim.
  const insertCapture = db.prepare(`INSERT INTO captures (found_at, ip, port, infohash, country_code, city, isp,
      report_at, total_pieces, has_pieces, has_total, client_name, host_identifier, error, pcap_path)
      VALUES (@foundAt, @ip, @port, @infohash, @countryCode, @city, @isp, @reportAt, @totalPieces, @hasPieces,
      @hasTotal, @clientName, @hostIdentifier, @error, @pcapPath)`);
  const insertListing = db.prepare('INSERT OR IGNORE INTO capture_filters (filter_id, found_at, capture_id, success) VALUES (?, ?, ?, ?)');
  const insertOutbox = db.prepare('INSERT INTO outbox (capture_id, filter, target, created_at) VALUES (?, ?, ?, ?)');
  db.prepare("INSERT INTO filter_names (name) VALUES ('a'), ('b'), ('c')").run();
  const fid = (name: string): number => db.prepare('SELECT id FROM filter_names WHERE name = ?').pluck().get(name) as number;
  const ids: number[] = [];
  db.transaction(() => {
    for (const c of captures) {
      const r = c.report;
      const id = Number(
        insertCapture.run({
          foundAt: c.foundAt,
          ip: c.ip,
          port: c.port,
          infohash: c.infohash,
          countryCode: c.countryCode ?? null,
          city: c.city ?? null,
          isp: c.isp ?? null,
          reportAt: r ? r.date : null,
          totalPieces: r ? r.totalPiecesInTorrent : null,
          hasPieces: r ? r.hasPieces : null,
          hasTotal: r ? (r.hasTotal ? 1 : 0) : null,
          clientName: r ? r.clientName : null,
          hostIdentifier: r ? r.hostIdentifier : null,
          error: r ? null : (c.error ?? 'unknown error'),
          pcapPath: c.pcapPath ?? null,
        }).lastInsertRowid,
      );
      for (const f of c.filters) insertListing.run(fid(f), c.foundAt, id, r ? 1 : 0);
      for (const n of c.notify ?? []) insertOutbox.run(id, n.filter, n.target, 42);
      ids.push(id);
    }
  })();
  db.close();
  return ids;
}

describe('migration 3: capture listings keyed (filter, success, found_at, capture)', () => {
  it('migrates a version-2 database with rows: same listings, same pages, outbox kept, new writes continue', async () => {
    const file = fresh();
    const captures = randomCaptures(1500, 7);
    const ids = v2Database(file, captures);
    const before = new Database(file, { readonly: true });
    const listingsBefore = before.prepare('SELECT filter_id, success, found_at, capture_id FROM capture_filters ORDER BY 1, 2, 3, 4').raw().all();
    const outboxBefore = before.prepare('SELECT * FROM outbox ORDER BY id').all();
    const capturesBefore = before.prepare('SELECT * FROM captures ORDER BY id').all();
    before.close();
    expect(listingsBefore.length).toBeGreaterThan(1500);
    expect(outboxBefore.length).toBeGreaterThan(100);

    const db = openDatabase(file, { migrate: false });
    expect(schemaVersion(db)).toBe(2);
    // Migration 3, then every later one.
    expect(migrate(db)).toEqual(Array.from({ length: MIGRATIONS.length - 2 }, (_, i) => i + 3));
    expect(schemaVersion(db)).toBe(MIGRATIONS.length);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.pragma('foreign_key_check')).toEqual([]);

    // The new table holds exactly the old rows; the old indexes and the renamed table are gone.
    expect(db.prepare('SELECT filter_id, success, found_at, capture_id FROM capture_filters ORDER BY 1, 2, 3, 4').raw().all()).toEqual(listingsBefore);
    const sql = db.prepare("SELECT sql FROM sqlite_master WHERE name = 'capture_filters'").pluck().get() as string;
    expect(sql).toMatch(/PRIMARY KEY \(filter_id, success, found_at, capture_id\)\s*\)\s*WITHOUT ROWID/);
    const names = db.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'capture_filters%' ORDER BY name").pluck().all();
    expect(names).toEqual(['capture_filters']);
    // Captures and outbox untouched.
    // Migration 4 adds the report's note, empty for every existing row.
    expect(db.prepare('SELECT * FROM captures ORDER BY id').all()).toEqual(capturesBefore.map((c) => ({ ...(c as object), note: null, transport: null })));
    expect(db.prepare('SELECT * FROM outbox ORDER BY id').all()).toEqual(outboxBefore);

    const repo = new SqliteCaptureRepository(db);
    await checkListings(repo, captures, ids, 37);
    captures.forEach((c, i) => {
      const id = ids[i] as number;
      expect(repo.filtersOf(id)).toEqual(['a', 'b', 'c'].filter((f) => c.filters.includes(f)));
      expect(repo.isListedUnder(id, 'a')).toBe(c.filters.includes('a'));
    });

    // New writes after the migration: ids continue, listings and outbox rows land with them.
    const more = randomCaptures(300, 8, T0 + 100);
    const newIds = repo.insertMany(more, 99);
    expect(newIds[0]).toBe(Math.max(...ids) + 1);
    await checkListings(repo, [...captures, ...more], [...ids, ...newIds], 50);
    expect(db.prepare('SELECT count(*) FROM outbox').pluck().get()).toBe(outboxBefore.length + more.filter((c) => c.notify).length);
    // The outbox keeps its foreign key to captures.
    expect(() => db.prepare("INSERT INTO outbox (capture_id, filter, target, created_at) VALUES (999999, 'a', 'amqp', 0)").run()).toThrow(/FOREIGN KEY/);

    // With statistics gathered the plans stay range scans of the key.
    db.exec('ANALYZE');
    const analyzed = new SqliteCaptureRepository(db);
    const range = 'SEARCH f USING PRIMARY KEY (filter_id=? AND success=? AND found_at>? AND found_at<?)';
    expect(analyzed.explainPage(undefined).page.filter((l) => l.startsWith('SEARCH f'))).toEqual([range, range]);
    expect(analyzed.explainPage(true).page[0]).toBe(range);
    expect([...analyzed.explainPage(undefined).page, ...analyzed.explainFiltersOf()].join('\n')).not.toMatch(/TEMP B-TREE|SCAN f|SCAN c/);
    db.close();

    // Reopening applies nothing more.
    const again = openDatabase(file);
    expect(schemaVersion(again)).toBe(MIGRATIONS.length);
    again.close();
  });

  it('migrates an empty version-2 database', () => {
    const file = fresh();
    v2Database(file, []);
    const db = openDatabase(file);
    expect(schemaVersion(db)).toBe(MIGRATIONS.length);
    const repo = new SqliteCaptureRepository(db);
    expect(repo.insertMany(randomCaptures(3, 1))).toEqual([1, 2, 3]);
    expect(repo.page({ filter: 'a', from: 0, to: T0 + 10_000, pageSize: 10 }).peers.length).toBeGreaterThan(0);
    db.close();
  });
});

