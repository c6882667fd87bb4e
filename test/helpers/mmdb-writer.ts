/**
 * A tiny MaxMind DB (MMDB, binary format 2.0) writer, for tests only.
 *
 * We must not commit third-party GeoIP databases, so tests build their own small ones.
 * Spec: https://maxmind.github.io/MaxMind-DB/ . A file is laid out as
 *
 *   [search tree: node_count nodes × 2 records] [16 zero bytes] [data section]
 *   ["\xAB\xCD\xEFMaxMind.com"] [metadata map]
 *
 * Limits (fine for tests): no pointers/deduplication inside the data section (identical
 * record objects are written once and shared by reference), no IPv4 aliases
 * (::ffff:0:0/96 and 2002::/16 are NOT mapped onto ::/96 as MaxMind's own writer does).
 */
import { writeFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';

/** Forces a specific MMDB wire type for a value (the default mapping is described at `encode`). */
export class MmdbTyped {
  constructor(
    readonly type: 'uint16' | 'uint32' | 'int32' | 'uint64' | 'uint128' | 'double' | 'float',
    readonly value: number | bigint,
  ) {}
}
export const mmdbType = (type: MmdbTyped['type'], value: number | bigint): MmdbTyped => new MmdbTyped(type, value);

export interface MmdbRecord {
  /** e.g. "127.1.0.0/16" or "2001:db8::/32"; IPv4 networks in an IPv6 tree land in ::/96. */
  cidr: string;
  data: Record<string, unknown>;
}
export interface MmdbOptions {
  databaseType: string;
  ipVersion: 4 | 6;
  records: MmdbRecord[];
  recordSize?: 24 | 28 | 32; // default 28
  languages?: string[]; // default ['en']
  description?: Record<string, string>;
  buildEpoch?: number; // seconds; default now
}

// ---------------------------------------------------------------- data section encoding

// Type numbers from the spec; types >= 8 are "extended" (control-byte type 0 + extra byte type-7).
const T = { pointer: 1, utf8: 2, double: 3, bytes: 4, uint16: 5, uint32: 6, map: 7, int32: 8,
  uint64: 9, uint128: 10, array: 11, boolean: 14, float: 15 } as const;

/** Control byte(s): 3 type bits + 5 size bits, then optional extended-type byte, then size extension. */
function ctrl(type: number, size: number): Buffer {
  const ext = type > 7;
  if (size > 65_821 + 0xffffff) throw new RangeError(`MMDB value of ${size} bytes/items is too large`);
  // Sizes < 29 fit the 5 size bits; 29/30/31 mean 1/2/3 extra bytes holding size-29 / -285 / -65821.
  const [sizeBits, extraLen, base] =
    size < 29 ? [size, 0, 0] : size < 285 ? [29, 1, 29] : size < 65_821 ? [30, 2, 285] : [31, 3, 65_821];
  const out = Buffer.alloc(1 + (ext ? 1 : 0) + extraLen);
  out[0] = ((ext ? 0 : type) << 5) | sizeBits;
  if (ext) out[1] = type - 7; // the extended-type byte comes before the size extension
  if (extraLen > 0) out.writeUIntBE(size - base, out.length - extraLen, extraLen);
  return out;
}

/** Big-endian unsigned integer with leading zero bytes stripped (the spec allows/prefers this). */
function uintBytes(v: bigint, maxBytes: number): Buffer {
  if (v < 0n || v >= 1n << BigInt(maxBytes * 8)) throw new RangeError(`integer ${v} out of range`);
  const out: number[] = [];
  for (; v > 0n; v >>= 8n) out.unshift(Number(v & 0xffn));
  return Buffer.from(out);
}

function encodeTyped(t: MmdbTyped): Buffer {
  switch (t.type) {
    case 'double': { const b = Buffer.alloc(8); b.writeDoubleBE(Number(t.value)); return Buffer.concat([ctrl(T.double, 8), b]); }
    case 'float': { const b = Buffer.alloc(4); b.writeFloatBE(Number(t.value)); return Buffer.concat([ctrl(T.float, 4), b]); }
    case 'int32': { // two's complement; negative numbers always take 4 bytes
      const b = Buffer.alloc(4); b.writeInt32BE(Number(t.value));
      const trimmed = Number(t.value) < 0 ? b : uintBytes(BigInt(t.value), 4);
      return Buffer.concat([ctrl(T.int32, trimmed.length), trimmed]);
    }
    default: {
      const width = { uint16: 2, uint32: 4, uint64: 8, uint128: 16 }[t.type];
      const bytes = uintBytes(BigInt(t.value), width);
      return Buffer.concat([ctrl(T[t.type], bytes.length), bytes]);
    }
  }
}

/**
 * Default JS → MMDB mapping: string → utf8_string, boolean → boolean, Buffer → bytes,
 * array → array, plain object → map, non-negative safe integer < 2^32 → uint32,
 * negative integer >= -2^31 → int32, other number → double, bigint → uint64 (or uint128 if
 * it does not fit). Wrap a value with `mmdbType(...)` to choose another type.
 */
export function encode(value: unknown): Buffer {
  if (value instanceof MmdbTyped) return encodeTyped(value);
  if (typeof value === 'string') {
    const b = Buffer.from(value, 'utf8');
    return Buffer.concat([ctrl(T.utf8, b.length), b]);
  }
  if (typeof value === 'boolean') return ctrl(T.boolean, value ? 1 : 0); // value lives in the size bits
  if (Buffer.isBuffer(value)) return Buffer.concat([ctrl(T.bytes, value.length), value]);
  if (typeof value === 'bigint') return encodeTyped(new MmdbTyped(value < 1n << 64n ? 'uint64' : 'uint128', value));
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value < 2 ** 32) return encodeTyped(new MmdbTyped('uint32', value));
    if (Number.isInteger(value) && value < 0 && value >= -(2 ** 31)) return encodeTyped(new MmdbTyped('int32', value));
    return encodeTyped(new MmdbTyped('double', value));
  }
  if (Array.isArray(value)) return Buffer.concat([ctrl(T.array, value.length), ...value.map(encode)]);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    // Map size = number of pairs; keys are always utf8 strings.
    return Buffer.concat([ctrl(T.map, entries.length), ...entries.flatMap(([k, v]) => [encode(k), encode(v)])]);
  }
  throw new TypeError(`cannot encode ${String(value)} as MMDB data`);
}

// ---------------------------------------------------------------- search tree

/** A trie node; each side is another node, a data record, or empty (undefined). */
interface TreeNode { kids: [Child, Child]; index?: number }
type Child = TreeNode | { data: Record<string, unknown> } | undefined;
const isNode = (c: Child): c is TreeNode => c !== undefined && 'kids' in c;

/** Network → [bits MSB first, prefix length], as placed in a tree of the given IP version. */
function networkBits(cidr: string, ipVersion: 4 | 6): [number[], number] {
  const [addr, len] = ipaddr.parseCIDR(cidr);
  if (addr.kind() === 'ipv6' && ipVersion === 4) throw new Error(`IPv6 network ${cidr} in an IPv4 tree`);
  // IPv4 in an IPv6 tree: 96 zero bits first (::a.b.c.d), which is where readers look up IPv4.
  const pad = addr.kind() === 'ipv4' && ipVersion === 6 ? 96 : 0;
  const bytes = [...new Array<number>(pad / 8).fill(0), ...addr.toByteArray()];
  const bits = bytes.flatMap((b) => [7, 6, 5, 4, 3, 2, 1, 0].map((i) => (b >> i) & 1));
  return [bits, pad + len];
}

/** Insert a network; later records overwrite earlier ones where they overlap. */
function insert(root: TreeNode, bits: number[], prefixLen: number, data: Record<string, unknown>): void {
  if (prefixLen === 0) {
    root.kids = [{ data }, { data }]; // /0: the root stays a node, both halves point at the data
    return;
  }
  let node = root;
  for (let depth = 0; depth < prefixLen - 1; depth++) {
    const side = bits[depth] as 0 | 1;
    let next = node.kids[side];
    // Descending through a leaf (data/empty): split it, so both halves keep the old value.
    if (!isNode(next)) node.kids[side] = next = { kids: [next, next] };
    node = next;
  }
  node.kids[bits[prefixLen - 1] as 0 | 1] = { data };
}

// ---------------------------------------------------------------- file assembly

const METADATA_MARKER = Buffer.from('abcdef4d61784d696e642e636f6d', 'hex'); // "\xAB\xCD\xEFMaxMind.com"

export function buildMmdb(opts: MmdbOptions): Buffer {
  const recordSize = opts.recordSize ?? 28;
  const root: TreeNode = { kids: [undefined, undefined] };
  for (const r of opts.records) {
    const [bits, len] = networkBits(r.cidr, opts.ipVersion);
    insert(root, bits, len, r.data);
  }

  // Number the nodes breadth-first (root = 0); node_count is known only afterwards.
  const nodes: TreeNode[] = [root];
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i] as TreeNode;
    n.index = i;
    for (const k of n.kids) if (isNode(k)) nodes.push(k);
  }
  const nodeCount = nodes.length;

  // Data section: each distinct data object (by reference) is encoded once.
  const dataOffsets = new Map<Record<string, unknown>, number>();
  const dataChunks: Buffer[] = [];
  let dataLen = 0;
  const recordValue = (c: Child): number => {
    if (c === undefined) return nodeCount; // "no data"
    if (isNode(c)) return c.index as number;
    let off = dataOffsets.get(c.data);
    if (off === undefined) {
      const enc = encode(c.data);
      dataOffsets.set(c.data, (off = dataLen));
      dataChunks.push(enc);
      dataLen += enc.length;
    }
    // Data pointers are offsets into the data section + node_count + 16 (the separator).
    return nodeCount + 16 + off;
  };

  const nodeBytes = recordSize / 4; // two records per node
  const tree = Buffer.alloc(nodeCount * nodeBytes);
  for (const n of nodes) {
    const [l, r] = [recordValue(n.kids[0]), recordValue(n.kids[1])];
    if (Math.max(l, r) >= 2 ** recordSize) throw new RangeError(`record value does not fit in ${recordSize} bits`);
    const o = (n.index as number) * nodeBytes;
    if (recordSize === 24) { tree.writeUIntBE(l, o, 3); tree.writeUIntBE(r, o + 3, 3); }
    else if (recordSize === 32) { tree.writeUInt32BE(l, o); tree.writeUInt32BE(r, o + 4); }
    else {
      // 28 bits: low 24 bits of left | [high nibble of left, high nibble of right] | low 24 of right
      tree.writeUIntBE(l & 0xffffff, o, 3);
      tree[o + 3] = ((l >>> 24) << 4) | (r >>> 24);
      tree.writeUIntBE(r & 0xffffff, o + 4, 3);
    }
  }

  const metadata = encode({
    binary_format_major_version: mmdbType('uint16', 2),
    binary_format_minor_version: mmdbType('uint16', 0),
    build_epoch: mmdbType('uint64', BigInt(opts.buildEpoch ?? Math.floor(Date.now() / 1000))),
    database_type: opts.databaseType,
    description: opts.description ?? { en: `${opts.databaseType} (test database)` },
    ip_version: mmdbType('uint16', opts.ipVersion),
    languages: opts.languages ?? ['en'],
    node_count: mmdbType('uint32', nodeCount),
    record_size: mmdbType('uint16', recordSize),
  });
  return Buffer.concat([tree, Buffer.alloc(16), ...dataChunks, METADATA_MARKER, metadata]);
}

export function writeMmdb(path: string, opts: MmdbOptions): void {
  writeFileSync(path, buildMmdb(opts));
}
