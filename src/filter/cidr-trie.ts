import ipaddr from 'ipaddr.js';

/**
 * A binary prefix tree over address bits, stored in typed arrays. Each prefix carries a value (an
 * id chosen by the caller); `compile` pushes every value down to the prefixes below it, so a lookup
 * walks the address's bits and returns the merged value id of the deepest prefix on its path.
 */
export class CidrTrie {
  private left: Int32Array;
  private right: Int32Array;
  private value: Int32Array;
  private size = 1;

  constructor(readonly bits: 32 | 128, initialCapacity = 1024) {
    this.left = new Int32Array(initialCapacity).fill(-1);
    this.right = new Int32Array(initialCapacity).fill(-1);
    this.value = new Int32Array(initialCapacity).fill(-1);
  }

  get nodeCount(): number {
    return this.size;
  }

  private grow(): void {
    const cap = this.left.length * 2;
    const l = new Int32Array(cap).fill(-1);
    const r = new Int32Array(cap).fill(-1);
    const v = new Int32Array(cap).fill(-1);
    l.set(this.left);
    r.set(this.right);
    v.set(this.value);
    this.left = l;
    this.right = r;
    this.value = v;
  }

  /** Returns the node of a prefix, creating the path to it. */
  insert(bytes: Uint8Array, prefixLength: number): number {
    let node = 0;
    for (let i = 0; i < prefixLength; i++) {
      const bit = ((bytes[i >> 3] as number) >> (7 - (i & 7))) & 1;
      const arr = bit ? this.right : this.left;
      let next = arr[node] as number;
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

  /** Visits nodes parent-first so a caller can merge each node's value with its parent's. */
  pushDown(merge: (parentValue: number, ownValue: number) => number): void {
    const stack: number[] = [0];
    while (stack.length > 0) {
      const node = stack.pop() as number;
      const pv = this.value[node] as number;
      for (const child of [this.left[node] as number, this.right[node] as number]) {
        if (child < 0) continue;
        if (pv >= 0) this.value[child] = merge(pv, this.value[child] as number);
        stack.push(child);
      }
    }
  }

  /** The value of the deepest prefix containing the address, or -1. */
  lookup(bytes: Uint8Array): number {
    const left = this.left;
    const right = this.right;
    const value = this.value;
    let node = 0;
    let found = value[0] as number;
    const n = this.bits;
    for (let i = 0; i < n; i++) {
      const bit = ((bytes[i >> 3] as number) >> (7 - (i & 7))) & 1;
      const next = (bit ? right[node] : left[node]) as number;
      if (next < 0) break;
      node = next;
      const v = value[node] as number;
      if (v >= 0) found = v;
    }
    return found;
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
