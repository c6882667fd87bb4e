import type { Statement, Transaction } from 'better-sqlite3';
import type { TorrentFileEntry } from '../protocol/metainfo.js';
import type { EvidenceStore, TorrentFiles } from '../spam/ports.js';
import type { Db } from './open-database.js';

type CaptureTally = [id: number, foundAt: number, ip: string, port: number, infohash: string, hasTotal: number | null, reportAt: number | null];
type TorrentRow = [infohash: string, state: string, name: string | null, files: string | null, updatedAt: number];

/**
 * What the spam list's evidence scanner reads from the capture side (captures, torrents) and its
 * own bookkeeping (spam_scan_cursors, spam_swarms, spam_swarm_peers, spam_evidence_fired). Every
 * read is bounded by a cursor and a limit.
 */
export class SqliteEvidenceRepository implements EvidenceStore {
  private readonly getCursor: Statement;
  private readonly setCursor: Statement;
  private readonly capturesAfter: Statement;
  private readonly upsertSwarm: Statement;
  private readonly swarmPeers: Statement;
  private readonly insertPeer: Statement;
  private readonly addPeer: Statement;
  private readonly torrentsAfter: Statement;
  private readonly withoutSeeder: Statement;
  private readonly missing: Statement;
  private readonly fire: Statement;
  private readonly fired: Statement;
  private readonly nameOf: Statement;
  private readonly tallyTx: Transaction<(limit: number, peerCap: number) => number>;

  constructor(db: Db) {
    this.getCursor = db.prepare('SELECT value FROM spam_scan_cursors WHERE name = ?').pluck();
    this.setCursor = db.prepare('INSERT INTO spam_scan_cursors (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value');
    this.capturesAfter = db
      .prepare('SELECT id, found_at, ip, port, infohash, has_total, report_at FROM captures WHERE id > ? ORDER BY id LIMIT ?')
      .raw();
    this.upsertSwarm = db.prepare(`INSERT INTO spam_swarms (infohash, peers, seeders, first_capture_at, last_capture_at)
      VALUES (@infohash, 0, @seeder, @at, @at)
      ON CONFLICT (infohash) DO UPDATE SET seeders = seeders + @seeder,
        first_capture_at = min(first_capture_at, @at), last_capture_at = max(last_capture_at, @at)`);
    this.swarmPeers = db.prepare('SELECT peers FROM spam_swarms WHERE infohash = ?').pluck();
    this.insertPeer = db.prepare('INSERT OR IGNORE INTO spam_swarm_peers (infohash, ip, port) VALUES (?, ?, ?)');
    this.addPeer = db.prepare('UPDATE spam_swarms SET peers = peers + 1 WHERE infohash = ?');
    this.torrentsAfter = db
      .prepare(
        `SELECT infohash, state, name, files, updated_at FROM torrents
         WHERE updated_at >= @at AND (updated_at > @at OR infohash > @ih) ORDER BY updated_at, infohash LIMIT @limit`,
      )
      .raw();
    this.withoutSeeder = db
      .prepare(
        `SELECT s.infohash, s.peers, s.first_capture_at FROM spam_swarms s
         WHERE s.seeders = 0 AND s.first_capture_at <= ? AND s.peers >= ?
           AND NOT EXISTS (SELECT 1 FROM spam_evidence_fired f WHERE f.infohash = s.infohash AND f.rule = 'no-seeder')
         LIMIT ?`,
      )
      .raw();
    this.missing = db
      .prepare(
        `SELECT t.infohash, coalesce(s.peers, 0), t.added_at FROM torrents t LEFT JOIN spam_swarms s ON s.infohash = t.infohash
         WHERE t.state = 'pending' AND t.added_at <= ? AND coalesce(s.peers, 0) >= ?
           AND NOT EXISTS (SELECT 1 FROM spam_evidence_fired f WHERE f.infohash = t.infohash AND f.rule = 'metadata-unobtainable')
         LIMIT ?`,
      )
      .raw();
    this.fire = db.prepare('INSERT OR IGNORE INTO spam_evidence_fired (infohash, rule, fired_at) VALUES (?, ?, ?)');
    this.fired = db.prepare('SELECT 1 FROM spam_evidence_fired WHERE infohash = ? AND rule = ?').pluck();
    this.nameOf = db.prepare("SELECT name FROM torrents WHERE infohash = ? AND state = 'known'").pluck();
    this.tallyTx = db.transaction((limit: number, peerCap: number) => this.tally(limit, peerCap));
  }

  tallyCaptures(limit: number, peerCap: number): number {
    return this.tallyTx.immediate(limit, peerCap);
  }

  private tally(limit: number, peerCap: number): number {
    const after = Number(this.getCursor.get('captures') ?? 0);
    const rows = this.capturesAfter.all(after, limit) as CaptureTally[];
    for (const [, foundAt, ip, port, infohash, hasTotal, reportAt] of rows) {
      if (reportAt === null) continue; // a failed capture is no evidence of a peer
      this.upsertSwarm.run({ infohash, seeder: hasTotal === 1 ? 1 : 0, at: foundAt });
      if ((this.swarmPeers.get(infohash) as number) < peerCap && this.insertPeer.run(infohash, ip, port).changes > 0) {
        this.addPeer.run(infohash);
      }
    }
    if (rows.length > 0) this.setCursor.run('captures', String((rows[rows.length - 1] as CaptureTally)[0]));
    return rows.length;
  }

  nextChangedTorrents(limit: number): TorrentFiles[] {
    const cursor = (this.getCursor.get('torrents') as string | undefined) ?? '-1 ';
    const space = cursor.indexOf(' ');
    const rows = this.torrentsAfter.all({ at: Number(cursor.slice(0, space)), ih: cursor.slice(space + 1), limit }) as TorrentRow[];
    if (rows.length === 0) return [];
    const last = rows[rows.length - 1] as TorrentRow;
    this.setCursor.run('torrents', `${last[4]} ${last[0]}`);
    return rows
      .filter((r) => r[1] === 'known')
      .map((r) => ({ infohash: r[0], name: r[2] ?? '', files: r[3] ? (JSON.parse(r[3]) as TorrentFileEntry[]) : [], updatedAt: r[4] }));
  }

  swarmsWithoutSeeder(minPeers: number, firstBeforeMs: number, limit: number): Array<{ infohash: string; peers: number; firstCaptureAt: number }> {
    return (this.withoutSeeder.all(firstBeforeMs, minPeers, limit) as Array<[string, number, number]>).map(([infohash, peers, firstCaptureAt]) => ({
      infohash,
      peers,
      firstCaptureAt,
    }));
  }

  metadataMissing(minPeers: number, addedBeforeMs: number, limit: number): Array<{ infohash: string; peers: number; addedAt: number }> {
    return (this.missing.all(addedBeforeMs, minPeers, limit) as Array<[string, number, number]>).map(([infohash, peers, addedAt]) => ({
      infohash,
      peers,
      addedAt,
    }));
  }

  markFired(infohash: string, rule: string, at: number): boolean {
    return this.fire.run(infohash, rule, at).changes > 0;
  }

  hasFired(infohash: string, rule: string): boolean {
    return this.fired.get(infohash, rule) !== undefined;
  }

  torrentName(infohash: string): string | undefined {
    return (this.nameOf.get(infohash) as string | null | undefined) ?? undefined;
  }
}
