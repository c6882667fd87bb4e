import type { FilterChangeListener, FilterRegistry } from './filter-registry.js';

/**
 * Calls `listener` for every infohash that some enabled filter starts listing (an API add, a config
 * reload), so the DHT looks it up within seconds. An API add/delete names its infohash: no need to
 * compare the whole watched set. Returns the unsubscribe function.
 */
export function onNewlyWatched(filters: Pick<FilterRegistry, 'compiled' | 'onChange'>, listener: (infohash: string) => void): () => void {
  let before = filters.compiled;
  const onChange: FilterChangeListener = (compiled, change) => {
    if (change !== undefined) {
      if (change.op === 'add' && !before.listsInfohash(change.infohash)) listener(change.infohash);
    } else {
      for (const ih of compiled.watchedInfohashes()) if (!before.listsInfohash(ih)) listener(ih);
    }
    before = compiled;
  };
  return filters.onChange(onChange);
}
