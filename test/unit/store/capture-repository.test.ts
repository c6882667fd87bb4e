import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { NewCapture } from '../../../src/model/capture.js';
import { SqliteCaptureRepository, type PeerPage } from '../../../src/store/capture-repository.js';
import { MIGRATIONS, migrate, schemaVersion } from '../../../src/store/migrations.js';
import { openDatabase, type Db } from '../../../src/store/open-database.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { prng } from '../../helpers/prng.js';

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

function fresh(): string {
  const t = tempDir();
  cleanup = t.cleanup;
  return path.join(t.dir, 'capture.db');
}


const IH = 'ab'.repeat(20);
const T0 = 1_700_000_000_000;

/** Random captures over ~400 ms (many sharing a millisecond), 1–3 filters of a/b/c, some with outbox rows. */
function randomCaptures(n: number, seed: number, t0 = T0): NewCapture[] {
  const rnd = prng(seed);
  const out: NewCapture[] = [];
  for (let i = 0; i < n; i++) {
    const foundAt = t0 + Math.floor(rnd() ** 2 * 400);
    const filters = ['a', 'b', 'c'].filter(() => rnd() < 0.5);
    if (filters.length === 0) filters.push('a');
    const c: NewCapture = { foundAt, ip: `10.0.${i >> 8}.${i & 255}`, port: 1024 + i, infohash: IH, filters };
    if (rnd() < 0.8) c.countryCode = 'DE';
    if (rnd() < 0.5) c.city = 'São Paulo';
    if (rnd() < 0.5) c.isp = 'ISP "quoted" \\ name';
    if (rnd() < 0.4) {
      const total = 1 + Math.floor(rnd() * 1000);
      c.report = { date: foundAt + 2500, totalPiecesInTorrent: total, hasPieces: total - (i % 2), hasTotal: i % 2 === 0, clientName: 'µTorrent 3.6', hostIdentifier: i % 3 === 0 ? '' : `host-${i}` };
    } else {
      c.error = `error ${i % 7}`;
    }
    if (rnd() < 0.05) c.pcapPath = `/var/pcap/${i}.pcap`;
    if (rnd() < 0.2) c.notify = [{ filter: filters[0] as string, target: rnd() < 0.5 ? 'amqp' : 'email' }];
    out.push(c);
  }
  return out;
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

/** Every page of `filter` from `from` to `to`, following hasMore. */
function follow(repo: SqliteCaptureRepository, filter: string, success: boolean | undefined, from: number, to: number, pageSize: number): PeerPage[] {
  const pages: PeerPage[] = [];
  let cursor = from;
  for (let guard = 0; guard < 10_000; guard++) {
    const page = repo.page({ filter, from: cursor, to, success, pageSize });
    pages.push(page);
    if (!page.hasMore) return pages;
    expect(page.to).toBeGreaterThan(cursor);
    cursor = page.to;
  }
  throw new Error('hasMore never became false');
}

/** [found_at, id] of what `filter` lists in found order, computed from the inputs. */
function expectedListing(captures: readonly NewCapture[], ids: readonly number[], filter: string, success: boolean | undefined): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  captures.forEach((c, i) => {
    if (!c.filters.includes(filter)) return;
    if (success !== undefined && (c.report !== undefined) !== success) return;
    out.push([c.foundAt, ids[i] as number]);
  });
  return out.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
}

function checkListings(repo: SqliteCaptureRepository, captures: readonly NewCapture[], ids: readonly number[], pageSize: number): void {
  for (const filter of ['a', 'b', 'c']) {
    for (const success of [undefined, true, false]) {
      const pages = follow(repo, filter, success, T0 - 1, T0 + 10_000, pageSize);
      const got = pages.flatMap((p) => p.peers.map((r) => [r[1], r[0]] as [number, number]));
      expect(got, `${filter} success=${String(success)}`).toEqual(expectedListing(captures, ids, filter, success));
      // No millisecond is split across pages, and a page only exceeds pageSize for one millisecond.
      for (let i = 1; i < pages.length; i++) {
        const prev = pages[i - 1] as PeerPage;
        const first = (pages[i] as PeerPage).peers[0];
        const last = prev.peers[prev.peers.length - 1];
        if (first && last) expect(first[1]).toBeGreaterThan(last[1]);
      }
      for (const p of pages) if (p.peers.length > pageSize) expect(new Set(p.peers.map((r) => r[1])).size).toBe(1);
    }
  }
}

describe('migration 3: capture listings keyed (filter, success, found_at, capture)', () => {
  it('migrates a version-2 database with rows: same listings, same pages, outbox kept, new writes continue', () => {
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
    expect(db.prepare('SELECT * FROM captures ORDER BY id').all()).toEqual(capturesBefore.map((c) => ({ ...(c as object), note: null })));
    expect(db.prepare('SELECT * FROM outbox ORDER BY id').all()).toEqual(outboxBefore);

    const repo = new SqliteCaptureRepository(db);
    checkListings(repo, captures, ids, 37);
    captures.forEach((c, i) => {
      const id = ids[i] as number;
      expect(repo.filtersOf(id)).toEqual(['a', 'b', 'c'].filter((f) => c.filters.includes(f)));
      expect(repo.isListedUnder(id, 'a')).toBe(c.filters.includes('a'));
    });

    // New writes after the migration: ids continue, listings and outbox rows land with them.
    const more = randomCaptures(300, 8, T0 + 100);
    const newIds = repo.insertMany(more, 99);
    expect(newIds[0]).toBe(Math.max(...ids) + 1);
    checkListings(repo, [...captures, ...more], [...ids, ...newIds], 50);
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

describe('SqliteCaptureRepository.insertMany', () => {
  function open(): { db: Db; repo: SqliteCaptureRepository } {
    const db = openDatabase(fresh());
    return { db, repo: new SqliteCaptureRepository(db) };
  }

  it('stores every field, in batches of any size (multi-row statements of 64 and the rest)', () => {
    const { db, repo } = open();
    const all: NewCapture[] = [];
    const ids: number[] = [];
    let seed = 1;
    for (const size of [1, 63, 64, 65, 129, 1000]) {
      const batch = randomCaptures(size, seed++, T0 + seed);
      const got = repo.insertMany(batch, 1234);
      expect(got).toHaveLength(size);
      // Consecutive, in batch order, after everything stored before.
      expect(got).toEqual(Array.from({ length: size }, (_, i) => ids.length + 1 + i));
      all.push(...batch);
      ids.push(...got);
    }
    all.forEach((c, i) => {
      const id = ids[i] as number;
      const { filters, notify, ...record } = c;
      void notify;
      expect(repo.get(id)).toStrictEqual({ id, ...record });
      expect(repo.filtersOf(id)).toEqual(['a', 'b', 'c'].filter((f) => filters.includes(f)));
    });
    const outbox = db.prepare('SELECT capture_id, filter, target, created_at FROM outbox ORDER BY id').all();
    const want = all.flatMap((c, i) => (c.notify ?? []).map((n) => ({ capture_id: ids[i], filter: n.filter, target: n.target, created_at: 1234 })));
    expect(outbox).toEqual(want);
    checkListings(repo, all, ids, 40);
    expect(db.prepare('SELECT count(*) FROM captures WHERE found_at >= 0').pluck().get()).toBe(all.length);
    db.close();
  });

  it('lists a capture once per distinct filter, also with many filters or a name given twice', () => {
    const { db, repo } = open();
    const many = Array.from({ length: 150 }, (_, i) => `f${i}`);
    const [id1, id2] = repo.insertMany([
      { foundAt: 5, ip: '192.0.2.1', port: 1, infohash: IH, error: 'x', filters: many },
      { foundAt: 6, ip: '192.0.2.2', port: 2, infohash: IH, error: 'y', filters: ['a', 'a', 'b', 'a'] },
    ]) as [number, number];
    expect(repo.filtersOf(id1)).toEqual(many);
    expect(repo.filtersOf(id2)).toEqual(['a', 'b']);
    expect(db.prepare('SELECT count(*) FROM capture_filters').pluck().get()).toBe(152);
    expect(repo.page({ filter: 'f149', from: 0, to: 10, pageSize: 10 }).peers.map((r) => r[0])).toEqual([id1]);
    db.close();
  });

  it('rolls the whole batch back when a later chunk fails, and forgets filter ids made inside it', () => {
    const { db, repo } = open();
    repo.insertMany(randomCaptures(10, 3));
    const batch = randomCaptures(200, 4);
    // A bad outbox target in the last chunk fails the CHECK after 192 captures were inserted.
    batch[150] = { ...(batch[150] as NewCapture), filters: ['brand-new'] };
    batch[199] = { ...(batch[199] as NewCapture), notify: [{ filter: 'a', target: 'pigeon' as 'amqp' }] };
    expect(() => repo.insertMany(batch)).toThrow(/CHECK/);
    expect(db.prepare('SELECT count(*) FROM captures').pluck().get()).toBe(10);
    expect(db.prepare("SELECT count(*) FROM filter_names WHERE name = 'brand-new'").pluck().get()).toBe(0);
    // The next batch recreates the filter name and continues the ids.
    const [id] = repo.insertMany([{ ...(batch[0] as NewCapture), filters: ['brand-new'], notify: [] }]);
    expect(id).toBe(11);
    expect(repo.filtersOf(id as number)).toEqual(['brand-new']);
    expect(repo.insertMany([])).toEqual([]);
    db.close();
  });

  it('merges success and failure in id order inside an oversized millisecond', () => {
    const { db, repo } = open();
    const batch: NewCapture[] = Array.from({ length: 150 }, (_, i) =>
      i % 3 === 0
        ? { foundAt: 1000, ip: '192.0.2.1', port: i + 1, infohash: IH, filters: ['a'], report: { date: 1001, totalPiecesInTorrent: 1, hasPieces: 1, hasTotal: true, clientName: 'c', hostIdentifier: '' } }
        : { foundAt: 1000, ip: '192.0.2.1', port: i + 1, infohash: IH, filters: ['a'], error: 'e' },
    );
    batch.push({ foundAt: 1002, ip: '192.0.2.9', port: 9, infohash: IH, filters: ['a'], error: 'later' });
    const ids = repo.insertMany(batch);
    const page = repo.page({ filter: 'a', from: 0, to: 5000, pageSize: 100 });
    expect(page.peers.map((r) => r[0])).toEqual(ids.slice(0, 150));
    expect(page).toMatchObject({ from: 0, to: 1001, hasMore: true });
    const rest = repo.page({ filter: 'a', from: 1001, to: 5000, pageSize: 100 });
    expect(rest.peers.map((r) => r[0])).toEqual([ids[150]]);
    expect(rest).toMatchObject({ to: 5000, hasMore: false });
    const ok = repo.page({ filter: 'a', from: 0, to: 5000, success: true, pageSize: 10 });
    expect(ok.peers.map((r) => r[0])).toEqual(ids.slice(0, 150).filter((_, i) => i % 3 === 0));
    expect(ok).toMatchObject({ to: 5000, hasMore: false });
    db.close();
  });
});
