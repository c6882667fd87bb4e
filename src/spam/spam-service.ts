import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { SpamConfig } from '../config/config-schema.js';
import { parseInfoHash } from '../model/infohash.js';
import { nameKey, type ListPage, type ListQuery, type ReportResult, type SpamEntry, type SpamStore, type SpamVerdict, type SpamVerdicts } from './ports.js';
import { SpamError } from './spam-errors.js';

/** Longest accepted values (characters). */
export const LIMITS = { name: 1024, category: 64, creator: 128 } as const;

export interface ReportRequest {
  /** Torrent: the torrent's name. */
  name?: string | undefined;
  category?: string | undefined;
  /** Hash: the infohash, 40 hex characters. */
  hash?: string | undefined;
  /** Creator: who reports (a user name on the reporting site; empty or "Anonymous" for nobody in particular). */
  creator?: string | undefined;
  /** The API key's name, or "open" / "cli". */
  site: string;
  ip: string;
}

export interface SpamServiceStats {
  reports: number;
  counted: number;
  duplicates: number;
  rateLimited: number;
}

function text(value: string | undefined, what: string, max: number): string {
  const v = value ?? '';
  if ([...v].length > max) throw new SpamError('INVALID_PARAMETER', `${what} is longer than ${max} characters`);
  return v;
}

/** The hash of a request: 40 hex characters, any case. */
export function requireHash(value: string | undefined, param = 'Hash'): string {
  const ih = parseInfoHash(value);
  if (!ih) throw new SpamError('INVALID_INFOHASH', `${param} must be 40 hexadecimal characters (the torrent's infohash)`);
  return ih;
}

/**
 * Reports (with their rate limits and the "a reporter counts once per torrent" identity) and the
 * queries behind the lists, checks and badges.
 */
export class SpamService implements SpamVerdicts {
  readonly stats: SpamServiceStats = { reports: 0, counted: 0, duplicates: 0, rateLimited: 0 };
  private readonly perReporter: RateLimiterMemory;
  private readonly perIp: RateLimiterMemory;

  constructor(
    private readonly store: SpamStore,
    private readonly options: () => SpamConfig,
    private readonly now: () => number = Date.now,
  ) {
    const rl = options().rateLimit;
    this.perReporter = new RateLimiterMemory({ keyPrefix: 'reporter', points: rl.perReporter.points, duration: rl.perReporter.durationSeconds });
    this.perIp = new RateLimiterMemory({ keyPrefix: 'ip', points: rl.perIp.points, duration: rl.perIp.durationSeconds });
  }

  /**
   * Who counts once per torrent: the site plus the Creator, or, for an anonymous report (Creator
   * empty or "Anonymous"), the site plus the reporting IP address.
   */
  static reporterOf(site: string, creator: string, ip: string): string {
    const c = nameKey(creator.trim());
    return c === '' || c === 'anonymous' ? `${site}|ip:${ip}` : `${site}|creator:${c}`;
  }

  private async consume(limiter: RateLimiterMemory, key: string, what: string): Promise<void> {
    try {
      await limiter.consume(key, 1);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      this.stats.rateLimited++;
      const retryAfterSeconds = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
      throw new SpamError('RATE_LIMITED', `too many reports from this ${what}: try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
    }
  }

  async report(r: ReportRequest): Promise<ReportResult> {
    const infohash = requireHash(r.hash);
    const name = text(r.name, 'Torrent', LIMITS.name);
    const category = text(r.category, 'Category', LIMITS.category);
    const creator = text(r.creator, 'Creator', LIMITS.creator);
    const reporter = SpamService.reporterOf(r.site, creator, r.ip);
    await this.consume(this.perIp, r.ip, 'address');
    await this.consume(this.perReporter, reporter, 'reporter');
    this.stats.reports++;
    const result = this.store.report({
      infohash,
      name,
      category,
      reporter,
      site: r.site,
      creator,
      ip: r.ip,
      weight: 1,
      at: Math.floor(this.now() / 1000),
    });
    if (result.counted) this.stats.counted++;
    else this.stats.duplicates++;
    return result;
  }

  list(q: ListQuery): ListPage {
    return this.store.list(q);
  }

  /** Torrents with this name (case-insensitive, exact otherwise). */
  byName(name: string): SpamEntry[] {
    return this.store.byName(nameKey(name), this.options().maxNameMatches);
  }

  byHash(infohash: string): SpamEntry | undefined {
    return this.store.byHash(infohash);
  }

  isListed(count: number): boolean {
    return count > this.options().listThreshold;
  }

  verdict(infohash: string): SpamVerdict | undefined {
    const e = this.store.byHash(infohash.toLowerCase());
    if (!e) return undefined;
    return { infohash: e.infohash, count: e.count, listed: this.isListed(e.count), reasons: e.reasons };
  }
}
