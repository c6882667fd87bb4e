/**
 * Interned sets of filter indexes. A set is a sorted, duplicate-free Int32Array of indexes into
 * the enabled filters; equal sets get the same small integer id, so the matcher can work with ids
 * and tables indexed by them instead of per-set arrays. Id 0 is always the empty set.
 */
export class SetInterner {
  private readonly ids = new Map<string, number>();
  private readonly unions = new Map<string, number>();
  readonly sets: Int32Array[] = [];

  constructor() {
    this.intern(new Int32Array(0));
  }

  get size(): number {
    return this.sets.length;
  }

  /** The id of a sorted, duplicate-free list (the array is kept: do not mutate it afterwards). */
  intern(sorted: Int32Array): number {
    const key = sorted.join(',');
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.sets.length;
      this.sets.push(sorted);
      this.ids.set(key, id);
    }
    return id;
  }

  get(id: number): Int32Array {
    return this.sets[id] as Int32Array;
  }

  union(a: number, b: number): number {
    if (a === b || b === 0) return a;
    if (a === 0) return b;
    const key = a < b ? `${a},${b}` : `${b},${a}`;
    let id = this.unions.get(key);
    if (id === undefined) {
      id = this.intern(mergeSorted(this.get(a), this.get(b)));
      this.unions.set(key, id);
    }
    return id;
  }
}

/** Sorted union of two sorted, duplicate-free lists. */
export function mergeSorted(a: ArrayLike<number>, b: ArrayLike<number>): Int32Array {
  const out = new Int32Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as number;
    const y = b[j] as number;
    if (x < y) {
      out[k++] = x;
      i++;
    } else if (y < x) {
      out[k++] = y;
      j++;
    } else {
      out[k++] = x;
      i++;
      j++;
    }
  }
  while (i < a.length) out[k++] = a[i++] as number;
  while (j < b.length) out[k++] = b[j++] as number;
  return k === out.length ? out : out.slice(0, k);
}

/** Sorted intersection of two sorted, duplicate-free lists. */
export function intersectSorted(a: Int32Array, b: Int32Array): Int32Array {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as number;
    const y = b[j] as number;
    if (x < y) i++;
    else if (y < x) j++;
    else {
      out.push(x);
      i++;
      j++;
    }
  }
  return Int32Array.from(out);
}
