import type { Statement } from 'better-sqlite3';
import type { Db } from './open-database.js';

/** One saved DHT routing-table entry. */
export interface DhtNodeRecord {
  host: string;
  port: number;
  /** 20-byte node id, or null when only the address is known. */
  id: Uint8Array | null;
  /** ms epoch of the last message from the node. */
  lastSeen: number;
}

interface Row {
  host: string;
  port: number;
  id: Buffer | null;
  last_seen: number;
}

/**
 * The DHT routing table of one address family between runs (table `dht_nodes`, one table for both:
 * an IPv6 host always contains ":", an IPv4 one never, so each family reads, prunes and keeps its
 * own rows; BEP 32 nodes of either family never mix).
 */
export class SqliteDhtNodeRepository {
  private readonly selectNewest: Statement;
  private readonly upsert: Statement;
  private readonly prune: Statement;
  private readonly countAll: Statement;
  private readonly db: Db;

  constructor(
    db: Db,
    readonly family: 4 | 6 = 4,
  ) {
    this.db = db;
    const mine = family === 6 ? "instr(host, ':') > 0" : "instr(host, ':') = 0";
    this.selectNewest = db.prepare(`SELECT host, port, id, last_seen FROM dht_nodes WHERE ${mine} ORDER BY last_seen DESC LIMIT ?`);
    this.upsert = db.prepare(`INSERT INTO dht_nodes (host, port, id, last_seen) VALUES (?, ?, ?, ?)
      ON CONFLICT (host, port) DO UPDATE SET id = excluded.id, last_seen = max(last_seen, excluded.last_seen)`);
    // Keep the `keep` most recently seen rows.
    this.prune = db.prepare(`DELETE FROM dht_nodes WHERE ${mine} AND last_seen <
      (SELECT last_seen FROM dht_nodes WHERE ${mine} ORDER BY last_seen DESC LIMIT 1 OFFSET ?)`);
    this.countAll = db.prepare(`SELECT count(*) FROM dht_nodes WHERE ${mine}`).pluck();
  }

  /** The `limit` most recently seen nodes, newest first. */
  load(limit = 1000): DhtNodeRecord[] {
    return (this.selectNewest.all(limit) as Row[]).map((r) => ({
      host: r.host,
      port: r.port,
      id: r.id && r.id.length === 20 ? new Uint8Array(r.id) : null,
      lastSeen: r.last_seen,
    }));
  }

  /** Upserts the nodes (of this family; others are skipped) and keeps only the `keep` most recently seen rows of the family, in one transaction. */
  save(nodes: readonly DhtNodeRecord[], keep = 2000): void {
    this.db.transaction(() => {
      for (const n of nodes) {
        if (n.host.includes(':') !== (this.family === 6)) continue;
        this.upsert.run(n.host, n.port, n.id ? Buffer.from(n.id) : null, Math.trunc(n.lastSeen));
      }
      this.prune.run(Math.max(0, keep - 1));
    })();
  }

  count(): number {
    return this.countAll.get() as number;
  }
}
