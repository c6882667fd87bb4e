import type { CentralIngestStore, ForwardedCapture, ForwardedSighting, IngestResult } from '../../cluster/ports.js';
import type { PgCaptureRepository } from './pg-capture-repository.js';
import type { PgPool } from './pg-pool.js';

/**
 * The ingest port on PostgreSQL. Captures: COPY into staging, INSERT … ON CONFLICT DO NOTHING on
 * (uid, found_at) (a uid is one capture, so one found time). Sightings: the uids go into
 * ingested_sightings first (ON CONFLICT DO NOTHING); only the new ones update `peers`, aggregated
 * per (ip, port, infohash) so one statement never touches a peer twice. One transaction per call.
 * Rows are written in key order (uid, then peer), so concurrent ingesters wait for each other
 * instead of deadlocking.
 */
export class PgCentralIngestStore implements CentralIngestStore {
  constructor(
    private readonly pool: PgPool,
    private readonly captures: PgCaptureRepository,
    private readonly now: () => number = Date.now,
  ) {}

  ingestCaptures(batch: readonly ForwardedCapture[]): Promise<IngestResult> {
    return this.captures.ingestForwarded(batch);
  }

  async ingestSightings(batch: readonly ForwardedSighting[]): Promise<IngestResult> {
    if (batch.length === 0) return { inserted: 0, duplicates: 0 };
    const res = await this.pool.query<{ n: number }>(
      `WITH s AS (
         SELECT DISTINCT ON (uid) uid, crawler_id, ip, port, infohash, seen_at
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bigint[])
           AS t(uid, crawler_id, ip, port, infohash, seen_at)
         ORDER BY uid),
       fresh AS (
         INSERT INTO ingested_sightings (uid, crawler_id, ingested_at) SELECT uid, crawler_id, $7 FROM s
         ON CONFLICT (uid) DO NOTHING RETURNING uid),
       agg AS (
         SELECT s.ip, s.port, s.infohash, min(s.seen_at) AS first_seen, max(s.seen_at) AS last_seen, count(*) AS n
         FROM s JOIN fresh USING (uid) GROUP BY s.ip, s.port, s.infohash),
       up AS (
         INSERT INTO peers (ip, port, infohash, first_seen, last_seen, seen_count)
         SELECT ip, port, infohash, first_seen, last_seen, n FROM agg ORDER BY ip, port, infohash
         ON CONFLICT (ip, port, infohash) DO UPDATE SET
           first_seen = least(peers.first_seen, excluded.first_seen), last_seen = greatest(peers.last_seen, excluded.last_seen),
           seen_count = peers.seen_count + excluded.seen_count
         RETURNING 1)
       SELECT (SELECT count(*) FROM fresh) AS n, (SELECT count(*) FROM up) AS u`,
      [
        batch.map((s) => s.uid),
        batch.map((s) => s.crawlerId),
        batch.map((s) => s.ip),
        batch.map((s) => s.port),
        batch.map((s) => s.infohash),
        batch.map((s) => s.seenAt),
        this.now(),
      ],
    );
    const inserted = res.rows[0]?.n ?? 0;
    return { inserted, duplicates: batch.length - inserted };
  }
}
