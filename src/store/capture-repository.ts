import type { Statement, Transaction } from 'better-sqlite3';
import type { CaptureRecord, CaptureTransport, NewCapture } from '../model/capture.js';
import { CaptureRollups } from './capture-rollups.js';
import type { Db } from './open-database.js';

export interface PeerPageQuery {
  filter: string;
  from: number;
  /** Exclusive. */
  to: number;
  success?: boolean | undefined;
  pageSize: number;
}

/**
 * One stored capture as the page query reads it: a better-sqlite3 raw row (an array, not an object
 * with 16 named properties, which costs twice as much to build). `hasTotal` is 0/1, absent values null.
 */
export type CaptureRow = [
  id: number,
  foundAt: number,
  ip: string,
  port: number,
  infohash: string,
  countryCode: string | null,
  city: string | null,
  isp: string | null,
  reportAt: number | null,
  totalPieces: number | null,
  hasPieces: number | null,
  hasTotal: number | null,
  clientName: string | null,
  hostIdentifier: string | null,
  error: string | null,
  pcapPath: string | null,
  note: string | null,
  /** Read by get(); the PostgreSQL store's page() leaves it out (the peers page does not show it). */
  transport?: string | null,
];

export interface PeerPage {
  from: number;
  /** The real end of this page (exclusive); equals the requested `to` when hasMore is false. */
  to: number;
  hasMore: boolean;
  /** In found order (found_at, then capture id); see captureRowToRecord. */
  peers: CaptureRow[];
}

/** Column list in CaptureRow order; `f` is the listing, `c` the capture. */
const ROW_COLUMNS = `f.capture_id, f.found_at, c.ip, c.port, c.infohash, c.country_code, c.city, c.isp, c.report_at,
  c.total_pieces, c.has_pieces, c.has_total, c.client_name, c.host_identifier, c.error, c.pcap_path, c.note, c.transport`;
const BY_ID_COLUMNS = `id, found_at, ip, port, infohash, country_code, city, isp, report_at,
  total_pieces, has_pieces, has_total, client_name, host_identifier, error, pcap_path, note, transport`;

/** The CaptureRecord of a row (absent values left out). */
export function captureRowToRecord(r: CaptureRow): CaptureRecord {
  const rec: CaptureRecord = { id: r[0], foundAt: r[1], ip: r[2], port: r[3], infohash: r[4] };
  if (r[5] !== null) rec.countryCode = r[5];
  if (r[6] !== null) rec.city = r[6];
  if (r[7] !== null) rec.isp = r[7];
  if (r[8] !== null) {
    rec.report = {
      date: r[8],
      totalPiecesInTorrent: r[9] ?? 0,
      hasPieces: r[10] ?? 0,
      hasTotal: r[11] === 1,
      clientName: r[12] ?? '',
      hostIdentifier: r[13] ?? '',
    };
    if (r[16] !== null) rec.report.note = r[16];
  }
  if (r[14] !== null) rec.error = r[14];
  if (r[15] !== null) rec.pcapPath = r[15];
  if (r[17] !== null && r[17] !== undefined) rec.transport = r[17] as CaptureTransport;
  return rec;
}

/** Values per captures row in the INSERT below; rows per multi-row INSERT statement. */
const CAPTURE_VALUES = 18;
const LISTING_VALUES = 4;
const ROWS_PER_INSERT = 64;

/**
 * Multi-row INSERTs with positional parameters: `run(values)` inserts values.length / width rows,
 * ROWS_PER_INSERT per statement (one VDBE program and one native call per 64 rows instead of per row).
 */
class MultiRowInsert {
  private readonly stmts = new Map<number, Statement>();

  constructor(
    private readonly db: Db,
    private readonly head: string,
    private readonly width: number,
  ) {}

  private stmt(rows: number): Statement {
    let s = this.stmts.get(rows);
    if (!s) {
      const one = `(${new Array<string>(this.width).fill('?').join(',')})`;
      s = this.db.prepare(`${this.head} VALUES ${new Array<string>(rows).fill(one).join(',')}`);
      this.stmts.set(rows, s);
    }
    return s;
  }

  run(values: unknown[]): void {
    const per = ROWS_PER_INSERT * this.width;
    if (values.length <= per) {
      if (values.length > 0) this.stmt(values.length / this.width).run(values);
      return;
    }
    for (let o = 0; o < values.length; o += per) {
      const part = values.slice(o, o + per);
      this.stmt(part.length / this.width).run(part);
    }
  }
}

/**
 * Captures and their listing under filters. The only writer is the capture pipeline's batch writer.
 *
 * Schema (migration 3): `captures` holds one row per capture (id = rowid); `capture_filters` lists
 * each capture under each filter it matched, keyed (filter_id, success, found_at, capture_id), the
 * one b-tree the peers/all query scans. success=true/false is one range of that key; success unset
 * is two ranges (success 0 and 1) merged in found order by SQLite (UNION ALL … ORDER BY, no sort).
 */
export class SqliteCaptureRepository {
  private readonly filterIds = new Map<string, number>();
  private readonly insertCaptures: MultiRowInsert;
  private readonly insertListings: MultiRowInsert;
  private readonly insertOutbox: Statement;
  private readonly insertFilterName: Statement;
  private readonly selectFilterId: Statement;
  private readonly maxCaptureId: Statement;
  /** [page statement, "any row in range" statement], for success unset / false / true. */
  private readonly pageStmts: Array<{ page: Statement; more: Statement } | undefined> = [undefined, undefined, undefined];
  private readonly byId: Statement;
  private readonly filtersOfStmt: Statement;
  private readonly listedUnder: Statement;
  private readonly perMinuteSince: Statement;
  private readonly forgetPcaps: Statement;
  private readonly insertTransaction: Transaction<(batch: readonly NewCapture[], now: number) => number[]>;
  /** The dashboard's counters, kept in each batch's transaction. */
  readonly rollups: CaptureRollups;

  constructor(private readonly db: Db) {
    this.rollups = new CaptureRollups(db);
    this.insertCaptures = new MultiRowInsert(
      db,
      `INSERT INTO captures (id, found_at, ip, port, infohash, country_code, city, isp,
      report_at, total_pieces, has_pieces, has_total, client_name, host_identifier, error, pcap_path, note, transport)`,
      CAPTURE_VALUES,
    );
    // OR IGNORE: a filter named twice in one capture's list is listed once.
    this.insertListings = new MultiRowInsert(
      db,
      'INSERT OR IGNORE INTO capture_filters (filter_id, success, found_at, capture_id)',
      LISTING_VALUES,
    );
    this.insertOutbox = db.prepare(
      'INSERT INTO outbox (capture_id, filter, target, created_at) VALUES (?, ?, ?, ?)',
    );
    this.insertFilterName = db.prepare('INSERT OR IGNORE INTO filter_names (name) VALUES (?)');
    this.selectFilterId = db.prepare('SELECT id FROM filter_names WHERE name = ?').pluck();
    this.maxCaptureId = db.prepare('SELECT max(id) FROM captures').pluck();
    this.byId = db.prepare(`SELECT ${BY_ID_COLUMNS} FROM captures WHERE id = ?`).raw();
    // The listing key of a capture is (filter, success, its found_at, its id): one primary-key probe per
    // filter and success value. (No index by capture id: it would cost another b-tree write per listing.)
    const listed = 'f.success IN (0, 1) AND f.found_at = c.found_at AND f.capture_id = c.id';
    this.filtersOfStmt = db
      .prepare(
        // CROSS JOIN fixes the loop order: the capture, then each filter name, then the probe.
        `SELECT n.name FROM captures c CROSS JOIN filter_names n CROSS JOIN capture_filters f
         WHERE c.id = ? AND f.filter_id = n.id AND ${listed} ORDER BY n.id`,
      )
      .pluck();
    this.listedUnder = db
      .prepare(`SELECT 1 FROM captures c CROSS JOIN capture_filters f WHERE c.id = ? AND f.filter_id = ? AND ${listed}`)
      .pluck();
    this.insertTransaction = db.transaction((batch: readonly NewCapture[], now: number) => this.insertRows(batch, now));
    this.forgetPcaps = db.prepare(
      `UPDATE captures SET pcap_path = NULL WHERE id IN
        (SELECT id FROM captures WHERE pcap_path IS NOT NULL AND found_at < ? ORDER BY found_at LIMIT ?)`,
    );
    this.perMinuteSince = db.prepare('SELECT found_at / 60000 AS minute, count(*) FROM captures WHERE found_at >= ? GROUP BY minute').raw();
  }

  private filterId(name: string, create: boolean): number | undefined {
    const cached = this.filterIds.get(name);
    if (cached !== undefined) return cached;
    if (create) this.insertFilterName.run(name);
    const id = this.selectFilterId.get(name) as number | undefined;
    if (id !== undefined) this.filterIds.set(name, id);
    return id;
  }

  /** Stores a batch in one transaction: each capture, its filter listings and its outbox rows. */
  insertMany(batch: readonly NewCapture[], now: number = Date.now()): number[] {
    try {
      // IMMEDIATE: the write lock is taken at BEGIN, so max(id) cannot change before the inserts
      // (insertRows assigns the ids itself, as SQLite would: max + 1, in batch order).
      return this.insertTransaction.immediate(batch, now);
    } catch (err) {
      // Filter ids created inside the rolled-back transaction no longer exist.
      this.filterIds.clear();
      throw err;
    }
  }

  /** Runs inside the transaction: captures, listings and outbox rows, ROWS_PER_INSERT captures at a time. */
  private insertRows(batch: readonly NewCapture[], now: number): number[] {
    let id = (this.maxCaptureId.get() as number | null) ?? 0;
    const ids: number[] = new Array<number>(batch.length);
    for (let start = 0; start < batch.length; start += ROWS_PER_INSERT) {
      const end = Math.min(batch.length, start + ROWS_PER_INSERT);
      const v: unknown[] = new Array<unknown>((end - start) * CAPTURE_VALUES);
      const listings: unknown[] = [];
      let notify = false;
      let p = 0;
      for (let i = start; i < end; i++) {
        const c = batch[i] as NewCapture;
        const r = c.report;
        ids[i] = ++id;
        v[p++] = id;
        v[p++] = c.foundAt;
        v[p++] = c.ip;
        v[p++] = c.port;
        v[p++] = c.infohash;
        v[p++] = c.countryCode ?? null;
        v[p++] = c.city ?? null;
        v[p++] = c.isp ?? null;
        if (r) {
          v[p++] = r.date;
          v[p++] = r.totalPiecesInTorrent;
          v[p++] = r.hasPieces;
          v[p++] = r.hasTotal ? 1 : 0;
          v[p++] = r.clientName;
          v[p++] = r.hostIdentifier;
          v[p++] = null;
        } else {
          v[p++] = null;
          v[p++] = null;
          v[p++] = null;
          v[p++] = null;
          v[p++] = null;
          v[p++] = null;
          v[p++] = c.error ?? 'unknown error';
        }
        v[p++] = c.pcapPath ?? null;
        v[p++] = r?.note ?? null;
        v[p++] = c.transport ?? null;
        const success = r ? 1 : 0;
        for (const f of c.filters) listings.push(this.filterId(f, true), success, c.foundAt, id);
        if (c.notify !== undefined && c.notify.length > 0) notify = true;
      }
      this.insertCaptures.run(v);
      this.insertListings.run(listings);
      if (notify) {
        for (let i = start; i < end; i++) {
          for (const n of (batch[i] as NewCapture).notify ?? []) this.insertOutbox.run(ids[i], n.filter, n.target, now);
        }
      }
    }
    this.rollups.add(batch, now);
    return ids;
  }

  private statements(success: boolean | undefined): { page: Statement; more: Statement } {
    const key = success === undefined ? 0 : success ? 2 : 1;
    let s = this.pageStmts[key];
    if (!s) {
      const from = 'FROM capture_filters f JOIN captures c ON c.id = f.capture_id';
      const range = 'f.filter_id = @fid AND f.found_at >= @from AND f.found_at < @to';
      if (success === undefined) {
        // Both success values, merged in key order by SQLite: two range scans, no sort.
        s = {
          page: this.db
            .prepare(
              `SELECT ${ROW_COLUMNS} ${from} WHERE ${range} AND f.success = 0
               UNION ALL
               SELECT ${ROW_COLUMNS} ${from} WHERE ${range} AND f.success = 1
               ORDER BY 2, 1 LIMIT @limit`,
            )
            .raw(),
          more: this.db
            .prepare(`SELECT 1 FROM capture_filters f WHERE ${range} AND f.success IN (0, 1) LIMIT 1`)
            .pluck(),
        };
      } else {
        const cond = `f.success = ${success ? 1 : 0}`;
        s = {
          page: this.db
            .prepare(`SELECT ${ROW_COLUMNS} ${from} WHERE ${range} AND ${cond} ORDER BY f.found_at, f.capture_id LIMIT @limit`)
            .raw(),
          more: this.db.prepare(`SELECT 1 FROM capture_filters f WHERE ${range} AND ${cond} LIMIT 1`).pluck(),
        };
      }
      this.pageStmts[key] = s;
    }
    return s;
  }

  /**
   * One page of a filter's peers in [from, to), in found order. A page never splits a millisecond:
   * it ends before the first millisecond that does not fit, or, when one millisecond alone holds more
   * than a page, it holds all of that millisecond. Following `to` while `hasMore` returns every row once.
   */
  page(q: PeerPageQuery): PeerPage {
    const fid = this.filterId(q.filter, false);
    if (fid === undefined || q.from >= q.to) return { from: q.from, to: q.to, hasMore: false, peers: [] };
    const s = this.statements(q.success);
    const rows = s.page.all({ fid, from: q.from, to: q.to, limit: q.pageSize + 1 }) as CaptureRow[];
    if (rows.length <= q.pageSize) return { from: q.from, to: q.to, hasMore: false, peers: rows };

    const boundary = (rows[q.pageSize] as CaptureRow)[1];
    const first = (rows[0] as CaptureRow)[1];
    if (boundary > first) {
      // Rows are in found order: drop the tail that shares the boundary's millisecond.
      let keep = q.pageSize;
      while ((rows[keep - 1] as CaptureRow)[1] === boundary) keep--;
      rows.length = keep;
      return { from: q.from, to: boundary, hasMore: true, peers: rows };
    }
    // More rows than a page share the first millisecond: return that millisecond whole.
    const end = first + 1;
    const all = s.page.all({ fid, from: first, to: end, limit: -1 }) as CaptureRow[];
    const hasMore = end < q.to && s.more.get({ fid, from: end, to: q.to }) !== undefined;
    return { from: q.from, to: hasMore ? end : q.to, hasMore, peers: all };
  }

  /**
   * EXPLAIN QUERY PLAN of the statements page() runs (the page itself, and "any row left"), one line
   * per step; for tests and the benchmark, which check that both stay index range scans without a sort.
   */
  explainPage(success: boolean | undefined): { page: string[]; more: string[] } {
    const s = this.statements(success);
    const params = { fid: 1, from: 0, to: 1, limit: 1001 };
    const plan = (stmt: Statement): string[] =>
      (this.db.prepare(`EXPLAIN QUERY PLAN ${stmt.source}`).all(params) as Array<{ detail: string }>).map((r) => r.detail);
    return { page: plan(s.page), more: plan(s.more) };
  }

  /** EXPLAIN QUERY PLAN of filtersOf and isListedUnder (probes of the listing key, no scan). */
  explainFiltersOf(): string[] {
    return [this.filtersOfStmt, this.listedUnder].flatMap((stmt) =>
      (this.db.prepare(`EXPLAIN QUERY PLAN ${stmt.source}`).all(stmt === this.listedUnder ? [1, 1] : [1]) as Array<{ detail: string }>).map(
        (r) => r.detail,
      ),
    );
  }

  get(id: number): CaptureRecord | undefined {
    const row = this.byId.get(id) as CaptureRow | undefined;
    return row ? captureRowToRecord(row) : undefined;
  }

  /** Whether capture `id` is listed under `filter`. */
  isListedUnder(id: number, filter: string): boolean {
    const fid = this.filterId(filter, false);
    if (fid === undefined) return false;
    return this.listedUnder.get(id, fid) !== undefined;
  }

  /** Filters capture `id` is listed under. */
  filtersOf(id: number): string[] {
    return this.filtersOfStmt.all(id) as string[];
  }

  /**
   * Unlinks (pcap_path = NULL) the pcaps of up to `limit` captures found before `cutoff`, oldest
   * first (the partial index captures_with_pcap holds only linked rows). Returns how many.
   */
  forgetPcapsFoundBefore(cutoff: number, limit: number): number {
    return this.forgetPcaps.run(cutoff, limit).changes;
  }

  /** Captures found since `ms`, per minute (epoch ms / 60,000): seeds a RecentCaptureCounter. */
  countPerMinuteSince(ms: number): Array<[number, number]> {
    return this.perMinuteSince.all(ms) as Array<[number, number]>;
  }
}
