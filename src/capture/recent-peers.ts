/**
 * Remembers when each (ip, port, infohash) was last scheduled, to capture a peer again only after
 * the recapture interval. Bounded: the oldest entries go first (Map keeps insertion order, and a
 * refreshed entry is re-inserted at the end).
 */
export class RecentPeers {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly intervalMs: number,
    private readonly maxEntries = 1_000_000,
  ) {}

  static key(ip: string, port: number, infohash: string): string {
    return `${infohash}|${ip}|${port}`;
  }

  /** True (and records `now`) when the peer is due; false when it was scheduled within the interval. */
  admit(key: string, now: number): boolean {
    const last = this.seen.get(key);
    if (last !== undefined && now - last < this.intervalMs) return false;
    this.seen.delete(key);
    this.seen.set(key, now);
    if (this.seen.size > this.maxEntries) {
      const oldest = this.seen.keys().next().value as string;
      this.seen.delete(oldest);
    }
    return true;
  }

  /** Forgets a peer (e.g. a capture that could not even start), so it may be tried again. */
  forget(key: string): void {
    this.seen.delete(key);
  }

  get size(): number {
    return this.seen.size;
  }
}
