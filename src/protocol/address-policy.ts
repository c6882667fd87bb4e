/**
 * Which peer/node addresses the daemon may dial. By default everything that is not globally
 * routable unicast is refused, so a hostile DHT node or tracker cannot point the crawler at
 * our own LAN, loopback services or multicast groups. Operators can re-allow ranges (e.g.
 * 127.0.0.0/8 for tests) with `allowedRanges`, which take precedence over every refusal except
 * an invalid address or port. Pure: no I/O.
 *
 * IPv4-mapped IPv6 (::ffff:0:0/96) and NAT64 (64:ff9b::/96, RFC 6052) addresses are judged as
 * the IPv4 address they embed. 6to4 (2002::/16) and Teredo (2001::/32) are allowed as ordinary
 * global unicast.
 */
import ipaddr from 'ipaddr.js';
import { parseIpAddress } from './compact.js';

export type DialRefusalReason =
  | 'invalid-address'
  | 'invalid-port'
  | 'port-zero'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'cgnat'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'documentation'
  | 'benchmarking';

export type DialDecision = { ok: true } | { ok: false; reason: DialRefusalReason };

/**
 * IPv4 ranges refused by default, first match wins (IANA IPv4 Special-Purpose Address Registry,
 * RFC 6890 and successors).
 */
const V4_REFUSED: ReadonlyArray<readonly [cidr: string, reason: DialRefusalReason]> = [
  ['0.0.0.0/32', 'unspecified'],
  ['0.0.0.0/8', 'reserved'], // "this network" (RFC 791)
  ['10.0.0.0/8', 'private'], // RFC 1918
  ['100.64.0.0/10', 'cgnat'], // shared address space (RFC 6598)
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'], // RFC 3927
  ['172.16.0.0/12', 'private'], // RFC 1918
  ['192.0.0.0/24', 'reserved'], // IETF protocol assignments (RFC 6890)
  ['192.0.2.0/24', 'documentation'], // TEST-NET-1 (RFC 5737)
  ['192.88.99.0/24', 'reserved'], // deprecated 6to4 relay anycast (RFC 7526)
  ['192.168.0.0/16', 'private'], // RFC 1918
  ['198.18.0.0/15', 'benchmarking'], // RFC 2544
  ['198.51.100.0/24', 'documentation'], // TEST-NET-2 (RFC 5737)
  ['203.0.113.0/24', 'documentation'], // TEST-NET-3 (RFC 5737)
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'], // future use (RFC 1112)
];

/**
 * IPv6 ranges refused by default, first match wins (IANA IPv6 Special-Purpose Address
 * Registry). Mapped and NAT64 addresses never reach this table (judged as IPv4). Anything not
 * matched here and outside global unicast 2000::/3 is refused as 'reserved' too.
 */
const V6_REFUSED: ReadonlyArray<readonly [cidr: string, reason: DialRefusalReason]> = [
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::/96', 'reserved'], // deprecated IPv4-compatible addresses (RFC 4291)
  ['64:ff9b:1::/48', 'private'], // local-use IPv4/IPv6 translation (RFC 8215)
  ['100::/64', 'reserved'], // discard-only (RFC 6666)
  ['2001:2::/48', 'benchmarking'], // RFC 5180
  ['2001:10::/28', 'reserved'], // ORCHID, deprecated (RFC 4843)
  ['2001:20::/28', 'reserved'], // ORCHIDv2 (RFC 7343)
  ['2001:db8::/32', 'documentation'], // RFC 3849
  ['3fff::/20', 'documentation'], // RFC 9637
  ['fc00::/7', 'private'], // unique local (RFC 4193)
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'private'], // site-local, deprecated (RFC 3879)
  ['ff00::/8', 'multicast'],
];

interface V4Range {
  net: number;
  mask: number;
}
type V6Range = [ipaddr.IPv6, number];

const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');
const NAT64_WKP = ipaddr.IPv6.parseCIDR('64:ff9b::/96');

function u32(b: ArrayLike<number>, off = 0): number {
  return (((b[off] as number) << 24) | ((b[off + 1] as number) << 16) | ((b[off + 2] as number) << 8) | (b[off + 3] as number)) >>> 0;
}

function v4Range(addr: ipaddr.IPv4, bits: number): V4Range {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { net: (u32(addr.octets) & mask) >>> 0, mask };
}

function inV4(ip: number, r: V4Range): boolean {
  return ((ip & r.mask) >>> 0) === r.net;
}

const V4_RULES = V4_REFUSED.map(([cidr, reason]) => {
  const [addr, bits] = ipaddr.IPv4.parseCIDR(cidr);
  return { range: v4Range(addr, bits), reason };
});

const V6_RULES = V6_REFUSED.map(([cidr, reason]) => ({ range: ipaddr.IPv6.parseCIDR(cidr) as V6Range, reason }));

/** A dialable target, parsed: the IPv4 to judge (if any) and the IPv6 as given (if any). */
interface Parsed {
  v4?: number;
  v6?: ipaddr.IPv6;
}

function parseTarget(ip: string): Parsed | undefined {
  // Strict: no "127.1"-style shorthand, no zone ids ("fe80::1%eth0" names an interface, never
  // a remote peer), "::a.b.c.d" kept as the deprecated IPv4-compatible address it is.
  const addr = parseIpAddress(ip);
  if (addr === undefined) return undefined;
  if (addr.kind() === 'ipv4') return { v4: u32(addr.toByteArray()) };
  const v6 = addr as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress() || v6.match(NAT64_WKP)) return { v4: u32(v6.toByteArray(), 12), v6 };
  return { v6 };
}

export class AddressPolicy {
  private readonly allowV4: V4Range[] = [];
  private readonly allowV6: V6Range[] = [];

  /**
   * @param allowedRanges CIDRs (or single addresses) to allow even though a default rule
   *   refuses them. IPv4-mapped IPv6 CIDRs (::ffff:a.b.c.d/96+) are treated as the IPv4 range.
   *   Throws on an invalid entry.
   */
  constructor(allowedRanges: string[] = []) {
    for (const raw of allowedRanges) {
      const s = raw.trim();
      let addr: ipaddr.IPv4 | ipaddr.IPv6;
      let bits: number;
      try {
        if (s.includes('/')) [addr, bits] = ipaddr.parseCIDR(s);
        else if (ipaddr.IPv4.isValidFourPartDecimal(s)) [addr, bits] = [ipaddr.IPv4.parse(s), 32];
        else [addr, bits] = [ipaddr.IPv6.parse(s), 128];
      } catch {
        throw new Error(`invalid allowed range ${JSON.stringify(raw)}: expected a CIDR such as 127.0.0.0/8`);
      }
      if (addr.kind() === 'ipv4') {
        this.allowV4.push(v4Range(addr as ipaddr.IPv4, bits));
      } else {
        const v6 = addr as ipaddr.IPv6;
        if (v6.isIPv4MappedAddress() && bits >= 96) this.allowV4.push(v4Range(v6.toIPv4Address(), bits - 96));
        else this.allowV6.push([v6, bits]);
      }
    }
  }

  /** Whether the daemon may open a connection to (or send a KRPC query to) ip:port. */
  isDialable(ip: string, port: number): DialDecision {
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) return { ok: false, reason: 'invalid-port' };
    if (port === 0) return { ok: false, reason: 'port-zero' };
    const t = parseTarget(ip);
    if (!t) return { ok: false, reason: 'invalid-address' };
    const { v4, v6 } = t;

    if (v4 !== undefined && this.allowV4.some((r) => inV4(v4, r))) return { ok: true };
    if (v6 !== undefined && this.allowV6.some((r) => v6.match(r))) return { ok: true };

    if (v4 !== undefined) {
      for (const rule of V4_RULES) if (inV4(v4, rule.range)) return { ok: false, reason: rule.reason };
      return { ok: true };
    }
    if (v6 === undefined) return { ok: false, reason: 'invalid-address' };
    for (const rule of V6_RULES) if (v6.match(rule.range)) return { ok: false, reason: rule.reason };
    if (!v6.match(GLOBAL_UNICAST_V6)) return { ok: false, reason: 'reserved' };
    return { ok: true };
  }
}
