import ipaddr from 'ipaddr.js';

/**
 * Parses an IP address into its bytes: 4 for IPv4 (including IPv4-mapped IPv6, which is
 * normalised to IPv4), 16 for IPv6. Returns undefined for anything else. Dotted quads take a
 * fast path that allocates nothing but the result.
 */
export function parseIpBytes(ip: string): Uint8Array | undefined {
  const v4 = parseDottedQuad(ip);
  if (v4) return v4;
  if (!ipaddr.IPv6.isValid(ip)) return undefined;
  const addr = ipaddr.IPv6.parse(ip);
  if (addr.isIPv4MappedAddress()) return Uint8Array.from(addr.toIPv4Address().toByteArray());
  return Uint8Array.from(addr.toByteArray());
}

function parseDottedQuad(s: string): Uint8Array | undefined {
  const out = new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return undefined; // no leading zeros (ambiguous octal)
      value = value * 10 + (c - 48);
      if (value > 255 || ++digits > 3) return undefined;
    } else if (c === 46 && digits > 0 && part < 3) {
      out[part++] = value;
      value = 0;
      digits = 0;
    } else {
      return undefined;
    }
  }
  if (part !== 3 || digits === 0) return undefined;
  out[3] = value;
  return out;
}

/** Canonical text of an address's bytes (IPv6 in RFC 5952 short form). */
export function formatIpBytes(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  return ipaddr.fromByteArray(Array.from(bytes)).toString();
}

/** Normalises an address string ("::ffff:1.2.3.4" → "1.2.3.4", IPv6 shortened); undefined if invalid. */
export function normaliseIp(ip: string): string | undefined {
  const b = parseIpBytes(ip);
  return b ? formatIpBytes(b) : undefined;
}
