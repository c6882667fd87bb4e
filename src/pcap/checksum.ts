/**
 * The Internet checksum (RFC 1071): the 16-bit ones' complement of the ones' complement sum of the
 * data taken as big-endian 16-bit words. Used for the IPv4 header and the TCP segment (with its
 * pseudo-header). Several buffers are summed as if concatenated; every part but the last must have
 * an even length (which holds for headers, pseudo-headers and the payload that ends the segment).
 */
export function internetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  for (const part of parts) {
    const even = part.length & ~1;
    for (let i = 0; i < even; i += 2) sum += (part[i]! << 8) | part[i + 1]!;
    if (part.length !== even) sum += part[even]! << 8; // an odd trailing byte is padded with a zero
    // Fold now and then so the sum never leaves the exact integer range (it can't for 4 MiB, but cheap).
    sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
