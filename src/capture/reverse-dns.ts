import { promises as dnsPromises } from 'node:dns';
import net from 'node:net';

/**
 * Reverse DNS (PTR) names for captured peers: best effort, bounded in every direction. A lookup
 * never throws and never waits longer than `timeoutMs`; it answers '' when the name is unknown,
 * the feature is off, the lookup timed out or failed, or the rate limit said no.
 *
 * - One `dns.promises.Resolver` per query, so that `cancel()` on a timeout cancels that query
 *   only (it cancels everything outstanding on its resolver). Queries are rate-limited, so the
 *   cost of a c-ares channel per query stays small.
 * - A token bucket (`maxPerSecond`, burst of one second's worth) bounds what we send; cache hits
 *   and lookups joining one already in flight cost nothing.
 * - A bounded LRU cache with a TTL; failures (no name, timeout, server error) are cached too,
 *   for a shorter time, so a slow or hostile PTR zone is not asked again and again.
 */
export interface ReverseDnsOptions {
  enabled: boolean;
  /** Per lookup, all tries included. */
  timeoutMs: number;
  /** DNS servers ('1.2.3.4', '1.2.3.4:5353', '[::1]:53'); empty: the system's. */
  servers: string[];
  /** Queries sent per second at most (burst: the same number). 0 sends none. */
  maxPerSecond: number;
  /** Cached names, at most (default 10 000). */
  cacheSize?: number;
  /** How long a name is kept (default 1 h). */
  cacheTtlMs?: number;
  /** How long a failure is kept (default a tenth of cacheTtlMs, at most 5 min). */
  negativeTtlMs?: number;
}

export interface ReverseDnsStats {
  lookups: number;
  cacheHits: number;
  /** Lookups that joined a query already in flight for the same address. */
  coalesced: number;
  queries: number;
  resolved: number;
  notFound: number;
  timeouts: number;
  errors: number;
  rateLimited: number;
  aborted: number;
  disabled: number;
  invalid: number;
  inFlight: number;
  cacheSize: number;
}

type Counter = Exclude<keyof ReverseDnsStats, 'inFlight' | 'cacheSize'>;

/** DNS answers that mean "there is no name" rather than "something went wrong". */
const NOT_FOUND = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN']);
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*$/;

/** A PTR target made safe to store and show: lowercase, no trailing dot, hostname characters only. */
export function cleanHostname(name: string): string {
  const lower = name.toLowerCase().replace(/\.$/, '');
  return HOSTNAME.test(lower) ? lower : '';
}

export class ReverseDns {
  private readonly cache = new Map<string, { name: string; expiresAt: number }>();
  /** Queries running now, so that close() can cancel them. */
  private readonly inFlight = new Set<{ cancel(): void }>();
  private readonly pending = new Map<string, Promise<string>>();
  private readonly counters: Record<Counter, number> = {
    lookups: 0,
    cacheHits: 0,
    coalesced: 0,
    queries: 0,
    resolved: 0,
    notFound: 0,
    timeouts: 0,
    errors: 0,
    rateLimited: 0,
    aborted: 0,
    disabled: 0,
    invalid: 0,
  };
  private tokens: number;
  private refilledAt = performance.now();
  private readonly cacheSize: number;
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;

  constructor(private readonly options: ReverseDnsOptions) {
    this.cacheSize = Math.max(0, options.cacheSize ?? 10_000);
    this.ttlMs = options.cacheTtlMs ?? 3_600_000;
    this.negativeTtlMs = options.negativeTtlMs ?? Math.min(this.ttlMs / 10, 300_000);
    this.tokens = Math.max(0, options.maxPerSecond);
    // Invalid server strings are a configuration error: fail now, not on the first lookup.
    if (options.servers.length > 0) new dnsPromises.Resolver().setServers(options.servers);
  }

  /** The PTR name of `ip`, or '' (unknown, disabled, timed out, failed, rate-limited, aborted). */
  lookup(ip: string, signal?: AbortSignal): Promise<string> {
    this.counters.lookups += 1;
    if (!this.options.enabled) return this.count('disabled');
    if (net.isIP(ip) === 0) return this.count('invalid');
    if (signal?.aborted) return this.count('aborted');
    const cached = this.cached(ip);
    if (cached !== undefined) {
      this.counters.cacheHits += 1;
      return Promise.resolve(cached);
    }
    let query = this.pending.get(ip);
    if (query !== undefined) {
      this.counters.coalesced += 1;
    } else {
      if (!this.takeToken()) return this.count('rateLimited');
      query = this.query(ip).finally(() => this.pending.delete(ip));
      this.pending.set(ip, query);
    }
    return signal === undefined ? query : this.untilAborted(query, signal);
  }

  stats(): ReverseDnsStats {
    return { ...this.counters, inFlight: this.pending.size, cacheSize: this.cache.size };
  }

  private count(counter: Counter): Promise<string> {
    this.counters[counter] += 1;
    return Promise.resolve('');
  }

  /** Resolves '' when `signal` aborts first; the query itself runs on (others may share it). */
  private untilAborted(query: Promise<string>, signal: AbortSignal): Promise<string> {
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.counters.aborted += 1;
        resolve('');
      };
      signal.addEventListener('abort', onAbort, { once: true });
      void query.then((name) => {
        signal.removeEventListener('abort', onAbort);
        resolve(name);
      });
    });
  }

  /**
   * Cancels every query in flight (they answer ''). Without it, a query still running at shutdown
   * keeps its resolver socket and its timer, and with them the process, alive for up to timeoutMs
   * after the daemon has stopped.
   */
  close(): void {
    for (const q of this.inFlight) q.cancel();
    this.inFlight.clear();
  }

  private async query(ip: string): Promise<string> {
    this.counters.queries += 1;
    const timeoutMs = Math.max(1, this.options.timeoutMs);
    const resolver = new dnsPromises.Resolver({ timeout: timeoutMs, tries: 1 });
    if (this.options.servers.length > 0) resolver.setServers(this.options.servers);
    let timer: NodeJS.Timeout | undefined;
    let cancel!: () => void;
    const timedOut = new Promise<{ timeout: true }>((resolve) => {
      timer = setTimeout(() => resolve({ timeout: true }), timeoutMs);
      cancel = () => {
        clearTimeout(timer);
        resolve({ timeout: true });
      };
    });
    const entry = { cancel };
    this.inFlight.add(entry);
    try {
      const result = await Promise.race([
        resolver.reverse(ip).then(
          (names) => ({ names }),
          (err: NodeJS.ErrnoException) => ({ err }),
        ),
        timedOut,
      ]);
      if ('timeout' in result) {
        resolver.cancel();
        this.counters.timeouts += 1;
        return this.remember(ip, '', this.negativeTtlMs);
      }
      if ('err' in result) {
        if (result.err.code === 'ETIMEOUT') this.counters.timeouts += 1;
        else if (NOT_FOUND.has(result.err.code ?? '')) this.counters.notFound += 1;
        else this.counters.errors += 1;
        return this.remember(ip, '', this.negativeTtlMs);
      }
      const name = result.names.map(cleanHostname).find((n) => n !== '') ?? '';
      if (name === '') {
        this.counters.notFound += 1;
        return this.remember(ip, '', this.negativeTtlMs);
      }
      this.counters.resolved += 1;
      return this.remember(ip, name, this.ttlMs);
    } catch {
      this.counters.errors += 1;
      return '';
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(entry);
    }
  }

  private cached(ip: string): string | undefined {
    const entry = this.cache.get(ip);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= performance.now()) {
      this.cache.delete(ip);
      return undefined;
    }
    // Most recently used goes last: Map keeps insertion order.
    this.cache.delete(ip);
    this.cache.set(ip, entry);
    return entry.name;
  }

  private remember(ip: string, name: string, ttlMs: number): string {
    if (this.cacheSize === 0 || ttlMs <= 0) return name;
    this.cache.delete(ip);
    this.cache.set(ip, { name, expiresAt: performance.now() + ttlMs });
    while (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
    return name;
  }

  private takeToken(): boolean {
    const rate = Math.max(0, this.options.maxPerSecond);
    const now = performance.now();
    this.tokens = Math.min(rate, this.tokens + ((now - this.refilledAt) / 1000) * rate);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
