import type { FilterOverlayStore, TorrentLookup } from '../../src/filter/filter-registry.js';
import type { OverlayChange } from '../../src/store/filter-overlay-repository.js';

/**
 * In-memory stand-in for SqliteFilterOverlayRepository with the same semantics: one row per
 * (filter, infohash), the last operation wins, list() ordered by filter then infohash.
 */
export class FakeOverlayStore implements FilterOverlayStore {
  private readonly rows = new Map<string, OverlayChange>();
  /** Every record() call, in order. */
  readonly calls: Array<{ filter: string; infohash: string; op: 'add' | 'delete' }> = [];
  private clock = 0;

  constructor(initial: ReadonlyArray<{ filter: string; infohash: string; op: 'add' | 'delete' }> = []) {
    for (const c of initial) this.put(c.filter, c.infohash, c.op);
  }

  private put(filter: string, infohash: string, op: 'add' | 'delete'): void {
    this.rows.set(`${filter}\u0000${infohash}`, { filter, infohash, op, changedAt: ++this.clock });
  }

  record(filter: string, infohash: string, op: 'add' | 'delete'): void {
    this.calls.push({ filter, infohash, op });
    this.put(filter, infohash, op);
  }

  list(): OverlayChange[] {
    return [...this.rows.values()]
      .map((r) => ({ ...r }))
      .sort((a, b) => (a.filter === b.filter ? cmp(a.infohash, b.infohash) : cmp(a.filter, b.filter)));
  }

  reset(filter: string): number {
    let n = 0;
    for (const [k, r] of this.rows) {
      if (r.filter === filter) {
        this.rows.delete(k);
        n++;
      }
    }
    return n;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** In-memory torrent catalogue: infohashes are unknown unless set pending or known. */
export class FakeTorrentLookup implements TorrentLookup {
  private readonly states = new Map<string, 'pending' | 'known'>();

  constructor(known: Iterable<string> = []) {
    for (const ih of known) this.states.set(ih, 'known');
  }

  set(infohash: string, state: 'pending' | 'known'): this {
    this.states.set(infohash, state);
    return this;
  }

  get(infohash: string): { state: 'unknown' | 'pending' | 'known' } {
    return { state: this.states.get(infohash) ?? 'unknown' };
  }
}
