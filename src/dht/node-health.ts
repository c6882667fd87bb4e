/**
 * Which DHT nodes have gone bad (BEP 5: "Nodes become bad when they fail to respond to multiple
 * queries in a row"). A node (ip:port) that lets `maxFailures` queries in a row time out is bad for
 * `badForMs`: it is taken out of the routing table and not queried again, however often other nodes
 * list it. Any answer (a reply or a KRPC error) resets its count. Both maps are bounded.
 */
export interface NodeHealthOptions {
  /** Timeouts in a row that make a node bad (default 3). */
  maxFailures?: number;
  /** How long a bad node is not queried (default 30 min). */
  badForMs?: number;
  /** Nodes tracked at most, in each map (default 10 000; the oldest entry goes first). */
  maxTracked?: number;
}

export interface NodeHealthStats {
  /** Nodes currently bad. */
  bad: number;
  /** Nodes that went bad since start. */
  wentBad: number;
  /** Queries not sent because their node is bad. */
  refused: number;
}

export class NodeHealth {
  private readonly failures = new Map<string, number>();
  private readonly badUntil = new Map<string, number>();
  private readonly maxFailures: number;
  private readonly badForMs: number;
  private readonly maxTracked: number;
  private wentBad = 0;
  refused = 0;

  constructor(options: NodeHealthOptions = {}) {
    this.maxFailures = Math.max(1, options.maxFailures ?? 3);
    this.badForMs = options.badForMs ?? 30 * 60_000;
    this.maxTracked = Math.max(1, options.maxTracked ?? 10_000);
  }

  static key(host: string, port: number): string {
    return `${host}:${port}`;
  }

  isBad(key: string, now = Date.now()): boolean {
    const until = this.badUntil.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.badUntil.delete(key);
    return false;
  }

  /** It answered (a reply or a KRPC error). */
  answered(key: string): void {
    this.failures.delete(key);
  }

  /** A query to it timed out; true when this made it bad. */
  timedOut(key: string, now = Date.now()): boolean {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.delete(key);
    if (n < this.maxFailures) {
      if (this.failures.size >= this.maxTracked) this.failures.delete(this.failures.keys().next().value as string);
      this.failures.set(key, n);
      return false;
    }
    this.badUntil.delete(key);
    if (this.badUntil.size >= this.maxTracked) this.badUntil.delete(this.badUntil.keys().next().value as string);
    this.badUntil.set(key, now + this.badForMs);
    this.wentBad++;
    return true;
  }

  stats(now = Date.now()): NodeHealthStats {
    let bad = 0;
    for (const until of this.badUntil.values()) if (until > now) bad++;
    return { bad, wentBad: this.wentBad, refused: this.refused };
  }
}
