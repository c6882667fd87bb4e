/**
 * A set of at most `max` values that forgets the oldest insertion first: a ring of insertion order
 * plus a Set for membership, O(1) per add (no iterator to find the oldest).
 */
export class BoundedSet<T> {
  private readonly set = new Set<T>();
  private readonly ring: T[] = [];
  private head = 0;

  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError('max must be >= 1');
  }

  get size(): number {
    return this.set.size;
  }

  has(value: T): boolean {
    return this.set.has(value);
  }

  /** Returns true if the value was not present. */
  add(value: T): boolean {
    if (this.set.has(value)) return false;
    if (this.ring.length < this.max) this.ring.push(value);
    else {
      this.set.delete(this.ring[this.head]!);
      this.ring[this.head] = value;
      this.head = (this.head + 1) % this.max;
    }
    this.set.add(value);
    return true;
  }

  values(): IterableIterator<T> {
    return this.set.values();
  }

  /** Up to `n` distinct values chosen uniformly at random (partial Fisher-Yates over a copy). */
  sample(n: number, random: () => number = Math.random): T[] {
    const all = [...this.set];
    const k = Math.min(n, all.length);
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(random() * (all.length - i));
      const tmp = all[i]!;
      all[i] = all[j]!;
      all[j] = tmp;
    }
    all.length = k;
    return all;
  }
}
