import type { FilterConfig } from '../config/config-schema.js';
import type { OverlayChange } from '../store/filter-overlay-repository.js';
import { FilterError } from './filter-errors.js';
import { CompiledFilters } from './compiled-filters.js';

/** A filter with its effective infohash list: the config's, plus API adds, minus API deletes. */
export type EffectiveFilter = FilterConfig & { infohashes: string[] };

/**
 * Where the registry persists API changes: the SQLite overlay table (synchronous), or PostgreSQL
 * through a cache (record() resolves once the row is stored; list() is the cache).
 */
export interface FilterOverlayStore {
  record(filter: string, infohash: string, op: 'add' | 'delete'): void | Promise<void>;
  list(): OverlayChange[];
}

/** Tells whether the daemon knows a torrent and its metadata (SQLite at once, PostgreSQL later). */
export interface TorrentLookup {
  get(infohash: string): { state: 'unknown' | 'pending' | 'known' } | Promise<{ state: 'unknown' | 'pending' | 'known' }>;
}

/** `then(value)` now when `v` is a value, after it when it is a promise (SQLite stays synchronous). */
function after<T, R>(v: T | Promise<T>, then: (value: T) => R | Promise<R>): R | Promise<R> {
  return v instanceof Promise ? v.then(then) : then(v);
}

export function applyOverlay(filters: readonly FilterConfig[], overlay: readonly OverlayChange[]): EffectiveFilter[] {
  const byFilter = new Map<string, OverlayChange[]>();
  for (const c of overlay) {
    let list = byFilter.get(c.filter);
    if (!list) byFilter.set(c.filter, (list = []));
    list.push(c);
  }
  return filters.map((f) => {
    const set = new Set(f.infohashes);
    for (const c of byFilter.get(f.name) ?? []) {
      if (c.op === 'add') set.add(c.infohash);
      else set.delete(c.infohash);
    }
    return { ...f, infohashes: [...set].sort() };
  });
}

/**
 * Told of every new compiled set; `change` is the one API add/delete that made it (absent after a
 * config reload: compare the watched infohashes yourself).
 */
export type FilterChangeListener = (compiled: CompiledFilters, change?: { infohash: string; op: 'add' | 'delete' }) => void;

/**
 * Holds the filters and their compiled matcher. Every change builds a new CompiledFilters off to
 * the side and swaps it in with one assignment, so a concurrent check always sees a complete set.
 * A config reload compiles everything; an API add/delete patches the previous set's infohash part
 * (CompiledFilters.withInfohashChange: milliseconds, not a recompile), except when it turns a
 * filter that watches every torrent into one with a list, which recompiles.
 */
export class FilterRegistry {
  private config: readonly FilterConfig[];
  private effective: EffectiveFilter[] = [];
  private compiledSet: CompiledFilters = new CompiledFilters([]);
  private readonly listeners = new Set<FilterChangeListener>();

  constructor(
    private readonly deps: { overlay: FilterOverlayStore; torrents: TorrentLookup },
    filters: readonly FilterConfig[],
  ) {
    this.config = filters;
    this.rebuild();
  }

  get compiled(): CompiledFilters {
    return this.compiledSet;
  }

  list(): readonly EffectiveFilter[] {
    return this.effective;
  }

  get(name: string): EffectiveFilter | undefined {
    return this.effective.find((f) => f.name === name);
  }

  onChange(listener: FilterChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Replaces the config's filters (reload). API changes persist and apply on top. */
  setConfig(filters: readonly FilterConfig[]): void {
    this.config = filters;
    this.rebuild();
  }

  private rebuild(): void {
    const effective = applyOverlay(this.config, this.deps.overlay.list());
    const compiled = new CompiledFilters(effective);
    this.effective = effective;
    this.compiledSet = compiled;
    for (const l of this.listeners) l(compiled);
  }

  /** The filter named `name`, or a FilterError FILTER_NOT_FOUND. */
  require(name: string): EffectiveFilter {
    const f = this.get(name);
    if (!f) throw new FilterError('FILTER_NOT_FOUND', `Capture Filter "${name}" not found`);
    return f;
  }

  /**
   * API addInfohash: the torrent must be known with metadata. Adding one already there is fine.
   * Synchronous on SQLite; a promise on PostgreSQL (the change applies once it is stored).
   */
  addInfohash(name: string, infohash: string): void | Promise<void> {
    this.require(name);
    return after(this.deps.torrents.get(infohash), ({ state }) => {
      if (state === 'unknown') {
        throw new FilterError('INFOHASH_NOT_FOUND', `torrent ${infohash} is not in the database: add it first (POST /torrents/addInfohash/ or /torrents/addTorrent/)`);
      }
      if (state === 'pending') {
        throw new FilterError('TORRENT_FILE_NOT_FOUND', `metadata of torrent ${infohash} has not been fetched yet: try again later or upload the .torrent file`);
      }
      this.require(name);
      // Recorded even when already listed: an explicit add survives a later removal from the config file.
      return after(this.deps.overlay.record(name, infohash, 'add'), () => {
        if (!this.require(name).infohashes.includes(infohash)) this.change(name, infohash, 'add');
      });
    });
  }

  /** API deleteInfohash: a filter that has infohashes must keep at least one. */
  deleteInfohash(name: string, infohash: string): void | Promise<void> {
    const f = this.require(name);
    if (!f.infohashes.includes(infohash)) {
      throw new FilterError('INFOHASH_NOT_FOUND', `infohash ${infohash} is not in Capture Filter "${name}"`);
    }
    if (f.infohashes.length <= 1) {
      throw new FilterError('FILTER_WITHOUT_INFOHASHES_NOT_ALLOWED', `Capture Filter "${name}" must keep at least one infohash`);
    }
    return after(this.deps.overlay.record(name, infohash, 'delete'), () => {
      // Another change may have landed while the row was stored (PostgreSQL): apply only what is still to do.
      if (this.require(name).infohashes.includes(infohash)) this.change(name, infohash, 'delete');
    });
  }

  /**
   * Applies one recorded API change to the effective lists (what applyOverlay on the updated
   * overlay gives) and patches the compiled set; the previous list and filter objects are kept.
   */
  private change(name: string, infohash: string, op: 'add' | 'delete'): void {
    const i = this.effective.findIndex((f) => f.name === name);
    const f = this.effective[i] as EffectiveFilter;
    const list = f.infohashes;
    let infohashes: string[];
    if (op === 'add') {
      let lo = 0;
      let hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((list[mid] as string) < infohash) lo = mid + 1;
        else hi = mid;
      }
      infohashes = list.slice();
      if (list[lo] !== infohash) infohashes.splice(lo, 0, infohash);
    } else {
      infohashes = list.filter((h) => h !== infohash);
    }
    const effective = this.effective.slice();
    effective[i] = { ...f, infohashes };
    const compiled = this.compiledSet.withInfohashChange(i, infohash, op) ?? new CompiledFilters(effective);
    this.effective = effective;
    this.compiledSet = compiled;
    for (const l of this.listeners) l(compiled, { infohash, op });
  }
}
