import type { Statement } from 'better-sqlite3';
import type { BanRow, BtnSubmissionStore, HistoryRow, SwarmRow, WriteResult } from '../btn/ports.js';
import { isPackedSwarm, unpackSwarm, type PackedSwarm } from '../btn/swarm-pack.js';
import type { Db } from './open-database.js';

const TORRENT_CACHE_MAX = 200_000;
const SWARM_CHUNK = 50;
const SWARM_COLUMNS = `app, submit_id, downloader, torrent, peer_ip, peer_port, peer_id, peer_client_name, peer_progress,
  downloader_progress, from_peer_traffic, from_peer_traffic_offset, from_peer_speed, from_peer_speed_max, to_peer_traffic,
  to_peer_traffic_offset, to_peer_speed, to_peer_speed_max, flags, first_seen, last_seen, received_at`;
const SWARM_ROW = `(${new Array<string>(22).fill('?').join(',')})`;

/**
 * What BTN clients submit. Each batch is one transaction. A resent batch changes nothing: bans are
 * keyed (app, ban_at, ip, port, torrent, module); swarm rows on spec §3.2's key take newer data only
 * (a later last_seen); histories likewise on (app, torrent, ip, peer id, first seen).
 */
export class SqliteBtnSubmissionRepository implements BtnSubmissionStore {
  private readonly torrentIds = new Map<string, number>();
  /** Inside group(): torrent ids of the group's transaction, cached once it commits. */
  private groupFresh: Map<string, number> | undefined;
  private readonly upsertTorrent: Statement;
  private readonly swarmInserts = new Map<number, Statement>();
  private readonly updateSwarm: Statement;
  private readonly insertBan: Statement;
  private readonly insertHistory: Statement;
  private readonly updateHistory: Statement;
  private readonly heartbeat: Statement;
  private readonly discovery: Statement;
  private readonly addCount: Statement;
  private readonly ageStmts: { swarm: Statement; bans: Statement; histories: Statement; heartbeats: Statement };

  constructor(private readonly db: Db) {
    this.upsertTorrent = db
      .prepare(
        `INSERT INTO btn_torrents (identifier, size, private) VALUES (?, ?, ?)
         ON CONFLICT (identifier) DO UPDATE SET size = CASE WHEN excluded.size > 0 THEN excluded.size ELSE size END,
           private = max(private, excluded.private)
         RETURNING id`,
      )
      .pluck();
    this.updateSwarm = db.prepare(`UPDATE btn_swarm SET submit_id = @submitId, peer_id = @peerId, peer_client_name = @peerClientName,
      peer_progress = @peerProgress, downloader_progress = @downloaderProgress, from_peer_traffic = @fromPeerTraffic,
      from_peer_traffic_offset = @fromPeerTrafficOffset, from_peer_speed = @fromPeerSpeed,
      from_peer_speed_max = max(from_peer_speed_max, @fromPeerSpeedMax), to_peer_traffic = @toPeerTraffic,
      to_peer_traffic_offset = @toPeerTrafficOffset, to_peer_speed = @toPeerSpeed, to_peer_speed_max = max(to_peer_speed_max, @toPeerSpeedMax),
      flags = @flags, first_seen = min(first_seen, @firstSeen), last_seen = @lastSeen, received_at = @now
      WHERE app = @app AND downloader = @downloader AND torrent = @torrent AND peer_ip = @peerIp AND peer_port = @peerPort
        AND last_seen < @lastSeen`);
    this.insertBan = db.prepare(`INSERT OR IGNORE INTO btn_bans (app, submit_id, ban_at, peer_ip, peer_port, peer_id, peer_client_name,
      peer_progress, peer_flag, torrent, from_peer_traffic, to_peer_traffic, downloader_progress, module, rule, description,
      structured_data, btn_ban, ban_unique_id, received_at) VALUES (@app, @submitId, @banAt, @peerIp, @peerPort, @peerId,
      @peerClientName, @peerProgress, @peerFlag, @torrent, @fromPeerTraffic, @toPeerTraffic, @downloaderProgress, @module, @rule,
      @description, @structuredData, @btnBan, @banUniqueId, @now)`);
    this.insertHistory = db.prepare(`INSERT OR IGNORE INTO btn_histories (app, torrent, peer_ip, peer_id, peer_client_name, downloaded,
      downloaded_offset, uploaded, uploaded_offset, first_seen, last_seen, peer_flag, received_at) VALUES (@app, @torrent, @peerIp,
      @peerId, @peerClientName, @downloaded, @downloadedOffset, @uploaded, @uploadedOffset, @firstSeen, @lastSeen, @peerFlag, @now)`);
    this.updateHistory = db.prepare(`UPDATE btn_histories SET peer_client_name = @peerClientName, downloaded = @downloaded,
      downloaded_offset = @downloadedOffset, uploaded = @uploaded, uploaded_offset = @uploadedOffset, last_seen = @lastSeen,
      peer_flag = @peerFlag, received_at = @now
      WHERE app = @app AND torrent = @torrent AND peer_ip = @peerIp AND peer_id = @peerId AND first_seen = @firstSeen
        AND last_seen < @lastSeen`);
    this.heartbeat = db.prepare(`INSERT INTO btn_heartbeats (app, ifaddr, external_ip, seen_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (app, ifaddr, external_ip) DO UPDATE SET seen_at = excluded.seen_at`);
    this.addCount = db.prepare('UPDATE btn_counts SET n = n + ? WHERE name = ?');
    this.discovery = db.prepare(`INSERT OR IGNORE INTO btn_client_discovery (client_name, peer_id, found_at, source, found_by_app)
      VALUES (?, ?, ?, 'btn', ?)`);
    // Oldest first along an index, so each batch reads only the rows it deletes (migration 15).
    this.ageStmts = {
      swarm: db.prepare('DELETE FROM btn_swarm WHERE id IN (SELECT id FROM btn_swarm WHERE received_at < ? ORDER BY received_at LIMIT ?)'),
      bans: db.prepare('DELETE FROM btn_bans WHERE id IN (SELECT id FROM btn_bans WHERE ban_at < ? ORDER BY ban_at LIMIT ?)'),
      histories: db.prepare('DELETE FROM btn_histories WHERE id IN (SELECT id FROM btn_histories WHERE received_at < ? ORDER BY received_at LIMIT ?)'),
      heartbeats: db.prepare(
        'DELETE FROM btn_heartbeats WHERE (app, ifaddr, external_ip) IN (SELECT app, ifaddr, external_ip FROM btn_heartbeats WHERE seen_at < ? LIMIT ?)',
      ),
    };
  }

  /**
   * Retention (retention.maxAgeDays.btnSubmissions): deletes at most `limit` rows older than `before`
   * (epoch ms) in one transaction: swarm rows and histories by when a client last sent them, bans by
   * their ban time, then heartbeats; keeps btn_counts exact. Returns the rows deleted.
   */
  deleteOlderThan(before: number, limit: number): number {
    return this.db.transaction(() => {
      let left = limit;
      for (const table of ['swarm', 'bans', 'histories', 'heartbeats'] as const) {
        if (left <= 0) break;
        const n = this.ageStmts[table].run(before, left).changes;
        if (n > 0 && (table === 'swarm' || table === 'bans')) this.addCount.run(-n, table);
        left -= n;
      }
      return limit - left;
    }).immediate();
  }

  /** The torrent's row id; new ids are cached only once their transaction committed. */
  private torrent(identifier: string, size: number, isPrivate: boolean, fresh: Map<string, number>): number {
    const cached = this.torrentIds.get(identifier) ?? fresh.get(identifier);
    if (cached !== undefined) return cached;
    const id = this.upsertTorrent.get(identifier, size, isPrivate ? 1 : 0) as number;
    fresh.set(identifier, id);
    return id;
  }

  /**
   * Runs `fn` (calls of this repository's put methods: each becomes a savepoint) in one
   * `BEGIN IMMEDIATE` transaction, so several batches share one commit. Throws, with nothing
   * written, when any of them throws.
   */
  group<T>(fn: () => T): T {
    if (this.groupFresh) throw new Error('group() inside group()');
    const fresh = new Map<string, number>();
    this.groupFresh = fresh;
    try {
      const result = this.db.transaction(fn).immediate();
      this.groupFresh = undefined;
      this.commitTorrents(fresh);
      return result;
    } finally {
      this.groupFresh = undefined;
    }
  }

  private newFresh(): Map<string, number> {
    return this.groupFresh ?? new Map<string, number>();
  }

  private commitTorrents(fresh: Map<string, number>): void {
    if (fresh === this.groupFresh) return; // at the group's commit
    if (this.torrentIds.size + fresh.size > TORRENT_CACHE_MAX) this.torrentIds.clear();
    for (const [k, v] of fresh) this.torrentIds.set(k, v);
  }

  private write<T>(rows: readonly T[], one: (row: T, fresh: Map<string, number>) => 0 | 1 | 2, counted?: string): WriteResult {
    const fresh = this.newFresh();
    const result: WriteResult = { inserted: 0, updated: 0, unchanged: 0 };
    this.db.transaction(() => {
      for (const row of rows) {
        const r = one(row, fresh);
        if (r === 1) result.inserted++;
        else if (r === 2) result.updated++;
        else result.unchanged++;
      }
      if (counted !== undefined && result.inserted > 0) this.addCount.run(result.inserted, counted);
    })();
    this.commitTorrents(fresh);
    return result;
  }

  /**
   * Swarm rows: multi-row `INSERT OR IGNORE` (50 rows a statement, positional parameters: the hot
   * path, a 1,000-row batch is 20 statements); only when some rows already existed, the per-row
   * UPDATE that takes newer data (a row just inserted is left alone: its last_seen is not older).
   */
  putSwarm(app: number, submitId: string, given: readonly SwarmRow[] | PackedSwarm, now: number): WriteResult {
    const rows = isPackedSwarm(given) ? unpackSwarm(given) : given;
    const fresh = this.newFresh();
    const result: WriteResult = { inserted: 0, updated: 0, unchanged: 0 };
    this.db.transaction(() => {
      const torrents = rows.map((r) => this.torrent(r.torrentIdentifier, r.torrentSize, r.torrentPrivate, fresh));
      for (let i = 0; i < rows.length; i += SWARM_CHUNK) {
        const n = Math.min(SWARM_CHUNK, rows.length - i);
        const params: unknown[] = [];
        for (let j = i; j < i + n; j++) {
          const r = rows[j] as SwarmRow;
          params.push(app, submitId, r.downloader, torrents[j], r.peerIp, r.peerPort, r.peerId, r.peerClientName, r.peerProgress,
            r.downloaderProgress, r.fromPeerTraffic, r.fromPeerTrafficOffset, r.fromPeerSpeed, r.fromPeerSpeedMax, r.toPeerTraffic,
            r.toPeerTrafficOffset, r.toPeerSpeed, r.toPeerSpeedMax, r.flags, r.firstSeen, r.lastSeen, now);
        }
        result.inserted += this.swarmInsert(n).run(params).changes;
      }
      if (result.inserted < rows.length) {
        rows.forEach((r, j) => {
          result.updated += this.updateSwarm.run({ ...r, app, submitId, now, torrent: torrents[j] }).changes;
        });
      }
      if (result.inserted > 0) this.addCount.run(result.inserted, 'swarm');
    })();
    this.commitTorrents(fresh);
    result.unchanged = rows.length - result.inserted - result.updated;
    return result;
  }

  private swarmInsert(n: number): Statement {
    let s = this.swarmInserts.get(n);
    if (!s) {
      s = this.db.prepare(`INSERT OR IGNORE INTO btn_swarm (${SWARM_COLUMNS}) VALUES ${new Array<string>(n).fill(SWARM_ROW).join(',')}`);
      this.swarmInserts.set(n, s);
    }
    return s;
  }

  putBans(app: number, submitId: string, rows: readonly BanRow[], now: number): WriteResult {
    return this.write(rows, (r, fresh) => {
      const torrent = this.torrent(r.torrentIdentifier, r.torrentSize, r.torrentPrivate, fresh);
      return this.insertBan.run({ ...r, app, submitId, now, torrent, btnBan: r.btnBan ? 1 : 0 }).changes > 0 ? 1 : 0;
    }, 'bans');
  }

  putHistories(app: number, rows: readonly HistoryRow[], now: number): WriteResult {
    return this.write(rows, (r, fresh) => {
      const params = { ...r, app, now, torrent: this.torrent(r.torrentIdentifier, r.torrentSize, false, fresh) };
      if (this.insertHistory.run(params).changes > 0) return 1;
      return this.updateHistory.run(params).changes > 0 ? 2 : 0;
    });
  }

  putHeartbeat(app: number, ifaddr: string, externalIp: string, now: number): void {
    this.heartbeat.run(app, ifaddr, externalIp, now);
  }

  discover(app: number, pairs: ReadonlyArray<readonly [string, string]>, now: number): void {
    if (pairs.length === 0) return;
    this.db.transaction(() => {
      for (const [clientName, peerId] of pairs) this.discovery.run(clientName, peerId, now, app);
    })();
  }
}
