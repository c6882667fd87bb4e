import type { CaptureRecord, CaptureTransport, NewCapture } from '../../model/capture.js';
import { AppError } from '../../util/app-error.js';
import { captureRowToRecord, type CaptureRow, type PeerPage, type PeerPageQuery } from '../capture-repository.js';
import { copyChunks, CopyIn, CopyWriter } from './pg-copy.js';
import { isNoPartitionError, type PgPartitions } from './pg-partitions.js';
import { inTransaction, type PgClient, type PgPool } from './pg-pool.js';

/** A capture as a crawler forwards it: `uid` is its stable id (the same on every redelivery). */
export type StableCapture = NewCapture & { uid: string; crawlerId?: string };

export interface IngestResult {
  /** Captures stored by this call. */
  inserted: number;
  /** Captures already stored before (same uid and found time): skipped. */
  duplicates: number;
}

const CAPTURE_COLUMNS = `id, found_at, uid, crawler_id, ip, port, infohash, country_code, city, isp,
  report_at, total_pieces, has_pieces, has_total, client_name, host_identifier, error, pcap_path, note, transport`;
const LISTING_COLUMNS = 'filter_id, success, found_at, capture_id';

/** The CaptureRow columns of captures `c` joined to listing keys `k` (found_at, capture_id); no transport (the peers page does not show it: one column less to read per row). */
const ROW_COLUMNS = `k.capture_id, k.found_at, c.ip, c.port, c.infohash, c.country_code, c.city, c.isp, c.report_at,
  c.total_pieces, c.has_pieces, c.has_total, c.client_name, c.host_identifier, c.error, c.pcap_path, c.note`;
const BY_ID_COLUMNS = `id, found_at, ip, port, infohash, country_code, city, isp, report_at,
  total_pieces, has_pieces, has_total, client_name, host_identifier, error, pcap_path, note, transport`;

/** The transports the column holds (the SQLite column's CHECK); anything else is stored as NULL. */
const TRANSPORTS: ReadonlySet<string> = new Set<CaptureTransport>(['tcp', 'tcp+mse', 'utp']);

/** One capture as a COPY text row (CAPTURE_COLUMNS order). */
function writeCapture(w: CopyWriter, id: number, c: NewCapture, uid: string | null, crawlerId: string | null): void {
  const r = c.report;
  w.int(id).int(c.foundAt).text(uid).text(crawlerId).text(c.ip).int(c.port).text(c.infohash).text(c.countryCode).text(c.city).text(c.isp);
  if (r) w.int(r.date).int(r.totalPiecesInTorrent).int(r.hasPieces).int(r.hasTotal ? 1 : 0).text(r.clientName).text(r.hostIdentifier).nul();
  else w.nul().nul().nul().nul().nul().nul().text(c.error ?? 'unknown error');
  w.text(c.pcapPath).text(r?.note).text(c.transport !== undefined && TRANSPORTS.has(c.transport) ? c.transport : null).endRow();
}

/** `n` ids from the sequence as runs "first last count" (see PgCaptureRepository.nextIds). */
function idsSql(n: number): string {
  if (!Number.isSafeInteger(n) || n < 1) throw new AppError('INTERNAL', `cannot draw ${n} capture ids`);
  return `SELECT string_agg(lo || ' ' || hi || ' ' || n, ',' ORDER BY lo) AS runs FROM (
      SELECT min(v) AS lo, max(v) AS hi, count(*) AS n FROM (
        SELECT v - i AS g, v FROM (SELECT nextval('captures_id_seq') AS v, i FROM generate_series(1, ${n}) i) s0) s
      GROUP BY g) t`;
}

/** Two ordered range scans of the listing key (success false, then true) merged: the keys of one page. */
function pageSql(success: boolean | undefined): string {
  const range = 'filter_id = $1 AND found_at >= $2 AND found_at < $3';
  const keys = (s: boolean): string =>
    `SELECT found_at, capture_id FROM capture_filters WHERE ${range} AND success = ${s} ORDER BY found_at, capture_id LIMIT $4`;
  const k = success === undefined ? `(${keys(false)}) UNION ALL (${keys(true)}) ORDER BY found_at, capture_id LIMIT $4` : keys(success);
  return `WITH k AS MATERIALIZED (${k})
    SELECT ${ROW_COLUMNS} FROM k JOIN captures c ON c.id = k.capture_id AND c.found_at = k.found_at
    ORDER BY k.found_at, k.capture_id`;
}

function moreSql(success: boolean | undefined): string {
  const cond = success === undefined ? 'success IN (false, true)' : `success = ${success}`;
  return `SELECT 1 FROM capture_filters WHERE filter_id = $1 AND ${cond} AND found_at >= $2 AND found_at < $3 LIMIT 1`;
}

function successKey(success: boolean | undefined): 'any' | 'false' | 'true' {
  return success === undefined ? 'any' : success ? 'true' : 'false';
}

/**
 * Captures and their listings in PostgreSQL: the same contract as SqliteCaptureRepository (ids,
 * pages that never split a millisecond), with monthly partitions and COPY for bulk writes.
 * Ids come from a sequence: increasing in batch order, but a failed batch leaves a gap.
 */
export class PgCaptureRepository {
  private readonly filterIds = new Map<string, number>();
  /** Ingest batches stored by the direct COPY, and those that met a stored uid (staging path). */
  readonly counters = { fastBatches: 0, stagedBatches: 0 };

  constructor(
    private readonly pool: PgPool,
    private readonly partitions: PgPartitions,
  ) {}

  /** Ids of filter names, created when new (outside any batch transaction: a name is harmless). */
  private async filterIdsOf(names: Iterable<string>, create: boolean): Promise<Map<string, number>> {
    const missing = [...new Set(names)].filter((n) => !this.filterIds.has(n));
    if (missing.length > 0) {
      if (create) await this.pool.query('INSERT INTO filter_names (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING', [missing]);
      const res = await this.pool.query<{ id: number; name: string }>('SELECT id, name FROM filter_names WHERE name = ANY($1)', [missing]);
      for (const r of res.rows) this.filterIds.set(r.name, r.id);
    }
    return this.filterIds;
  }

  /** Retries once when a partition this process thought existed was dropped meanwhile. */
  private async withPartitions<T>(foundAt: Iterable<number>, fn: () => Promise<T>): Promise<T> {
    await this.partitions.ensureFor(foundAt);
    try {
      return await fn();
    } catch (err) {
      if (!isNoPartitionError(err)) throw err;
      this.partitions.forget();
      await this.partitions.ensureFor(foundAt);
      return fn();
    }
  }

  /**
   * `n` ids from the sequence, ascending. The server answers with the runs of consecutive ids
   * ("first last count", a few at most: other writers may draw from the sequence at the same time),
   * not n numbers: sorting and printing 10,000 ids cost ~13 ms of server CPU, the runs ~7 ms.
   * Within one statement a backend's nextval calls ascend with generate_series, so each run is
   * checked to be whole (last - first + 1 = count); a run that is not fails the batch (nothing stored).
   */
  private static async nextIds(client: PgClient, n: number): Promise<number[]> {
    const res = await client.query<{ runs: string | null }>(idsSql(n));
    return PgCaptureRepository.idsOfRuns(res.rows[0]?.runs ?? '', n);
  }

  /** The ids of "first last count" runs (comma-separated); throws unless they are n whole runs. */
  static idsOfRuns(runs: string, n: number): number[] {
    const ids: number[] = [];
    for (const run of runs === '' ? [] : runs.split(',')) {
      const [lo, hi, count] = run.split(' ').map(Number) as [number, number, number];
      if (hi - lo + 1 !== count) throw new AppError('INTERNAL', `capture ids from the sequence are not a whole run (${run})`);
      for (let id = lo; id <= hi; id++) ids.push(id);
    }
    if (ids.length !== n) throw new AppError('INTERNAL', `asked the sequence for ${n} capture ids, got ${ids.length}`);
    return ids;
  }

  /** The listing rows of a batch (LISTING_COLUMNS order): one per distinct filter of each capture. */
  private static writeListings(w: CopyWriter, batch: readonly NewCapture[], ids: readonly number[], fids: Map<string, number>): void {
    for (let i = 0; i < batch.length; i++) {
      const c = batch[i] as NewCapture;
      const success = c.report !== undefined;
      const filters = c.filters;
      for (let j = 0; j < filters.length; j++) {
        const name = filters[j] as string;
        if (filters.indexOf(name) !== j) continue; // listed once per filter
        w.int(fids.get(name) as number).bool(success).int(c.foundAt).int(ids[i] as number).endRow();
      }
    }
  }

  /**
   * The captures and listings of a batch as two COPYs started at once on `client` (see CopyIn: rows
   * go to the server while the next ones are encoded, the listings' COPY follows the captures').
   * Returns the chunks of both (for a retry) and a promise of the outcome: it rejects with the first
   * COPY's error (a failed first COPY fails the second one too: the transaction is aborted).
   */
  private static copyBatch(
    client: PgClient,
    batch: readonly NewCapture[],
    ids: readonly number[],
    fids: Map<string, number>,
    stable?: ReadonlyArray<{ uid: string; crawlerId: string | null }>,
  ): { captureRows: Buffer[]; listingRows: Buffer[]; done: Promise<void> } {
    const captures = new CopyIn(client, `captures (${CAPTURE_COLUMNS})`);
    const listings = new CopyIn(client, `capture_filters (${LISTING_COLUMNS})`);
    let captureRows: Buffer[];
    let listingRows: Buffer[];
    try {
      const w = captures.writer;
      for (let i = 0; i < batch.length; i++) {
        const s = stable?.[i];
        writeCapture(w, ids[i] as number, batch[i] as NewCapture, s?.uid ?? null, s?.crawlerId ?? null);
      }
      captureRows = captures.end();
      PgCaptureRepository.writeListings(listings.writer, batch, ids, fids);
      listingRows = listings.end();
    } catch (err) {
      captures.fail(err as Error);
      listings.fail(err as Error);
      throw err;
    }
    const done = Promise.allSettled([captures.done(), listings.done()]).then(([c, l]) => {
      if (c.status === 'rejected') throw c.reason;
      if (l.status === 'rejected') throw l.reason;
    });
    return { captureRows, listingRows, done };
  }

  /**
   * Stores a batch in one transaction (COPY of captures and listings); returns the ids in batch
   * order. The PostgreSQL store keeps no notification outbox, so a capture asking for a
   * notification is refused rather than silently not notified.
   */
  async insertMany(batch: readonly NewCapture[], now: number = Date.now()): Promise<number[]> {
    void now;
    if (batch.length === 0) return [];
    if (batch.some((c) => (c.notify?.length ?? 0) > 0)) {
      throw new AppError('UNSUPPORTED', 'the PostgreSQL store keeps no notification outbox: a capture cannot ask for notifications there');
    }
    const fids = await this.filterIdsOf(batch.flatMap((c) => c.filters), true);
    return this.withPartitions(
      batch.map((c) => c.foundAt),
      () =>
        inTransaction(this.pool, async (client) => {
          const ids = await PgCaptureRepository.nextIds(client, batch.length);
          await PgCaptureRepository.copyBatch(client, batch, ids, fids).done;
          return ids;
        }),
    );
  }

  /**
   * Idempotent bulk ingest. First a COPY straight into the tables (the usual case: nothing of the
   * batch stored yet); if a uid is already stored, the unique index refuses it, that transaction is
   * rolled back and the batch goes again through session-local staging tables: INSERT … ON CONFLICT DO NOTHING on
   * (found_at, uid), listings only for the captures actually inserted. A batch (or part
   * of one) delivered again is skipped, also when two ingesters receive it at once.
   */
  async ingestCaptures(batch: readonly StableCapture[]): Promise<IngestResult> {
    return this.ingestForwarded(batch.map((c) => ({ uid: c.uid, crawlerId: c.crawlerId ?? null, capture: c })));
  }

  /** ingestCaptures for captures as the cluster forwards them (no copy of each capture object). */
  async ingestForwarded(batch: ReadonlyArray<{ uid: string; crawlerId: string | null; capture: NewCapture }>): Promise<IngestResult> {
    if (batch.length === 0) return { inserted: 0, duplicates: 0 };
    // Key order (found_at, uid), so two ingesters given overlapping batches wait for each other
    // instead of deadlocking; then a capture repeated within the batch (same key) is kept once (the
    // first: the sort is stable). Cheaper than a Set of the uids, and the same key as the table's.
    const sorted = batch.slice().sort((a, b) => a.capture.foundAt - b.capture.foundAt || (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
    const unique = sorted.filter((f, i) => i === 0 || f.uid !== (sorted[i - 1] as (typeof sorted)[number]).uid || f.capture.foundAt !== (sorted[i - 1] as (typeof sorted)[number]).capture.foundAt);
    const captures = unique.map((f) => f.capture);
    const fids = await this.filterIdsOf(captures.flatMap((c) => c.filters), true);
    const inserted = await this.withPartitions(
      captures.map((c) => c.foundAt),
      () => this.ingestSorted(unique, fids),
    );
    return { inserted, duplicates: batch.length - inserted };
  }

  /**
   * One attempt at storing `unique` (distinct uids, in key order). Fast path, the usual case (no
   * redelivery): one transaction, COPY straight into the tables. A uid already stored fails the
   * unique index (23505): that transaction is rolled back whole (no savepoint: a subtransaction
   * would stamp every row with its own xid, which readers then resolve through pg_subtrans) and a
   * second one takes the staging path. Four round trips on the fast path: BEGIN with the ids, two
   * COPYs (started together, their rows sent while the next ones are encoded: copyBatch), COMMIT.
   */
  private async ingestSorted(unique: ReadonlyArray<{ uid: string; crawlerId: string | null; capture: NewCapture }>, fids: Map<string, number>): Promise<number> {
    const client = await this.pool.connect();
    let inTx = false;
    try {
      inTx = true;
      const begun = (await client.query(`BEGIN; ${idsSql(unique.length)}`)) as unknown as Array<{ rows: Array<{ runs: string | null }> }>;
      const ids = PgCaptureRepository.idsOfRuns(begun[1]?.rows[0]?.runs ?? '', unique.length);
      const captures = unique.map((f) => f.capture);
      const { captureRows, listingRows, done } = PgCaptureRepository.copyBatch(client, captures, ids, fids, unique);
      try {
        await done;
        await client.query('COMMIT');
        inTx = false;
        this.counters.fastBatches++;
        return unique.length;
      } catch (err) {
        if ((err as { code?: string }).code !== '23505') throw err;
        await client.query('ROLLBACK');
        inTx = false;
      }
      this.counters.stagedBatches++;
      inTx = true;
      await client.query(`BEGIN;
        CREATE TEMP TABLE IF NOT EXISTS stage_captures (LIKE captures) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE IF NOT EXISTS stage_filters (LIKE capture_filters) ON COMMIT DELETE ROWS`);
      await copyChunks(client, `stage_captures (${CAPTURE_COLUMNS})`, captureRows);
      await copyChunks(client, `stage_filters (${LISTING_COLUMNS})`, listingRows);
      const res = await client.query<{ n: number }>(`WITH ins AS (
          INSERT INTO captures (${CAPTURE_COLUMNS})
          SELECT ${CAPTURE_COLUMNS} FROM stage_captures
          ON CONFLICT (found_at, uid) WHERE uid IS NOT NULL DO NOTHING RETURNING id, found_at),
        listed AS (
          INSERT INTO capture_filters (${LISTING_COLUMNS})
          SELECT s.filter_id, s.success, s.found_at, s.capture_id FROM stage_filters s JOIN ins ON ins.id = s.capture_id AND ins.found_at = s.found_at
          RETURNING 1)
        SELECT (SELECT count(*) FROM ins) AS n, (SELECT count(*) FROM listed) AS l`);
      await client.query('COMMIT');
      inTx = false;
      return res.rows[0]?.n ?? 0;
    } catch (err) {
      if (inTx) await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Same contract as SqliteCaptureRepository.page: a page never splits a millisecond. */
  async page(q: PeerPageQuery): Promise<PeerPage> {
    const fids = await this.filterIdsOf([q.filter], false);
    const fid = fids.get(q.filter);
    if (fid === undefined || q.from >= q.to) return { from: q.from, to: q.to, hasMore: false, peers: [] };
    const key = successKey(q.success);
    const run = async (from: number, to: number, limit: number | null): Promise<CaptureRow[]> =>
      (await this.pool.query<CaptureRow>({ name: `page-${key}`, text: pageSql(q.success), values: [fid, from, to, limit], rowMode: 'array' })).rows;
    const rows = await run(q.from, q.to, q.pageSize + 1);
    if (rows.length <= q.pageSize) return { from: q.from, to: q.to, hasMore: false, peers: rows };

    const boundary = (rows[q.pageSize] as CaptureRow)[1];
    const first = (rows[0] as CaptureRow)[1];
    if (boundary > first) {
      let keep = q.pageSize;
      while ((rows[keep - 1] as CaptureRow)[1] === boundary) keep--;
      rows.length = keep;
      return { from: q.from, to: boundary, hasMore: true, peers: rows };
    }
    const end = first + 1;
    const all = await run(first, end, null);
    let hasMore = false;
    if (end < q.to) {
      const more = await this.pool.query({ name: `more-${key}`, text: moreSql(q.success), values: [fid, end, q.to] });
      hasMore = (more.rowCount ?? 0) > 0;
    }
    return { from: q.from, to: hasMore ? end : q.to, hasMore, peers: all };
  }

  /** EXPLAIN of the page query (for tests and the benchmark: index scans, no sort of the listing). */
  async explainPage(success: boolean | undefined, filter: string, from: number, to: number, limit: number): Promise<string[]> {
    const fid = (await this.filterIdsOf([filter], false)).get(filter) ?? 0;
    const res = await this.pool.query<{ 'QUERY PLAN': string }>({ text: `EXPLAIN ${pageSql(success)}`, values: [fid, from, to, limit] });
    return res.rows.map((r) => r['QUERY PLAN']);
  }

  async get(id: number): Promise<CaptureRecord | undefined> {
    const res = await this.pool.query<CaptureRow>({ name: 'capture-by-id', text: `SELECT ${BY_ID_COLUMNS} FROM captures WHERE id = $1`, values: [id], rowMode: 'array' });
    const row = res.rows[0];
    return row ? captureRowToRecord(row) : undefined;
  }

  /** Filters capture `id` is listed under (in the order the names were first stored). */
  async filtersOf(id: number): Promise<string[]> {
    const res = await this.pool.query<{ name: string }>({
      name: 'capture-filters-of',
      text: `SELECT n.name FROM captures c CROSS JOIN filter_names n
        WHERE c.id = $1 AND EXISTS (SELECT 1 FROM capture_filters f WHERE f.filter_id = n.id
          AND f.success = (c.report_at IS NOT NULL) AND f.found_at = c.found_at AND f.capture_id = c.id)
        ORDER BY n.id`,
      values: [id],
    });
    return res.rows.map((r) => r.name);
  }

  async isListedUnder(id: number, filter: string): Promise<boolean> {
    const fid = (await this.filterIdsOf([filter], false)).get(filter);
    if (fid === undefined) return false;
    const res = await this.pool.query({
      text: `SELECT 1 FROM captures c JOIN capture_filters f ON f.filter_id = $2 AND f.success = (c.report_at IS NOT NULL)
        AND f.found_at = c.found_at AND f.capture_id = c.id WHERE c.id = $1`,
      values: [id, fid],
    });
    return (res.rowCount ?? 0) > 0;
  }

  /** Captures found since `ms`, per minute (epoch ms / 60,000). */
  async countPerMinuteSince(ms: number): Promise<Array<[number, number]>> {
    const res = await this.pool.query<[number, number]>({
      text: 'SELECT found_at / 60000 AS minute, count(*) FROM captures WHERE found_at >= $1 GROUP BY minute ORDER BY minute',
      values: [ms],
      rowMode: 'array',
    });
    return res.rows;
  }
}
