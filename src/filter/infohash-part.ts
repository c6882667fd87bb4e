import { mergeSorted } from './filter-sets.js';
import type { Core, FilterDefinition } from './filter-core.js';
import { InfohashIndex } from './infohash-index.js';

/**
 * The infohash part of the compiled filters (see CompiledFilters): which filters list each
 * infohash, as an InfohashIndex from infohash to the id of an interned filter list. Built once per
 * full compile; an API change of one filter's list makes a patched copy (copy-on-write).
 */

const EMPTY = new Int32Array(0);

/** The infohash part: which filters list each infohash. Replaced (copy-on-write) by API changes. */
export interface InfohashPart {
  /** Infohash → set id (> 0). */
  readonly index: InfohashIndex;
  /** Set id → its filters: ihFlat[ihStart[id] .. ihStart[id + 1]), ascending. Id 0 = empty. */
  readonly ihStart: Int32Array;
  readonly ihFlat: Int32Array;
  readonly setCount: number;
  /** List text → set id. Shared and only appended to; an id is checked against ihFlat before use. */
  readonly interned: Map<string, number>;
  /** Enabled filter index → number of infohashes it lists. */
  readonly listCount: Int32Array;
}

/** Compiles the infohash lists of the enabled definitions (`core` from the same definitions). */
export function buildInfohashPart(definitions: readonly FilterDefinition[], core: Core): InfohashPart {
  const lists = new Map<string, number[]>();
  const listCount = new Int32Array(core.names.length);
  definitions.forEach((d, i) => {
    const f = core.enabledIndex[i] as number;
    if (f < 0) return;
    for (const ih of d.infohashes) {
      const key = ih.toLowerCase();
      let list = lists.get(key);
      if (!list) lists.set(key, (list = []));
      if (list[list.length - 1] !== f) {
        list.push(f);
        listCount[f] = (listCount[f] as number) + 1;
      }
    }
  });
  const interned = new Map<string, number>();
  const starts = [0, 0];
  const flat: number[] = [];
  const entries: Array<[string, number]> = [];
  // Ids 1..n: each filter alone (the matcher recognises them by id).
  for (let f = 0; f < core.names.length; f++) {
    interned.set(String(f), f + 1);
    flat.push(f);
    starts.push(flat.length);
  }
  for (const [key, list] of lists) {
    const text = list.join(',');
    let id = interned.get(text);
    if (id === undefined) {
      id = starts.length - 1;
      interned.set(text, id);
      for (const f of list) flat.push(f);
      starts.push(flat.length);
    }
    entries.push([key, id]);
  }
  return {
    index: InfohashIndex.build(entries, starts.length - 2),
    ihStart: Int32Array.from(starts),
    ihFlat: Int32Array.from(flat),
    setCount: starts.length - 1,
    interned,
    listCount,
  };
}

/**
 * The infohash part after enabled filter `f` adds or deletes `infohash` (this part is unchanged):
 * 'same' when the list already says so, undefined when the change needs a full compile (it would
 * turn a watch-all filter, empty list, into a listing one or the reverse).
 */
export function patchInfohashPart(ih: InfohashPart, f: number, infohash: string, op: 'add' | 'delete'): InfohashPart | 'same' | undefined {
  const key = infohash.toLowerCase();
  const cur = ih.index.get(key);
  const list = cur === 0 ? EMPTY : ih.ihFlat.subarray(ih.ihStart[cur], ih.ihStart[cur + 1]);
  const has = list.includes(f);
  const count = ih.listCount[f] as number;
  let next: Int32Array;
  if (op === 'add') {
    if (has) return 'same';
    if (count === 0) return undefined;
    next = mergeSorted(list, [f]);
  } else {
    if (!has) return 'same';
    if (count === 1) return undefined;
    next = list.filter((x) => x !== f);
  }
  const listCount = ih.listCount.slice();
  listCount[f] = count + (op === 'add' ? 1 : -1);
  let { ihStart, ihFlat, setCount } = ih;
  let id = 0;
  if (next.length > 0) {
    const text = next.join(',');
    const known = ih.interned.get(text);
    if (known !== undefined && known < setCount && sameList(ihFlat, ihStart, known, next)) {
      id = known;
    } else {
      id = setCount++;
      const start = new Int32Array(setCount + 1);
      start.set(ihStart);
      const flat = new Int32Array(ihFlat.length + next.length);
      flat.set(ihFlat);
      flat.set(next, ihFlat.length);
      start[setCount] = flat.length;
      ihStart = start;
      ihFlat = flat;
      ih.interned.set(text, id);
    }
  }
  const index = ih.index.withChanges([[key, id]], setCount - 1);
  return { index, ihStart, ihFlat, setCount, interned: ih.interned, listCount };
}

function sameList(flat: Int32Array, start: Int32Array, id: number, list: Int32Array): boolean {
  const from = start[id] as number;
  if ((start[id + 1] as number) - from !== list.length) return false;
  for (let i = 0; i < list.length; i++) if (flat[from + i] !== list[i]) return false;
  return true;
}
