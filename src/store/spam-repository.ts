import type { Statement, Transaction } from 'better-sqlite3';
import {
  nameKey,
  type ListPage,
  type ListQuery,
  type NewReport,
  type Removal,
  type ReportResult,
  type SpamEntry,
  type SpamReason,
  type SpamStore,
  type StoredReport,
} from '../spam/ports.js';
import type { Db } from './open-database.js';

/** A spam_torrents row as the list statements read it (raw: an array, cheaper than an object). */
type EntryRow = [id: number, infohash: string, name: string, category: string, count: number, first: number, last: number, reasons: string | null];

const COLUMNS = 'id, infohash, name, category, count, first_reported, last_reported, reasons';

function toEntry(r: EntryRow): SpamEntry {
  return {
    id: r[0],
    infohash: r[1],
    name: r[2],
    category: r[3],
    count: r[4],
    firstReported: r[5],
    lastReported: r[6],
    reasons: r[7] === null ? [] : (JSON.parse(r[7]) as SpamReason[]),
  };
}

interface ReportRow {
  reporter: string;
  site: string;
  creator: string;
  ip: string | null;
  name: string;
  category: string;
  reason: string | null;
  detail: string | null;
  weight: number;
  reported_at: number;
}

function toReport(r: ReportRow): StoredReport {
  return {
    reporter: r.reporter,
    site: r.site,
    creator: r.creator,
    ip: r.ip,
    name: r.name,
    category: r.category,
    reason: r.reason,
    detail: r.detail,
    weight: r.weight,
    reportedAt: r.reported_at,
  };
}

interface RemovalRow {
  id: number;
  infohash: string;
  name: string;
  count: number;
  reports: string;
  removed_by: string;
  reason: string;
  removed_at: number;
}

/**
 * The spam list in SQLite (migration 4): spam_torrents keyed by id (the list pages' keyset key),
 * spam_reports keyed (torrent, reporter) so a reporter counts once, spam_removals the audit trail.
 */
export class SqliteSpamRepository implements SpamStore {
  private readonly selectByHash: Statement;
  private readonly selectByName: Statement;
  private readonly insertTorrent: Statement;
  private readonly insertReport: Statement;
  private readonly bump: Statement;
  private readonly pageAll: Statement;
  private readonly pageAbove: Statement;
  private readonly pageRange: Statement;
  private readonly selectReports: Statement;
  private readonly insertRemoval: Statement;
  private readonly deleteReports: Statement;
  private readonly deleteTorrent: Statement;
  private readonly selectRemovals: Statement;
  private readonly selectRemovalsOf: Statement;
  private readonly oldReports: Statement;
  private readonly deleteReport: Statement;
  private readonly unbump: Statement;
  private readonly deleteIfUnreported: Statement;
  private readonly ageTx: Transaction<(beforeSec: number, limit: number) => number>;
  private readonly reportTx: Transaction<(r: NewReport) => ReportResult>;
  private readonly removeTx: Transaction<(infohash: string, by: string, reason: string, at: number) => Removal | undefined>;

  constructor(private readonly db: Db) {
    this.selectByHash = db.prepare(`SELECT ${COLUMNS} FROM spam_torrents WHERE infohash = ?`).raw();
    this.selectByName = db.prepare(`SELECT ${COLUMNS} FROM spam_torrents WHERE name_key = ? ORDER BY id LIMIT ?`).raw();
    this.insertTorrent = db.prepare(`INSERT INTO spam_torrents (infohash, name, name_key, category, count, first_reported, last_reported)
      VALUES (@infohash, @name, @nameKey, @category, 0, @at, @at)`);
    this.insertReport = db.prepare(`INSERT OR IGNORE INTO spam_reports
      (torrent_id, reporter, site, creator, ip, name, category, reason, detail, weight, reported_at)
      VALUES (@id, @reporter, @site, @creator, @ip, @name, @category, @reason, @detail, @weight, @at)`);
    // A torrent first reported without a name (evidence on a torrent whose metadata is missing) is
    // listed under its infohash until a report names it.
    this.bump = db.prepare(`UPDATE spam_torrents SET
      count = count + @weight,
      last_reported = max(last_reported, @at),
      name = CASE WHEN name = infohash AND @name <> '' THEN @name ELSE name END,
      name_key = CASE WHEN name = infohash AND @name <> '' THEN @nameKey ELSE name_key END,
      category = CASE WHEN category = '' THEN @category ELSE category END,
      reasons = CASE WHEN @code IS NULL THEN reasons
        ELSE json_insert(coalesce(reasons, '[]'), '$[#]', json_object('code', @code, 'detail', @detail, 'at', @at)) END
      WHERE id = @id`);
    this.pageAll = db.prepare(`SELECT ${COLUMNS} FROM spam_torrents WHERE id > ? ORDER BY id LIMIT ?`).raw();
    this.pageAbove = db.prepare(`SELECT ${COLUMNS} FROM spam_torrents WHERE id > ? AND count > ? ORDER BY id LIMIT ?`).raw();
    this.pageRange = db
      .prepare(
        `SELECT ${COLUMNS} FROM spam_torrents
         WHERE first_reported >= @low AND first_reported <= @to AND (first_reported > @at OR id > @id)
         ORDER BY first_reported, id LIMIT @limit`,
      )
      .raw();
    this.selectReports = db.prepare(`SELECT reporter, site, creator, ip, name, category, reason, detail, weight, reported_at
      FROM spam_reports WHERE torrent_id = ? ORDER BY reported_at, reporter`);
    this.insertRemoval = db.prepare(`INSERT INTO spam_removals (infohash, name, count, reports, removed_by, reason, removed_at)
      VALUES (?, ?, ?, ?, ?, ?, ?)`);
    this.deleteReports = db.prepare('DELETE FROM spam_reports WHERE torrent_id = ?');
    this.deleteTorrent = db.prepare('DELETE FROM spam_torrents WHERE id = ?');
    this.selectRemovals = db.prepare('SELECT * FROM spam_removals ORDER BY id');
    this.selectRemovalsOf = db.prepare('SELECT * FROM spam_removals WHERE infohash = ? ORDER BY id');
    this.oldReports = db.prepare('SELECT torrent_id, reporter, weight FROM spam_reports WHERE reported_at < ? ORDER BY reported_at LIMIT ?').raw();
    this.deleteReport = db.prepare('DELETE FROM spam_reports WHERE torrent_id = ? AND reporter = ?');
    this.unbump = db.prepare('UPDATE spam_torrents SET count = max(0, count - ?) WHERE id = ?');
    this.deleteIfUnreported = db.prepare('DELETE FROM spam_torrents WHERE id = ? AND NOT EXISTS (SELECT 1 FROM spam_reports WHERE torrent_id = ?)');
    this.ageTx = db.transaction((beforeSec: number, limit: number) => this.ageRows(beforeSec, limit));
    this.reportTx = db.transaction((r: NewReport) => this.reportRow(r));
    this.removeTx = db.transaction((infohash: string, by: string, reason: string, at: number) => this.removeRow(infohash, by, reason, at));
  }

  report(r: NewReport): ReportResult {
    return this.reportTx.immediate(r);
  }

  private reportRow(r: NewReport): ReportResult {
    let row = this.selectByHash.get(r.infohash) as EntryRow | undefined;
    const name = r.name === '' ? r.infohash : r.name;
    let id: number;
    if (row) id = row[0];
    else {
      id = Number(this.insertTorrent.run({ infohash: r.infohash, name, nameKey: nameKey(name), category: r.category, at: r.at }).lastInsertRowid);
    }
    const counted =
      this.insertReport.run({
        id,
        reporter: r.reporter,
        site: r.site,
        creator: r.creator,
        ip: r.ip ?? null,
        name: r.name,
        category: r.category,
        reason: r.reason?.code ?? null,
        detail: r.reason?.detail ?? null,
        weight: r.weight,
        at: r.at,
      }).changes > 0;
    if (counted) {
      this.bump.run({
        id,
        weight: r.weight,
        at: r.at,
        name: r.name,
        nameKey: nameKey(r.name),
        category: r.category,
        code: r.reason?.code ?? null,
        detail: r.reason?.detail ?? null,
      });
    }
    row = this.selectByHash.get(r.infohash) as EntryRow;
    return { counted, entry: toEntry(row) };
  }

  byHash(infohash: string): SpamEntry | undefined {
    const r = this.selectByHash.get(infohash) as EntryRow | undefined;
    return r ? toEntry(r) : undefined;
  }

  byName(key: string, limit: number): SpamEntry[] {
    return (this.selectByName.all(key, limit) as EntryRow[]).map(toEntry);
  }

  list(q: ListQuery): ListPage {
    let rows: EntryRow[];
    if (q.kind === 'all') rows = this.pageAll.all(q.after ?? 0, q.limit + 1) as EntryRow[];
    else if (q.kind === 'above') rows = this.pageAbove.all(q.after ?? 0, q.threshold, q.limit + 1) as EntryRow[];
    else {
      const at = q.after?.at ?? q.from - 1;
      const id = q.after?.id ?? 0;
      rows = this.pageRange.all({ low: Math.max(q.from, at), to: q.to, at, id, limit: q.limit + 1 }) as EntryRow[];
    }
    const hasMore = rows.length > q.limit;
    if (hasMore) rows.length = q.limit;
    return { entries: rows.map(toEntry), hasMore };
  }

  reportsOf(infohash: string): StoredReport[] {
    const r = this.selectByHash.get(infohash) as EntryRow | undefined;
    return r ? (this.selectReports.all(r[0]) as ReportRow[]).map(toReport) : [];
  }

  remove(infohash: string, removedBy: string, reason: string, at: number): Removal | undefined {
    return this.removeTx.immediate(infohash, removedBy, reason, at);
  }

  private removeRow(infohash: string, removedBy: string, reason: string, at: number): Removal | undefined {
    const row = this.selectByHash.get(infohash) as EntryRow | undefined;
    if (!row) return undefined;
    const reports = (this.selectReports.all(row[0]) as ReportRow[]).map(toReport);
    const id = Number(this.insertRemoval.run(infohash, row[2], row[4], JSON.stringify(reports), removedBy, reason, at).lastInsertRowid);
    this.deleteReports.run(row[0]);
    this.deleteTorrent.run(row[0]);
    return { id, infohash, name: row[2], count: row[4], reports, removedBy, reason, removedAt: at };
  }

  /**
   * Retention: deletes up to `limit` reports made before `before` (epoch ms), oldest first, in one
   * transaction; each takes its weight off its torrent's count, and a torrent left without reports
   * leaves the list. Returns the reports deleted.
   */
  deleteReportsOlderThan(before: number, limit: number): number {
    return this.ageTx.immediate(Math.floor(before / 1000), limit);
  }

  private ageRows(beforeSec: number, limit: number): number {
    const rows = this.oldReports.all(beforeSec, limit) as Array<[torrentId: number, reporter: string, weight: number]>;
    const torrents = new Set<number>();
    for (const [id, reporter, weight] of rows) {
      this.deleteReport.run(id, reporter);
      this.unbump.run(weight, id);
      torrents.add(id);
    }
    for (const id of torrents) this.deleteIfUnreported.run(id, id);
    return rows.length;
  }

  removals(infohash?: string): Removal[] {
    const rows = (infohash === undefined ? this.selectRemovals.all() : this.selectRemovalsOf.all(infohash)) as RemovalRow[];
    return rows.map((r) => ({
      id: r.id,
      infohash: r.infohash,
      name: r.name,
      count: r.count,
      reports: JSON.parse(r.reports) as StoredReport[],
      removedBy: r.removed_by,
      reason: r.reason,
      removedAt: r.removed_at,
    }));
  }

  /** EXPLAIN QUERY PLAN of the list statements (tests and the benchmark check they stay index scans). */
  explainLists(): Record<'all' | 'above' | 'range', string[]> {
    const plan = (stmt: Statement, params: unknown): string[] =>
      (this.db.prepare(`EXPLAIN QUERY PLAN ${stmt.source}`).all(params as never) as Array<{ detail: string }>).map((r) => r.detail);
    return {
      all: plan(this.pageAll, [0, 1]),
      above: plan(this.pageAbove, [0, 10, 1]),
      range: plan(this.pageRange, { low: 0, to: 1, at: 0, id: 0, limit: 1 }),
    };
  }
}
