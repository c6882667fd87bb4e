import type { DiscoveredPeer, PeerSource } from '../model/peer.js';
import type { Logger } from '../util/logger.js';
import { MinHeap } from './min-heap.js';

/**
 * Schedules get_peers lookups:
 * - watched infohashes (re-read from `watched()` every `refreshMs`) are each looked up every
 *   `intervalMs` ± `jitter`; at start the first `maxConcurrent` are looked up at once (they are the
 *   DHT's bootstrap) and the rest spread evenly, `spacingMs` apart but over at most one interval;
 *   later, a few new ones are looked up at once, many are spread the same way;
 * - `wantNow(infohash)` puts one at the front (an urgent FIFO, bounded);
 * - `enqueueSampled(infohash)` (BEP 51 samples) waits in a bounded FIFO, served only when no
 *   watched lookup is due; its peers carry source 'sample'.
 * At most `maxConcurrent` lookups run; each has a deadline (`lookupTimeoutMs`).
 */
export type GetPeersFn = (
  infohash: string,
  onPeer: (ip: string, port: number, from?: { host?: string; address?: string; port: number }) => void,
  options: { timeoutMs: number; signal?: AbortSignal },
) => Promise<{ responded: number; timedOut: boolean }>;

export interface LookupSchedulerDeps {
  getPeers: GetPeersFn;
  watched: () => Iterable<string>;
  onPeer: (peer: DiscoveredPeer) => void;
  logger: Logger;
}

export interface LookupSchedulerOptions {
  /** Time between two lookups of one watched infohash (config dht.lookupIntervalMs). */
  intervalMs: number;
  /** Relative jitter of each interval (default 0.1: ±10 %). */
  jitter?: number;
  /** How often the watched set is re-read (default 2000 ms). */
  refreshMs?: number;
  /** Spacing of first lookups when many infohashes appear at once (default 200 ms). */
  spacingMs?: number;
  /** New infohashes per refresh looked up at once rather than spread (default 16). */
  immediateNew?: number;
  /** Lookups running at once (default 8). */
  maxConcurrent?: number;
  /** Deadline of one lookup (default 30 000 ms). */
  lookupTimeoutMs?: number;
  /** Bounds of the urgent and sampled queues (default 1000 each). */
  maxUrgent?: number;
  maxSampled?: number;
}

export interface LookupStats {
  watched: number;
  running: number;
  urgentQueued: number;
  sampledQueued: number;
  started: number;
  completed: number;
  timedOut: number;
  failed: number;
  peersFound: number;
  droppedUrgent: number;
  droppedSampled: number;
  watchedRefreshErrors: number;
  /** Infohashes ignored because they are not 40 hex characters. */
  invalid: number;
}

const INFOHASH = /^[0-9a-f]{40}$/;

interface Job {
  infohash: string;
  source: PeerSource;
  watched: boolean;
}

export class LookupScheduler {
  private readonly due = new Map<string, number>(); // watched infohash → next lookup time
  private readonly heap = new MinHeap<string>();
  private readonly urgent = new Set<string>();
  private readonly sampled = new Set<string>();
  private readonly running = new Set<string>();
  private readonly controllers = new Set<AbortController>();
  private refreshTimer: NodeJS.Timeout | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private started = false;
  private stopped = false;
  private firstRefresh = true;
  private readonly o: Required<LookupSchedulerOptions>;
  private readonly log: Logger;
  private readonly counters = {
    started: 0, completed: 0, timedOut: 0, failed: 0, peersFound: 0, droppedUrgent: 0, droppedSampled: 0,
    watchedRefreshErrors: 0, invalid: 0,
  };

  constructor(private readonly deps: LookupSchedulerDeps, options: LookupSchedulerOptions) {
    this.o = {
      jitter: 0.1, refreshMs: 2000, spacingMs: 200, immediateNew: 16, maxConcurrent: 8, lookupTimeoutMs: 30_000,
      maxUrgent: 1000, maxSampled: 1000, ...options,
    };
    this.log = deps.logger.child({ component: 'dht-lookups' });
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.refresh();
    this.refreshTimer = setInterval(() => this.refresh(), this.o.refreshMs);
    this.tickTimer = setInterval(() => this.pump(), Math.min(100, this.o.refreshMs));
  }

  stop(): void {
    this.stopped = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    if (this.tickTimer) clearInterval(this.tickTimer);
    for (const c of this.controllers) c.abort();
    this.controllers.clear();
  }

  /** Looks this infohash up as soon as a slot is free (ahead of every scheduled lookup). */
  wantNow(infohash: string): void {
    const ih = this.valid(infohash);
    if (!ih || this.urgent.has(ih) || this.running.has(ih)) return;
    if (this.urgent.size >= this.o.maxUrgent) {
      this.counters.droppedUrgent++;
      return;
    }
    this.urgent.add(ih);
    this.pump();
  }

  /** An infohash from BEP 51 sampling: looked up when nothing watched is due. */
  enqueueSampled(infohash: string): boolean {
    const ih = this.valid(infohash);
    if (!ih || this.sampled.has(ih) || this.running.has(ih)) return false;
    if (this.sampled.size >= this.o.maxSampled) {
      this.counters.droppedSampled++;
      return false;
    }
    this.sampled.add(ih);
    this.pump();
    return true;
  }

  stats(): LookupStats {
    return {
      ...this.counters,
      watched: this.due.size,
      running: this.running.size,
      urgentQueued: this.urgent.size,
      sampledQueued: this.sampled.size,
    };
  }

  private valid(infohash: string): string | undefined {
    const ih = infohash.toLowerCase();
    if (INFOHASH.test(ih)) return ih;
    this.counters.invalid++;
    return undefined;
  }

  private nextInterval(): number {
    return this.o.intervalMs * (1 + this.o.jitter * (2 * Math.random() - 1));
  }

  /** Re-reads the watched set: schedules new infohashes, forgets removed ones. */
  private refresh(): void {
    if (this.stopped) return;
    const now = Date.now();
    const current = new Set<string>();
    try {
      for (const raw of this.deps.watched()) {
        const ih = this.valid(raw);
        if (ih) current.add(ih);
      }
    } catch (err) {
      this.counters.watchedRefreshErrors++;
      this.log.warn({ err }, 'watched infohash provider failed');
      return;
    }
    for (const ih of this.due.keys()) if (!current.has(ih)) this.due.delete(ih);
    const fresh: string[] = [];
    for (const ih of current) if (!this.due.has(ih)) fresh.push(ih);
    if (fresh.length > 0) {
      // At start the first `maxConcurrent` are looked up at once: their get_peers double as the
      // bootstrap (the replies carry nodes too), so the first query to each node is already useful.
      const immediate = this.firstRefresh
        ? Math.min(fresh.length, this.o.maxConcurrent)
        : fresh.length > this.o.immediateNew
          ? 0
          : fresh.length;
      const rest = fresh.length - immediate;
      const span = Math.min(this.o.intervalMs, rest * this.o.spacingMs);
      fresh.forEach((ih, i) => {
        const j = i - immediate;
        const slot = j < 0 || span === 0 ? 0 : (j / rest) * span + Math.random() * (span / rest);
        this.setDue(ih, now + slot);
      });
    }
    this.firstRefresh = false;
    // Lazy deletion leaves stale heap entries: rebuild when they dominate.
    if (this.heap.size > 2 * this.due.size + 1024) {
      this.heap.clear();
      for (const [ih, t] of this.due) this.heap.push(t, ih);
    }
    this.pump();
  }

  private setDue(ih: string, t: number): void {
    this.due.set(ih, t);
    this.heap.push(t, ih);
  }

  private nextJob(now: number): Job | undefined {
    for (const ih of this.urgent) {
      this.urgent.delete(ih);
      if (!this.running.has(ih)) return { infohash: ih, source: 'get_peers', watched: this.due.has(ih) };
    }
    while ((this.heap.peekKey() ?? Infinity) <= now) {
      const key = this.heap.peekKey()!;
      const ih = this.heap.pop()!;
      if (this.due.get(ih) !== key) continue; // stale entry (removed or rescheduled)
      if (this.running.has(ih)) {
        this.setDue(ih, now + this.nextInterval());
        continue;
      }
      return { infohash: ih, source: 'get_peers', watched: true };
    }
    for (const ih of this.sampled) {
      this.sampled.delete(ih);
      if (!this.running.has(ih)) return { infohash: ih, source: 'sample', watched: false };
    }
    return undefined;
  }

  private pump(): void {
    if (this.stopped || !this.started) return;
    const now = Date.now();
    while (this.running.size < this.o.maxConcurrent) {
      const job = this.nextJob(now);
      if (!job) return;
      if (job.watched) this.setDue(job.infohash, now + this.nextInterval());
      this.run(job);
    }
  }

  private run(job: Job): void {
    const { infohash, source } = job;
    this.running.add(infohash);
    this.counters.started++;
    const controller = new AbortController();
    this.controllers.add(controller);
    const onPeer = (ip: string, port: number, from?: { host?: string; address?: string; port: number }): void => {
      if (this.stopped) return;
      this.counters.peersFound++;
      const node = from?.host ?? from?.address;
      this.deps.onPeer({ ip, port, infohash, foundAt: Date.now(), source, ...(node !== undefined ? { via: `${node}:${from?.port}` } : {}) });
    };
    const startedAt = Date.now();
    this.deps
      .getPeers(infohash, onPeer, { timeoutMs: this.o.lookupTimeoutMs, signal: controller.signal })
      .then(
        (res) => {
          if (res.timedOut) this.counters.timedOut++;
          else this.counters.completed++;
          this.log.debug({ infoHash: infohash, source, responded: res.responded, timedOut: res.timedOut, durationMs: Date.now() - startedAt }, 'lookup done');
        },
        (err: unknown) => {
          this.counters.failed++;
          this.log.debug({ infoHash: infohash, err }, 'lookup failed');
        },
      )
      .finally(() => {
        this.controllers.delete(controller);
        this.running.delete(infohash);
        this.pump();
      });
  }
}
