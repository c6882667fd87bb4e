/**
 * Compact peer info and compact node info (BEP 5, BEP 23, BEP 32): encode and decode.
 *
 * - Compact peer info: 4-byte IPv4 address + 2-byte port (6 bytes), or 16-byte IPv6 address +
 *   2-byte port (18 bytes), network byte order.
 * - Compact node info: 20-byte node id + compact peer info (26 bytes for IPv4, 38 for IPv6).
 *
 * Decoders validate lengths and reject port 0; they return canonical address strings (dotted
 * quad; RFC 5952 IPv6; IPv4-mapped IPv6 as its IPv4). Address *policy* (private ranges etc.)
 * is not judged here: see address-policy.ts. Pure functions: no I/O.
 */
import ipaddr from 'ipaddr.js';

export interface PeerAddress {
  /** Canonical address text: "1.2.3.4" or RFC 5952 IPv6 ("2001:db8::1"). */
  ip: string;
  port: number;
}

export interface CompactNode extends PeerAddress {
  /** The 20-byte node id (a copy, not a view into the packet). */
  id: Uint8Array;
}

export type AddressFamily = 4 | 6;

export const NODE_ID_LENGTH = 20;
export const COMPACT_PEER_V4_LENGTH = 6;
export const COMPACT_PEER_V6_LENGTH = 18;
export const COMPACT_NODE_V4_LENGTH = NODE_ID_LENGTH + COMPACT_PEER_V4_LENGTH; // 26
export const COMPACT_NODE_V6_LENGTH = NODE_ID_LENGTH + COMPACT_PEER_V6_LENGTH; // 38

/** ::ffff:0:0/96 prefix: the first 12 bytes of an IPv4-mapped IPv6 address. */
function isV4Mapped(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return false;
  return b[off + 10] === 0xff && b[off + 11] === 0xff;
}

/** Address text of `len` (4 or 16) bytes at `off`. */
function formatAddress(b: Uint8Array, off: number, len: 4 | 16): string {
  if (len === 4) return formatV4(b, off);
  if (isV4Mapped(b, off)) return formatV4(b, off + 12);
  return ipaddr.fromByteArray(Array.from(b.subarray(off, off + 16))).toString();
}

function formatV4(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/**
 * Strict address parser shared by the protocol codecs: a dotted quad without leading zeros or
 * shorthand ("127.1", "0x7f.0.0.1" are refused), or IPv6 without a zone id. Unlike plain
 * ipaddr.js, the deprecated IPv4-compatible notation "::a.b.c.d" stays the IPv6 address it
 * denotes (::/96), instead of being read as "::ffff:a.b.c.d". Undefined when invalid.
 */
export function parseIpAddress(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(ip)) return ipaddr.IPv4.parse(ip);
  if (ip.includes('%') || !ipaddr.IPv6.isValid(ip)) return undefined;
  const compat = /^::((?:\d{1,3}\.){3}\d{1,3})$/.exec(ip);
  if (compat) {
    const o = ipaddr.IPv4.parse(compat[1] as string).octets as number[];
    return new ipaddr.IPv6([0, 0, 0, 0, 0, 0, ((o[0] as number) << 8) | (o[1] as number), ((o[2] as number) << 8) | (o[3] as number)]);
  }
  return ipaddr.IPv6.parse(ip);
}

/**
 * Parses an address for encoding. IPv4-mapped IPv6 becomes IPv4 (4 bytes). Throws RangeError
 * for anything {@link parseIpAddress} refuses.
 */
function addressBytes(ip: string): number[] {
  const addr = parseIpAddress(ip);
  if (addr === undefined) throw new RangeError(`not an IP address: ${JSON.stringify(ip)}`);
  if (addr.kind() === 'ipv4') return addr.toByteArray();
  const v6 = addr as ipaddr.IPv6;
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address().toByteArray() : v6.toByteArray();
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) throw new RangeError(`invalid port ${port}`);
}

function readPort(b: Uint8Array, off: number): number {
  return ((b[off] as number) << 8) | (b[off + 1] as number);
}

/**
 * Compact peer info for an address: 6 bytes for IPv4 (including IPv4-mapped IPv6), 18 for IPv6.
 * Throws RangeError for an invalid address or a port outside 1..65535.
 */
export function encodeCompactPeer(ip: string, port: number): Buffer {
  checkPort(port);
  const addr = addressBytes(ip);
  const out = Buffer.allocUnsafe(addr.length + 2);
  out.set(addr, 0);
  out.writeUInt16BE(port, addr.length);
  return out;
}

/** Decodes one compact peer info (exactly 6 or 18 bytes); undefined if malformed or port 0. */
export function decodeCompactPeer(buf: Uint8Array): PeerAddress | undefined {
  if (buf.length !== COMPACT_PEER_V4_LENGTH && buf.length !== COMPACT_PEER_V6_LENGTH) return undefined;
  const addrLen = buf.length === COMPACT_PEER_V4_LENGTH ? 4 : 16;
  const port = readPort(buf, addrLen);
  if (port === 0) return undefined;
  return { ip: formatAddress(buf, 0, addrLen), port };
}

export interface DecodedPeers {
  peers: PeerAddress[];
  /** Entries skipped: not a byte string, wrong length, or port 0. */
  malformed: number;
}

/**
 * Decodes a get_peers `values` list (BEP 5; BEP 32 for IPv6): each entry one compact peer info.
 * Malformed entries are skipped and counted. Accepts whatever bdecode produced, so non-string
 * entries are counted as malformed rather than trusted.
 */
export function decodeCompactPeers(values: readonly unknown[]): DecodedPeers {
  const peers: PeerAddress[] = [];
  let malformed = 0;
  for (const v of values) {
    const peer = v instanceof Uint8Array ? decodeCompactPeer(v) : undefined;
    if (peer) peers.push(peer);
    else malformed++;
  }
  return { peers, malformed };
}

/** Family of a node/peer address (IPv4-mapped IPv6 counts as 4). Throws RangeError if invalid. */
export function addressFamily(ip: string): AddressFamily {
  return addressBytes(ip).length === 4 ? 4 : 6;
}

/** Compact node info: 26 bytes (IPv4) or 38 bytes (IPv6). Throws RangeError on bad input. */
export function encodeCompactNode(node: CompactNode): Buffer {
  if (node.id.length !== NODE_ID_LENGTH) throw new RangeError(`node id must be ${NODE_ID_LENGTH} bytes, got ${node.id.length}`);
  return Buffer.concat([node.id, encodeCompactPeer(node.ip, node.port)]);
}

/** Decodes one compact node info (exactly 26 or 38 bytes); undefined if malformed or port 0. */
export function decodeCompactNode(buf: Uint8Array): CompactNode | undefined {
  if (buf.length !== COMPACT_NODE_V4_LENGTH && buf.length !== COMPACT_NODE_V6_LENGTH) return undefined;
  const peer = decodeCompactPeer(buf.subarray(NODE_ID_LENGTH));
  if (!peer) return undefined;
  return { id: new Uint8Array(buf.subarray(0, NODE_ID_LENGTH)), ip: peer.ip, port: peer.port };
}

/**
 * Concatenated compact node infos, as in a KRPC `nodes` (family 4) or `nodes6` (family 6)
 * string. Throws RangeError if a node is not of that family or is otherwise invalid.
 */
export function encodeCompactNodes(nodes: readonly CompactNode[], family: AddressFamily): Buffer {
  const parts = nodes.map((n) => {
    const enc = encodeCompactNode(n);
    const encFamily = enc.length === COMPACT_NODE_V4_LENGTH ? 4 : 6;
    if (encFamily !== family) throw new RangeError(`node ${n.ip} is not an IPv${family} node`);
    return enc;
  });
  return Buffer.concat(parts);
}

export interface DecodedNodes {
  nodes: CompactNode[];
  /** Entries skipped: port 0, plus 1 if the string has a trailing partial entry. */
  malformed: number;
}

/**
 * Decodes a KRPC `nodes` (family 4, 26-byte entries) or `nodes6` (family 6, 38-byte entries)
 * string. Whole entries are decoded even if the length is not a multiple of the entry size;
 * a trailing partial entry counts as one malformed entry.
 */
export function decodeCompactNodes(buf: Uint8Array, family: AddressFamily): DecodedNodes {
  const size = family === 4 ? COMPACT_NODE_V4_LENGTH : COMPACT_NODE_V6_LENGTH;
  const nodes: CompactNode[] = [];
  let malformed = buf.length % size === 0 ? 0 : 1;
  for (let off = 0; off + size <= buf.length; off += size) {
    const node = decodeCompactNode(buf.subarray(off, off + size));
    if (node) nodes.push(node);
    else malformed++;
  }
  return { nodes, malformed };
}
