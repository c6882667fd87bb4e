import { decodeSamplesResponse } from '../protocol/bep51-samples.js';
import type { Logger } from '../util/logger.js';
import { BoundedSet } from './bounded-set.js';
import { randomTargetIn, type KeyspaceSlice } from './keyspace-slice.js';

/**
 * BEP 51 sampling: walks DHT nodes (routing table first, then the `nodes` each reply names) with
 * `sample_infohashes` queries towards random targets, never asking one node again before the
 * `interval` it gave (floored at `minNodeIntervalMs`); nodes that do not support BEP 51 (error 204,
 * or no answer) are left alone for a long while. Every infohash not seen before (bounded set) goes
 * to `onInfohash`. Runs only while `active()` (some filter watches all torrents). One sampler per
 * node: the IPv6 node's sampler walks the IPv6 DHT (`nodes6`).
 */
export interface SamplerNode {
  readonly nodeId: Buffer;
  /** The node's address family (default 4): only nodes of it become candidates. */
  readonly family?: 4 | 6;
  routingNodes(): Array<{ host: string; port: number; id: Buffer }>;
  query(peer: { host: string; port: number; id?: Buffer }, message: { q: string; a?: Record<string, unknown> }): Promise<{ r: Record<string, unknown> }>;
}

export interface InfohashSamplerDeps {
  node: SamplerNode;
  onInfohash: (infohash: string) => void;
  active: () => boolean;
  /**
   * This crawler's share of the key space (cluster work split): every target lies in it, so n
   * crawlers sample n disjoint slices. Undefined: the whole space.
   */
  slice?: () => KeyspaceSlice | undefined;
  logger: Logger;
}

export interface InfohashSamplerOptions {
  /** sample_infohashes queries per second, at most (default 5). */
  queriesPerSecond?: number;
  /** Queries awaiting a reply, at most (default 16). */
  maxInFlight?: number;
  /** Floor of a node's interval (default 60 000 ms). */
  minNodeIntervalMs?: number;
  /** Back-off for a node answering 204 (default 1 h). */
  unsupportedRetryMs?: number;
  /** Back-off after a timeout or a malformed reply (default 10 min). */
  failedRetryMs?: number;
  /** Nodes waiting to be sampled, at most (default 2000). */
  maxCandidates?: number;
  /** Nodes whose next allowed time is remembered, at most (default 20 000). */
  maxKnownNodes?: number;
  /** Infohashes remembered for de-duplication (default 100 000). */
  maxSeenInfohashes?: number;
}

export interface SamplerStats {
  queries: number;
  responses: number;
  unsupported: number;
  failures: number;
  malformed: number;
  infohashes: number;
  newInfohashes: number;
  nodesLearned: number;
  candidates: number;
  inFlight: number;
}

interface Candidate {
  host: string;
  port: number;
  id?: Buffer;
}

export class InfohashSampler {
  private readonly candidates = new Map<string, Candidate>(); // FIFO by insertion
  private readonly nextAllowed = new Map<string, number>(); // node key → ms; insertion order = update order
  private readonly seen: BoundedSet<string>;
  private timer: NodeJS.Timeout | null = null;
  private inFlight = 0;
  private stopped = false;
  private readonly o: Required<InfohashSamplerOptions>;
  private readonly log: Logger;
  private readonly counters = {
    queries: 0, responses: 0, unsupported: 0, failures: 0, malformed: 0, infohashes: 0, newInfohashes: 0,
    nodesLearned: 0,
  };

  constructor(private readonly deps: InfohashSamplerDeps, options: InfohashSamplerOptions = {}) {
    this.o = {
      queriesPerSecond: 5, maxInFlight: 16, minNodeIntervalMs: 60_000, unsupportedRetryMs: 3_600_000,
      failedRetryMs: 600_000, maxCandidates: 2000, maxKnownNodes: 20_000, maxSeenInfohashes: 100_000, ...options,
    };
    this.seen = new BoundedSet(this.o.maxSeenInfohashes);
    this.log = deps.logger.child({ component: 'dht-sampler' });
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => this.tick(), Math.max(10, Math.floor(1000 / this.o.queriesPerSecond)));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  stats(): SamplerStats {
    return { ...this.counters, candidates: this.candidates.size, inFlight: this.inFlight };
  }

  /** One step: sample the next eligible node (called by the timer; public for tests). */
  tick(): void {
    if (this.stopped || this.inFlight >= this.o.maxInFlight) return;
    if (!this.deps.active()) return;
    const now = Date.now();
    let next = this.takeCandidate(now);
    if (!next) {
      this.refill(now);
      next = this.takeCandidate(now);
    }
    if (next) this.sample(next, now);
  }

  private key(c: { host: string; port: number }): string {
    return `${c.host}:${c.port}`;
  }

  private isCooling(key: string, now: number): boolean {
    return (this.nextAllowed.get(key) ?? 0) > now;
  }

  private setNextAllowed(key: string, t: number): void {
    this.nextAllowed.delete(key);
    this.nextAllowed.set(key, t);
    if (this.nextAllowed.size > this.o.maxKnownNodes) {
      const oldest = this.nextAllowed.keys().next();
      if (!oldest.done) this.nextAllowed.delete(oldest.value);
    }
  }

  private takeCandidate(now: number): Candidate | undefined {
    // Bounded scan: cooling candidates are dropped (they come back through the table or replies).
    for (const [key, c] of this.candidates) {
      this.candidates.delete(key);
      if (!this.isCooling(key, now)) return c;
    }
    return undefined;
  }

  private addCandidate(c: Candidate, now: number): void {
    const key = this.key(c);
    if (this.candidates.size >= this.o.maxCandidates || this.candidates.has(key) || this.isCooling(key, now)) return;
    this.candidates.set(key, c);
  }

  private refill(now: number): void {
    const nodes = this.deps.node.routingNodes();
    for (let i = nodes.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      const tmp = nodes[i]!;
      nodes[i] = nodes[j]!;
      nodes[j] = tmp;
    }
    for (const n of nodes) this.addCandidate({ host: n.host, port: n.port, id: n.id }, now);
  }

  private sample(c: Candidate, now: number): void {
    const key = this.key(c);
    // Marked busy until the reply sets the real next time.
    this.setNextAllowed(key, now + this.o.failedRetryMs);
    this.inFlight++;
    this.counters.queries++;
    const target = randomTargetIn(this.deps.slice?.());
    this.deps.node
      .query(c, { q: 'sample_infohashes', a: { id: this.deps.node.nodeId, target } })
      .then(
        (res) => this.onReply(key, res.r),
        (err: { code?: unknown }) => {
          if (err.code === 204) {
            this.counters.unsupported++;
            this.setNextAllowed(key, Date.now() + this.o.unsupportedRetryMs);
          } else {
            this.counters.failures++;
            this.setNextAllowed(key, Date.now() + this.o.failedRetryMs);
          }
        },
      )
      .finally(() => {
        this.inFlight--;
      });
  }

  private onReply(key: string, r: Record<string, unknown>): void {
    const now = Date.now();
    const decoded = decodeSamplesResponse(r);
    if (!decoded.ok) {
      this.counters.malformed++;
      this.setNextAllowed(key, now + this.o.failedRetryMs);
      this.log.debug({ node: key, reason: decoded.reason }, 'malformed sample_infohashes reply');
      return;
    }
    const v = decoded.value;
    this.counters.responses++;
    this.setNextAllowed(key, now + Math.max(this.o.minNodeIntervalMs, v.intervalSec * 1000));
    for (const ih of v.infohashes) {
      this.counters.infohashes++;
      if (this.seen.add(ih)) {
        this.counters.newInfohashes++;
        this.deps.onInfohash(ih);
      }
    }
    for (const n of v.nodes) {
      if (n.ip.includes(':') !== (this.deps.node.family === 6)) continue; // nodes of our family only
      const before = this.candidates.size;
      this.addCandidate({ host: n.ip, port: n.port, id: Buffer.from(n.id) }, now);
      if (this.candidates.size > before) this.counters.nodesLearned++;
    }
  }
}
