import type { Logger } from '../util/logger.js';

/**
 * Persists the routing table through a repository port: loads it before bootstrap (a restarted
 * node is productive from its old contacts within seconds, even with no bootstrap list), saves it
 * every `saveIntervalMs` and at stop. A failing save is logged and counted, never fatal.
 */
export interface StoredDhtNode {
  host: string;
  port: number;
  id: Uint8Array | null;
  lastSeen: number;
}

/** The port; `SqliteDhtNodeRepository` (src/store/dht-node-repository.ts) implements it. */
export interface DhtNodeStore {
  load(limit?: number): StoredDhtNode[];
  save(nodes: readonly StoredDhtNode[], keep?: number): void;
}

export interface RoutingTableStoreOptions {
  /** Default 5 min. */
  saveIntervalMs?: number;
  /** Nodes restored at start, at most (default 1000). */
  loadLimit?: number;
  /** Rows kept in the database (default 2000). */
  keep?: number;
}

export interface RoutingTableStats {
  loaded: number;
  saves: number;
  saveErrors: number;
  lastSaved: number;
}

export class RoutingTableStore {
  private timer: NodeJS.Timeout | null = null;
  private readonly o: Required<RoutingTableStoreOptions>;
  private readonly log: Logger;
  private readonly counters: RoutingTableStats = { loaded: 0, saves: 0, saveErrors: 0, lastSaved: 0 };

  constructor(
    private readonly deps: { store: DhtNodeStore; source: () => StoredDhtNode[]; logger: Logger },
    options: RoutingTableStoreOptions = {},
  ) {
    this.o = { saveIntervalMs: 5 * 60_000, loadLimit: 1000, keep: 2000, ...options };
    this.log = deps.logger.child({ component: 'dht-table-store' });
  }

  load(): StoredDhtNode[] {
    try {
      const nodes = this.deps.store.load(this.o.loadLimit);
      this.counters.loaded = nodes.length;
      return nodes;
    } catch (err) {
      this.log.warn({ err }, 'could not load the saved DHT routing table');
      return [];
    }
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.save(), this.o.saveIntervalMs);
    this.timer.unref();
  }

  /** Saves the current table (nothing when it is empty: keep the last good one). */
  save(): void {
    const nodes = this.deps.source();
    if (nodes.length === 0) return;
    try {
      this.deps.store.save(nodes, this.o.keep);
      this.counters.saves++;
      this.counters.lastSaved = nodes.length;
    } catch (err) {
      this.counters.saveErrors++;
      this.log.warn({ err }, 'could not save the DHT routing table');
    }
  }

  /** Stops the timer and saves once more. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.save();
  }

  stats(): RoutingTableStats {
    return { ...this.counters };
  }
}
