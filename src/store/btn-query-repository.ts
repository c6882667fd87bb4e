import type { Statement } from 'better-sqlite3';
import type {
  BanItem,
  BannedIp,
  BtnQueryStore,
  CapturedPeer,
  CaptureEvidence,
  Condition,
  DiscoveryItem,
  ListQuery,
  Page,
  SnapshotItem,
  SwarmRecord,
} from '../btn/ports.js';
import { AppError } from '../util/app-error.js';
import type { Db } from './open-database.js';

type Kind = 'string' | 'number' | 'boolean';
interface Listing {
  from: string;
  select: string;
  time: string;
  fields: Record<string, [sql: string, kind: Kind]>;
  defaultSort: string;
}

const COMMON_FIELDS: Record<string, [string, Kind]> = {
  id: ['x.id', 'number'],
  peerId: ['x.peer_id', 'string'],
  peerClientName: ['x.peer_client_name', 'string'],
  peerIp: ['x.peer_ip', 'string'],
  peerPort: ['x.peer_port', 'number'],
  torrentIdentifier: ['t.identifier', 'string'],
  torrentSize: ['t.size', 'number'],
  fromPeerTraffic: ['x.from_peer_traffic', 'number'],
  toPeerTraffic: ['x.to_peer_traffic', 'number'],
  peerProgress: ['x.peer_progress', 'number'],
  downloaderProgress: ['x.downloader_progress', 'number'],
  appId: ['a.app_id', 'string'],
};

const ITEM_COLUMNS = `x.id, a.app_id AS appId, x.submit_id AS submitId, x.peer_ip AS peerIp, x.peer_port AS peerPort, x.peer_id AS peerId,
  x.peer_client_name AS peerClientName, t.id AS torrentId, t.identifier AS torrentIdentifier, t.size AS torrentSize,
  t.private AS torrentPrivate, x.from_peer_traffic AS fromPeerTraffic, x.to_peer_traffic AS toPeerTraffic,
  x.peer_progress AS peerProgress, x.downloader_progress AS downloaderProgress`;

const LISTINGS = {
  snapshot: {
    from: 'btn_swarm x JOIN btn_torrents t ON t.id = x.torrent JOIN btn_apps a ON a.id = x.app',
    select: `${ITEM_COLUMNS}, x.from_peer_speed AS fromPeerTrafficSpeed, x.to_peer_speed AS toPeerTrafficSpeed, x.flags`,
    time: 'x.last_seen',
    fields: {
      ...COMMON_FIELDS,
      fromPeerTrafficSpeed: ['x.from_peer_speed', 'number'],
      toPeerTrafficSpeed: ['x.to_peer_speed', 'number'],
      flags: ['x.flags', 'string'],
      lastSeen: ['x.last_seen', 'number'],
      firstSeen: ['x.first_seen', 'number'],
    },
    defaultSort: 'x.id',
  },
  bans: {
    from: 'btn_bans x JOIN btn_torrents t ON t.id = x.torrent JOIN btn_apps a ON a.id = x.app',
    select: `${ITEM_COLUMNS}, 0 AS fromPeerTrafficSpeed, 0 AS toPeerTrafficSpeed, x.peer_flag AS flags, x.ban_at AS banAt,
      x.btn_ban AS btnBan, x.module, x.rule, x.description, x.ban_unique_id AS banUniqueId, x.structured_data AS structuredData`,
    time: 'x.ban_at',
    fields: {
      ...COMMON_FIELDS,
      flags: ['x.peer_flag', 'string'],
      module: ['x.module', 'string'],
      rule: ['x.rule', 'string'],
      description: ['x.description', 'string'],
      btnBan: ['x.btn_ban', 'boolean'],
      banAt: ['x.ban_at', 'number'],
    },
    defaultSort: 'x.id',
  },
  discovery: {
    from: 'btn_client_discovery x',
    select: 'x.id AS hash, x.client_name AS clientName, x.peer_id AS peerId, x.found_at AS foundAt, x.source',
    time: 'x.found_at',
    fields: {
      hash: ['x.id', 'number'],
      peerId: ['x.peer_id', 'string'],
      peerClientName: ['x.client_name', 'string'],
      clientName: ['x.client_name', 'string'],
      foundAt: ['x.found_at', 'number'],
      source: ['x.source', 'string'],
    },
    defaultSort: 'x.id',
  },
} satisfies Record<string, Listing>;

/** A field or compare method the listing does not know: the query API answers 400. */
export class QueryFieldError extends AppError {
  constructor(message: string) {
    super('QUERY_FIELD_INVALID', message);
  }
}

function condition(l: Listing, c: Condition, params: unknown[]): string {
  const f = l.fields[c.field];
  if (!f) throw new QueryFieldError(`unknown field "${c.field}" (known: ${Object.keys(l.fields).join(', ')})`);
  const [col, kind] = f;
  if (kind === 'string') {
    const v = String(c.value);
    const s = `coalesce(${col}, '')`;
    const positive: Record<string, string> = {
      CONTAINS: `instr(${s}, ?) > 0`,
      EQUALS: `${s} = ?`,
      STARTS_WITH: `substr(${s}, 1, length(?1x)) = ?1x`,
      ENDS_WITH: `(length(?1x) = 0 OR substr(${s}, -length(?1x)) = ?1x)`,
    };
    const base = c.method.replace(/^NOT_/, '');
    const expr = positive[base];
    if (!expr) throw new QueryFieldError(`"${c.method}" is not a string compare method for "${c.field}"`);
    const uses = (expr.match(/\?1x|\?/g) ?? []).length;
    for (let i = 0; i < uses; i++) params.push(v);
    const sql = expr.replace(/\?1x/g, '?');
    return c.method.startsWith('NOT_') ? `NOT (${sql})` : sql;
  }
  const v = kind === 'boolean' ? (c.value === true || c.value === 'true' ? 1 : 0) : Number(c.value);
  if (!Number.isFinite(v)) throw new QueryFieldError(`"${c.field}" needs a number`);
  const ops: Record<string, string> = { LESS_THAN: '<', LESS_THAN_EQUAL: '<=', GREATER_THAN: '>', GREATER_THAN_EQUAL: '>=', EQUAL: '=', EQUALS: '=' };
  const op = ops[c.method];
  if (!op) throw new QueryFieldError(`"${c.method}" is not a number compare method for "${c.field}"`);
  params.push(v);
  return `${col} ${op} ?`;
}

/** The Sparkle query API's listings, paged (0-based) with compare-method filters. */
export class SqliteBtnQueryRepository implements BtnQueryStore, CaptureEvidence {
  private readonly cache = new Map<string, Statement>();
  private readonly torrentByIdentifier: Statement;

  constructor(private readonly db: Db) {
    this.torrentByIdentifier = db.prepare('SELECT id FROM btn_torrents WHERE identifier = ?').pluck();
  }

  private stmt(sql: string): Statement {
    let s = this.cache.get(sql);
    if (!s) {
      if (this.cache.size > 500) this.cache.clear();
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }

  private list<T>(l: Listing, q: ListQuery, map: (row: Record<string, unknown>) => T, counted?: string): Page<T> {
    const params: unknown[] = [];
    const conds = q.conditions.map((c) => condition(l, c, params));
    const where: string[] = [];
    if (conds.length > 0) where.push(`(${conds.join(q.or ? ' OR ' : ' AND ')})`);
    if (q.timeFrom !== undefined) {
      where.push(`${l.time} >= ?`);
      params.push(q.timeFrom);
    }
    if (q.timeTo !== undefined) {
      where.push(`${l.time} <= ?`);
      params.push(q.timeTo);
    }
    const whereSql = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const order = q.sortBy.map((f) => {
      const field = l.fields[f];
      if (!field) throw new QueryFieldError(`cannot sort by unknown field "${f}"`);
      return `${field[0]} ${q.sortOrder}`;
    });
    order.push(`${l.defaultSort} ${q.sortOrder}`);
    // Unfiltered listings of the big tables: the count kept with every insert (migration 7).
    const total =
      counted !== undefined && where.length === 0
        ? ((this.stmt('SELECT n FROM btn_counts WHERE name = ?').pluck().get(counted) as number | undefined) ?? 0)
        : (this.stmt(`SELECT count(*) FROM ${l.from} ${whereSql}`).pluck().get(...params) as number);
    const rows = this.stmt(`SELECT ${l.select} FROM ${l.from} ${whereSql} ORDER BY ${order.join(', ')} LIMIT ? OFFSET ?`).all(
      ...params,
      q.pageSize,
      q.page * q.pageSize,
    ) as Array<Record<string, unknown>>;
    return { page: q.page, size: q.pageSize, total, results: rows.map(map) };
  }

  snapshots(q: ListQuery): Page<SnapshotItem> {
    return this.list(LISTINGS.snapshot, q, toSnapshot, 'swarm');
  }

  bans(q: ListQuery): Page<BanItem> {
    return this.list(LISTINGS.bans, q, toBan, 'bans');
  }

  discoveries(q: ListQuery): Page<DiscoveryItem> {
    return this.list(LISTINGS.discovery, q, (r) => r as unknown as DiscoveryItem);
  }

  bannedIps(since: number, minReporters: number, limit: number): BannedIp[] {
    // SQLite takes the bare column `module` from the row that holds max(ban_at): the latest ban's module.
    return this.stmt(
      `SELECT peer_ip AS ip, count(DISTINCT app) AS reporters, count(*) AS bans, max(ban_at) AS lastBanAt, module AS topModule
       FROM btn_bans WHERE ban_at >= ? GROUP BY peer_ip HAVING count(DISTINCT app) >= ?
       ORDER BY reporters DESC, bans DESC, ip LIMIT ?`,
    ).all(since, minReporters, limit) as BannedIp[];
  }

  private by(b: { ip?: string; torrentIdentifier?: string }): { sql: string; param: unknown } | undefined {
    if (b.ip !== undefined) return { sql: 'x.peer_ip = ?', param: b.ip };
    const id = this.torrentByIdentifier.get(b.torrentIdentifier ?? '') as number | undefined;
    return id === undefined ? undefined : { sql: 'x.torrent = ?', param: id };
  }

  bansOf(b: { ip?: string; torrentIdentifier?: string }, limit: number): BanItem[] {
    const w = this.by(b);
    if (!w) return [];
    const l = LISTINGS.bans;
    return (this.stmt(`SELECT ${l.select} FROM ${l.from} WHERE ${w.sql} ORDER BY x.ban_at DESC LIMIT ?`).all(w.param, limit) as Array<
      Record<string, unknown>
    >).map(toBan);
  }

  swarmsOf(b: { ip?: string; torrentIdentifier?: string }, limit: number): SwarmRecord[] {
    const w = this.by(b);
    if (!w) return [];
    return this.stmt(
      `SELECT CAST(x.torrent AS TEXT) AS torrent, x.peer_ip AS peerIp, x.peer_port AS peerPort, x.peer_id AS peerId,
        x.peer_client_name AS peerClientName, x.peer_progress AS peerProgress, x.from_peer_traffic AS fromPeerTraffic,
        x.to_peer_traffic AS toPeerTraffic, x.from_peer_traffic_offset AS fromPeerTrafficOffset,
        x.to_peer_traffic_offset AS toPeerTrafficOffset, x.flags, x.first_seen AS firstSeen, x.last_seen AS lastSeen,
        x.downloader_progress AS userProgress
       FROM btn_swarm x WHERE ${w.sql} ORDER BY x.last_seen DESC LIMIT ?`,
    ).all(w.param, limit) as SwarmRecord[];
  }

  countsOf(b: { ip?: string; torrentIdentifier?: string }): {
    bans: number;
    swarms: number;
    torrents: number;
    toPeerTraffic: number;
    fromPeerTraffic: number;
  } {
    const w = this.by(b);
    if (!w) return { bans: 0, swarms: 0, torrents: 0, toPeerTraffic: 0, fromPeerTraffic: 0 };
    const bans = this.stmt(`SELECT count(*) FROM btn_bans x WHERE ${w.sql}`).pluck().get(w.param) as number;
    const s = this.stmt(
      `SELECT count(*) AS swarms, count(DISTINCT x.torrent) AS torrents, coalesce(sum(x.to_peer_traffic), 0) AS toPeerTraffic,
        coalesce(sum(x.from_peer_traffic), 0) AS fromPeerTraffic FROM btn_swarm x WHERE ${w.sql}`,
    ).get(w.param) as { swarms: number; torrents: number; toPeerTraffic: number; fromPeerTraffic: number };
    return { bans, ...s };
  }

  byIp(ip: string, limit: number): CapturedPeer[] {
    return this.captures('ip', ip, limit);
  }

  byInfohash(infohash: string, limit: number): CapturedPeer[] {
    return this.captures('infohash', infohash.toLowerCase(), limit);
  }

  private captures(column: 'ip' | 'infohash', value: string, limit: number): CapturedPeer[] {
    return this.stmt(
      `SELECT id, found_at AS foundAt, ip, port, infohash, client_name AS clientName, has_pieces AS hasPieces,
        total_pieces AS totalPieces, error FROM captures WHERE ${column} = ? ORDER BY found_at DESC LIMIT ?`,
    ).all(value, limit) as CapturedPeer[];
  }
}

function toSnapshot(r: Record<string, unknown>): SnapshotItem {
  return {
    id: r.id as number,
    appId: r.appId as string,
    submitId: r.submitId as string,
    peerIp: r.peerIp as string,
    peerPort: r.peerPort as number,
    peerId: r.peerId as string | null,
    peerClientName: r.peerClientName as string | null,
    torrent: { id: r.torrentId as number, identifier: r.torrentIdentifier as string, size: r.torrentSize as number, privateTorrent: r.torrentPrivate === 1 },
    fromPeerTraffic: r.fromPeerTraffic as number,
    fromPeerTrafficSpeed: r.fromPeerTrafficSpeed as number,
    toPeerTraffic: r.toPeerTraffic as number,
    toPeerTrafficSpeed: r.toPeerTrafficSpeed as number,
    peerProgress: r.peerProgress as number,
    downloaderProgress: r.downloaderProgress as number,
    flags: r.flags as string | null,
  };
}

function toBan(r: Record<string, unknown>): BanItem {
  return {
    ...toSnapshot(r),
    banAt: r.banAt as number,
    btnBan: r.btnBan === 1,
    module: r.module as string,
    rule: r.rule as string,
    description: r.description as string,
    banUniqueId: r.banUniqueId as string | null,
    structuredData: r.structuredData as string,
  };
}
