import ipaddr from 'ipaddr.js';

/**
 * Build-time binary prefix tree over address bits (one bit per level), stored in typed arrays.
 * Each prefix carries a value (a set id chosen by the caller, 0 = none); `pushDown` merges every
 * value into the prefixes below it, and `ranges` turns the tree into the address ranges that
 * PrefixTable searches. The tree itself is not used for lookups.
 */
export class CidrTrie {
  private left: Int32Array;
  private right: Int32Array;
  private value: Int32Array;
  private size = 1;

  constructor(readonly bits: 32 | 128, initialCapacity = 1024) {
    this.left = new Int32Array(initialCapacity).fill(-1);
    this.right = new Int32Array(initialCapacity).fill(-1);
    this.value = new Int32Array(initialCapacity);
  }

  get nodeCount(): number {
    return this.size;
  }

  private grow(): void {
    const cap = this.left.length * 2;
    const l = new Int32Array(cap).fill(-1);
    const r = new Int32Array(cap).fill(-1);
    const v = new Int32Array(cap);
    l.set(this.left);
    r.set(this.right);
    v.set(this.value);
    this.left = l;
    this.right = r;
    this.value = v;
  }

  /** Returns the node of a prefix, creating the path to it (host bits beyond the prefix are ignored). */
  insert(bytes: Uint8Array, prefixLength: number): number {
    let node = 0;
    for (let i = 0; i < prefixLength; i++) {
      const bit = ((bytes[i >> 3] as number) >> (7 - (i & 7))) & 1;
      let next = (bit ? this.right : this.left)[node] as number;
      if (next < 0) {
        if (this.size === this.left.length) this.grow();
        next = this.size++;
        (bit ? this.right : this.left)[node] = next;
      }
      node = next;
    }
    return node;
  }

  setValue(node: number, value: number): void {
    this.value[node] = value;
  }

  getValue(node: number): number {
    return this.value[node] as number;
  }

  /** Visits nodes parent-first and sets each child's value to merge(parent's, child's own). */
  pushDown(merge: (parentValue: number, ownValue: number) => number): void {
    const stack: number[] = [0];
    while (stack.length > 0) {
      const node = stack.pop() as number;
      const pv = this.value[node] as number;
      for (const child of [this.left[node] as number, this.right[node] as number]) {
        if (child < 0) continue;
        if (pv !== 0) this.value[child] = merge(pv, this.value[child] as number);
        stack.push(child);
      }
    }
  }

  /**
   * The (pushed-down) tree as a partition of the address space into ranges: `starts` ascending
   * from 0, `values[i]` the value of every address in [starts[i], starts[i + 1]) — the value of
   * the deepest prefix containing it. Adjacent ranges have different values.
   */
  ranges(): { starts: bigint[]; values: number[] } {
    const starts: bigint[] = [];
    const values: number[] = [];
    let last = -1;
    const emit = (start: bigint, v: number): void => {
      if (v === last) return;
      starts.push(start);
      values.push(v);
      last = v;
    };
    const walk = (node: number, depth: number, start: bigint, inherited: number): void => {
      const own = this.value[node] as number;
      const v = own !== 0 ? own : inherited;
      const l = this.left[node] as number;
      const r = this.right[node] as number;
      if (l < 0 && r < 0) {
        emit(start, v);
        return;
      }
      const half = 1n << BigInt(this.bits - depth - 1);
      if (l < 0) emit(start, v);
      else walk(l, depth + 1, start, v);
      if (r < 0) emit(start + half, v);
      else walk(r, depth + 1, start + half, v);
    };
    walk(0, 0, 0n, 0);
    return { starts, values };
  }
}

/**
 * Longest-prefix lookup over a CidrTrie's ranges, 16 address bits per level.
 *
 * `top` is indexed by the first 16 bits; each entry refers to a node for the next 16 bits. A node
 * lists where, within its block, the value changes: sorted 16-bit keys (the first is 0) with, for
 * each, a value (≥ 0: the answer) or the NOT of a child node for the next 16 bits (when the
 * ranges change again inside that one 16-bit step). A lookup counts the node's keys ≤ the
 * address's 16 bits. Nodes hold 4 entries (padded with the key 65536, which no address reaches),
 * so the count is three subtractions and shifts, with no branch to mispredict; a node with more
 * entries (rare) starts with the key -(entry count) and is binary-searched. Blocks without any
 * change share one constant node per value.
 *
 * Layout of `nodes`: per 4-entry node 8 ints, [k0 k1 k2 k3 v0 v1 v2 v3]; a big node with n
 * entries: [-n, k0 … k(n-1), v0 … v(n-1)] (padded to a multiple of 4). IPv4 needs the top table
 * and one node level; IPv6 as many levels as its longest prefix (a /48 takes 3 reads).
 */
export class PrefixTable {
  readonly top: Int32Array;
  readonly nodes: Int32Array;

  constructor(trie: CidrTrie) {
    const { starts, values } = trie.ranges();
    const b = new NodeBuilder(trie.bits, starts, values);
    this.top = b.top;
    this.nodes = b.nodes.slice(0, b.used);
  }

  get byteLength(): number {
    return this.top.byteLength + this.nodes.byteLength;
  }

  /** The value of the deepest prefix containing the 4-byte address (0 if none). */
  lookup4(b: Uint8Array): number {
    const base = ~(this.top[((b[0] as number) << 8) | (b[1] as number)] as number);
    const c = ((b[2] as number) << 8) | (b[3] as number);
    const nodes = this.nodes;
    if ((nodes[base] as number) < 0) return this.big(base, c);
    return nodes[
      base + 4 +
        (((nodes[base + 1] as number) - c - 1) >>> 31) +
        (((nodes[base + 2] as number) - c - 1) >>> 31) +
        (((nodes[base + 3] as number) - c - 1) >>> 31)
    ] as number;
  }

  /** The value of the deepest prefix containing the 16-byte address (0 if none). */
  lookup6(b: Uint8Array): number {
    let v = this.top[((b[0] as number) << 8) | (b[1] as number)] as number;
    const nodes = this.nodes;
    for (let i = 2; v < 0; i += 2) {
      const base = ~v;
      const c = ((b[i] as number) << 8) | (b[i + 1] as number);
      if ((nodes[base] as number) < 0) v = this.big(base, c);
      else {
        v = nodes[
          base + 4 +
            (((nodes[base + 1] as number) - c - 1) >>> 31) +
            (((nodes[base + 2] as number) - c - 1) >>> 31) +
            (((nodes[base + 3] as number) - c - 1) >>> 31)
        ] as number;
      }
    }
    return v;
  }

  /** Binary search in a node with more than 4 entries. */
  private big(base: number, c: number): number {
    const nodes = this.nodes;
    const n = -(nodes[base] as number);
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((nodes[base + 1 + mid] as number) <= c) lo = mid;
      else hi = mid - 1;
    }
    return nodes[base + 1 + n + lo] as number;
  }
}

/** Builds PrefixTable's arrays from a partition (`starts` ascending from 0, one value each). */
class NodeBuilder {
  readonly top = new Int32Array(1 << 16);
  nodes = new Int32Array(1 << 12);
  used = 0;
  private readonly constant = new Map<number, number>();

  constructor(
    private readonly bits: number,
    private readonly starts: readonly bigint[],
    private readonly values: readonly number[],
  ) {
    // The top level: 2^16 blocks of the whole space, each a node.
    const shift = BigInt(bits - 16);
    let p = 0;
    for (let hi = 0; hi < 1 << 16; hi++) {
      const start = BigInt(hi) << shift;
      while (p + 1 < starts.length && (starts[p + 1] as bigint) <= start) p++;
      const end = BigInt(hi + 1) << shift;
      let q = p + 1;
      while (q < starts.length && (starts[q] as bigint) < end) q++;
      // Ranges p .. q-1 intersect this block; p covers its start.
      this.top[hi] = ~this.node(start, bits - 16, p, q);
      p = q - 1;
    }
  }

  private alloc(n: number): number {
    while (this.used + n > this.nodes.length) {
      const grown = new Int32Array(this.nodes.length * 2);
      grown.set(this.nodes);
      this.nodes = grown;
    }
    const at = this.used;
    this.used += n;
    return at;
  }

  /**
   * The node for the block [start, start + 2^blockBits), split into 2^16 steps, where ranges
   * p .. q-1 intersect it (p covers its start). Returns its offset in `nodes`.
   */
  private node(start: bigint, blockBits: number, p: number, q: number): number {
    if (q === p + 1) {
      const v = this.values[p] as number;
      let at = this.constant.get(v);
      if (at === undefined) {
        at = this.emit([0], [v]);
        this.constant.set(v, at);
      }
      return at;
    }
    const stepBits = BigInt(blockBits - 16);
    const keys: number[] = [];
    const vals: number[] = [];
    // Walk the steps where something changes: a range boundary at a step start changes the value;
    // boundaries inside one step need a child node for that step.
    let i = p; // the range covering the current position
    let k = 0; // current step
    for (;;) {
      const stepStart = start + (BigInt(k) << stepBits);
      const stepEnd = start + (BigInt(k + 1) << stepBits);
      while (i + 1 < q && (this.starts[i + 1] as bigint) <= stepStart) i++;
      let j = i + 1;
      while (j < q && (this.starts[j] as bigint) < stepEnd) j++;
      // Ranges i .. j-1 intersect step k.
      const v = j === i + 1 ? (this.values[i] as number) : ~this.node(stepStart, blockBits - 16, i, j);
      // A child covers its one step only: the step after it always gets its own entry.
      if (keys.length === 0 || vals[vals.length - 1] !== v || v < 0 || (vals[vals.length - 1] as number) < 0) {
        keys.push(k);
        vals.push(v);
      }
      // Next step where something can change: the step holding the next boundary, or right
      // after a child step.
      if (j === i + 1 && j >= q) break;
      let next: number;
      if (j > i + 1) {
        next = k + 1;
        i = j - 1;
      } else {
        const b = this.starts[j] as bigint;
        next = Number((b - start) >> stepBits);
      }
      if (next >= 1 << 16) break;
      k = next;
    }
    return this.emit(keys, vals);
  }

  private emit(keys: number[], vals: number[]): number {
    const n = keys.length;
    if (n <= 4) {
      const at = this.alloc(8);
      for (let e = 0; e < 4; e++) {
        this.nodes[at + e] = e < n ? (keys[e] as number) : 65536;
        this.nodes[at + 4 + e] = e < n ? (vals[e] as number) : (vals[n - 1] as number);
      }
      return at;
    }
    const at = this.alloc(Math.ceil((1 + 2 * n) / 4) * 4);
    this.nodes[at] = -n;
    keys.forEach((key, e) => {
      this.nodes[at + 1 + e] = key;
      this.nodes[at + 1 + n + e] = vals[e] as number;
    });
    return at;
  }
}

/** Parses a CIDR into bytes and prefix; an IPv4-mapped IPv6 subnet (::ffff:a.b.c.d/96+) becomes IPv4. */
export function parseCidrBytes(cidr: string): { bytes: Uint8Array; prefix: number } {
  const [addr, prefix] = ipaddr.parseCIDR(cidr);
  if (addr.kind() === 'ipv6') {
    const v6 = addr as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress() && prefix >= 96) {
      return { bytes: Uint8Array.from(v6.toIPv4Address().toByteArray()), prefix: prefix - 96 };
    }
  }
  return { bytes: Uint8Array.from(addr.toByteArray()), prefix };
}
