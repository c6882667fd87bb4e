import type { DhtContact } from 'bittorrent-dht';
import {
  type AddressFamily,
  COMPACT_NODE_V4_LENGTH,
  COMPACT_NODE_V6_LENGTH,
  NODE_ID_LENGTH,
  decodeCompactPeer,
  encodeCompactPeer,
} from '../protocol/compact.js';

/**
 * BEP 32 on the KRPC hot path: compact node lists of either family (`nodes`: 26-byte IPv4 entries,
 * `nodes6`: 38-byte IPv6 entries) to and from table contacts, and the `want` argument.
 *
 * - `want` is a list of "n4" / "n6" strings; a reply carries `nodes` for n4 and `nodes6` for n6.
 *   Without a usable `want` a node answers with the family of the transport the query came on.
 * - `values` holds peers of the transport's family (6 or 18 bytes each); `values6` (IPv6 peers in
 *   a reply over IPv4) is the older extension Transmission's DHT still sends and reads, so both are
 *   parsed, and a node with an IPv6 sibling answers `values6` to an IPv4 query that wants n6.
 */
export type Family = AddressFamily;

/** The reply key of a family's compact node list. */
export function nodesKey(family: Family): 'nodes' | 'nodes6' {
  return family === 4 ? 'nodes' : 'nodes6';
}

export function otherFamily(family: Family): Family {
  return family === 4 ? 6 : 4;
}

/** Family of an address string as it appears in the table or from dgram (":" means IPv6). */
export function familyOf(host: string): Family {
  return host.includes(':') ? 6 : 4;
}

/**
 * Parses a compact node string of `family` (`nodes` or `nodes6`). Entries with port 0, a mapped
 * IPv4 address in `nodes6`, and a trailing partial entry are skipped. Ids are views of `buf`.
 */
export function parseNodes(buf: unknown, family: Family): DhtContact[] {
  if (!Buffer.isBuffer(buf)) return [];
  const size = family === 4 ? COMPACT_NODE_V4_LENGTH : COMPACT_NODE_V6_LENGTH;
  const out: DhtContact[] = [];
  for (let i = 0; i + size <= buf.length; i += size) {
    const peer = decodeCompactPeer(buf.subarray(i + NODE_ID_LENGTH, i + size));
    if (!peer || familyOf(peer.ip) !== family) continue;
    out.push({ id: buf.subarray(i, i + NODE_ID_LENGTH), host: peer.ip, port: peer.port, distance: 0, token: null });
  }
  return out;
}

/** Compact node string of the contacts of `family` (others, and malformed ones, are left out). */
export function encodeNodes(nodes: readonly DhtContact[], family: Family): Buffer {
  const parts: Buffer[] = [];
  for (const n of nodes) {
    if (!Buffer.isBuffer(n.id) || n.id.length !== NODE_ID_LENGTH || familyOf(n.host) !== family) continue;
    let peer: Buffer;
    try {
      peer = encodeCompactPeer(n.host, n.port);
    } catch {
      continue;
    }
    if ((peer.length === 6 ? 4 : 6) !== family) continue; // ::ffff:a.b.c.d in an IPv6 table
    parts.push(n.id, peer);
  }
  return Buffer.concat(parts);
}

/**
 * The families a query's `want` asks for, or `undefined` when it has none usable (not a list, or
 * neither "n4" nor "n6" in it): the caller then answers with the transport's family.
 */
export function parseWant(want: unknown): Set<Family> | undefined {
  if (!Array.isArray(want)) return undefined;
  const out = new Set<Family>();
  for (const w of want) {
    const s = Buffer.isBuffer(w) ? w.toString('latin1') : typeof w === 'string' ? w : '';
    if (s === 'n4') out.add(4);
    else if (s === 'n6') out.add(6);
  }
  return out.size > 0 ? out : undefined;
}

/** The `want` list a node of `family` sends: its own family, plus the other when it has a sibling. */
export function wantList(family: Family, sibling: boolean): string[] {
  const own = family === 4 ? 'n4' : 'n6';
  if (!sibling) return [own];
  return ['n4', 'n6'];
}
