import type { Statement } from 'better-sqlite3';
import type { CaptureRecord, NewCapture } from '../model/capture.js';
import type { Db } from './open-database.js';

export interface PeerPageQuery {
  filter: string;
  from: number;
  /** Exclusive. */
  to: number;
  success?: boolean | undefined;
  pageSize: number;
}

export interface PeerPage {
  from: number;
  /** The real end of this page (exclusive); equals the requested `to` when hasMore is false. */
  to: number;
  hasMore: boolean;
  peers: CaptureRecord[];
}

interface CaptureRow {
  id: number;
  found_at: number;
  ip: string;
  port: number;
  infohash: string;
  country_code: string | null;
  city: string | null;
  isp: string | null;
  report_at: number | null;
  total_pieces: number | null;
  has_pieces: number | null;
  has_total: number | null;
  client_name: string | null;
  host_identifier: string | null;
  error: string | null;
  pcap_path: string | null;
}

const COLUMNS = `c.id, c.found_at, c.ip, c.port, c.infohash, c.country_code, c.city, c.isp, c.report_at,
  c.total_pieces, c.has_pieces, c.has_total, c.client_name, c.host_identifier, c.error, c.pcap_path`;

function toRecord(r: CaptureRow): CaptureRecord {
  const rec: CaptureRecord = { id: r.id, foundAt: r.found_at, ip: r.ip, port: r.port, infohash: r.infohash };
  if (r.country_code !== null) rec.countryCode = r.country_code;
  if (r.city !== null) rec.city = r.city;
  if (r.isp !== null) rec.isp = r.isp;
  if (r.report_at !== null) {
    rec.report = {
      date: r.report_at,
      totalPiecesInTorrent: r.total_pieces ?? 0,
      hasPieces: r.has_pieces ?? 0,
      hasTotal: r.has_total === 1,
      clientName: r.client_name ?? '',
      hostIdentifier: r.host_identifier ?? '',
    };
  }
  if (r.error !== null) rec.error = r.error;
  if (r.pcap_path !== null) rec.pcapPath = r.pcap_path;
  return rec;
}

/** Captures and their listing under filters. The only writer is the capture pipeline's batch writer. */
export class SqliteCaptureRepository {
  private readonly filterIds = new Map<string, number>();
  private readonly insertCapture: Statement;
  private readonly insertListing: Statement;
  private readonly insertOutbox: Statement;
  private readonly insertFilterName: Statement;
  private readonly selectFilterId: Statement;
  private readonly pageStmts = new Map<string, { page: Statement; ms: Statement; more: Statement }>();
  private readonly byId: Statement;
  private readonly countSince: Statement;

  constructor(private readonly db: Db) {
    this.insertCapture = db.prepare(`INSERT INTO captures (found_at, ip, port, infohash, country_code, city, isp,
      report_at, total_pieces, has_pieces, has_total, client_name, host_identifier, error, pcap_path)
      VALUES (@foundAt, @ip, @port, @infohash, @countryCode, @city, @isp, @reportAt, @totalPieces, @hasPieces,
      @hasTotal, @clientName, @hostIdentifier, @error, @pcapPath)`);
    this.insertListing = db.prepare(
      'INSERT OR IGNORE INTO capture_filters (filter_id, found_at, capture_id, success) VALUES (?, ?, ?, ?)',
    );
    this.insertOutbox = db.prepare(
      'INSERT INTO outbox (capture_id, filter, target, created_at) VALUES (?, ?, ?, ?)',
    );
    this.insertFilterName = db.prepare('INSERT OR IGNORE INTO filter_names (name) VALUES (?)');
    this.selectFilterId = db.prepare('SELECT id FROM filter_names WHERE name = ?').pluck();
    this.byId = db.prepare(`SELECT ${COLUMNS} FROM captures c WHERE c.id = ?`);
    this.countSince = db.prepare('SELECT count(*) FROM captures WHERE found_at >= ?').pluck();
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
      return this.insertTransaction(batch, now);
    } catch (err) {
      // Filter ids created inside the rolled-back transaction no longer exist.
      this.filterIds.clear();
      throw err;
    }
  }

  private insertTransaction(batch: readonly NewCapture[], now: number): number[] {
    return this.db.transaction(() => {
      const ids: number[] = [];
      for (const c of batch) {
        const r = c.report;
        const id = Number(
          this.insertCapture.run({
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
        for (const f of c.filters) {
          this.insertListing.run(this.filterId(f, true), c.foundAt, id, r ? 1 : 0);
        }
        for (const n of c.notify ?? []) this.insertOutbox.run(id, n.filter, n.target, now);
        ids.push(id);
      }
      return ids;
    })();
  }

  private statements(success: boolean | undefined): { page: Statement; ms: Statement; more: Statement } {
    const key = String(success);
    let s = this.pageStmts.get(key);
    if (!s) {
      const cond = success === undefined ? '' : ' AND f.success = @success';
      const join = `FROM capture_filters f JOIN captures c ON c.id = f.capture_id`;
      s = {
        page: this.db.prepare(`SELECT ${COLUMNS} ${join} WHERE f.filter_id = @fid${cond}
          AND f.found_at >= @from AND f.found_at < @to ORDER BY f.found_at, f.capture_id LIMIT @limit`),
        ms: this.db.prepare(`SELECT ${COLUMNS} ${join} WHERE f.filter_id = @fid${cond}
          AND f.found_at = @at ORDER BY f.capture_id`),
        more: this.db
          .prepare(`SELECT 1 FROM capture_filters f WHERE f.filter_id = @fid${cond}
          AND f.found_at >= @from AND f.found_at < @to LIMIT 1`)
          .pluck(),
      };
      this.pageStmts.set(key, s);
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
    const base: Record<string, number> = { fid };
    if (q.success !== undefined) base.success = q.success ? 1 : 0;
    const rows = s.page.all({ ...base, from: q.from, to: q.to, limit: q.pageSize + 1 }) as CaptureRow[];
    if (rows.length <= q.pageSize) return { from: q.from, to: q.to, hasMore: false, peers: rows.map(toRecord) };

    const boundary = (rows[q.pageSize] as CaptureRow).found_at;
    const first = (rows[0] as CaptureRow).found_at;
    if (boundary > first) {
      const kept = rows.filter((r) => r.found_at < boundary);
      return { from: q.from, to: boundary, hasMore: true, peers: kept.map(toRecord) };
    }
    // More rows than a page share the first millisecond: return that millisecond whole.
    const all = s.ms.all({ ...base, at: first }) as CaptureRow[];
    const end = first + 1;
    const hasMore = end < q.to && s.more.get({ ...base, from: end, to: q.to }) !== undefined;
    return { from: q.from, to: hasMore ? end : q.to, hasMore, peers: all.map(toRecord) };
  }

  get(id: number): CaptureRecord | undefined {
    const row = this.byId.get(id) as CaptureRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Whether capture `id` is listed under `filter`. */
  isListedUnder(id: number, filter: string): boolean {
    const fid = this.filterId(filter, false);
    if (fid === undefined) return false;
    return this.db.prepare('SELECT 1 FROM capture_filters WHERE capture_id = ? AND filter_id = ?').get(id, fid) !== undefined;
  }

  /** Filters capture `id` is listed under. */
  filtersOf(id: number): string[] {
    return this.db
      .prepare('SELECT n.name FROM capture_filters f JOIN filter_names n ON n.id = f.filter_id WHERE f.capture_id = ?')
      .pluck()
      .all(id) as string[];
  }

  countFoundSince(ms: number): number {
    return this.countSince.get(ms) as number;
  }
}
