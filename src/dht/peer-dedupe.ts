/**
 * Short-window de-duplication of found peers on (ip, port, infohash): the same peer reported by
 * several nodes of one lookup, or by an announce and a lookup, goes downstream once per window.
 * Bounded: at most `max` keys, the oldest forgotten first. (The pipeline de-duplicates for good.)
 */
export class PeerDedupe {
  private readonly seen = new Map<string, number>(); // key → first seen; insertion order = time order

  constructor(
    private readonly windowMs = 10 * 60_000,
    private readonly max = 100_000,
  ) {}

  get size(): number {
    return this.seen.size;
  }

  /** True the first time a key is offered within the window. */
  isNew(ip: string, port: number, infohash: string, now = Date.now()): boolean {
    for (const [k, t] of this.seen) {
      if (now - t < this.windowMs) break;
      this.seen.delete(k);
    }
    const key = `${ip}|${port}|${infohash}`;
    if (this.seen.has(key)) return false;
    this.seen.set(key, now);
    if (this.seen.size > this.max) {
      const oldest = this.seen.keys().next();
      if (!oldest.done) this.seen.delete(oldest.value);
    }
    return true;
  }
}
