import ipaddr from 'ipaddr.js';

/** A CIDR parsed by ipaddr.js, for naive reference matchers in tests. */
export type Net = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Parses a CIDR as the spec reads it: an IPv4-mapped subnet (::ffff:a.b.c.d/96+) is an IPv4 subnet. */
export function parseNet(cidr: string): Net {
  const [net, len] = ipaddr.parseCIDR(cidr);
  if (net.kind() === 'ipv6' && (net as ipaddr.IPv6).isIPv4MappedAddress() && len >= 96) {
    return [(net as ipaddr.IPv6).toIPv4Address(), len - 96];
  }
  return [net, len];
}
