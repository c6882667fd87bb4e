import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * BTN's `torrent_identifier` (spec §6): SHA-256 of the lower-case hex infohash followed by its
 * CRC32 written as 4 little-endian bytes in lower-case hex (Guava's `HashCode.toString()`).
 */
export function torrentIdentifier(infohashHex: string): string {
  const h = infohashHex.toLowerCase();
  const salt = Buffer.alloc(4);
  salt.writeUInt32LE(crc32(Buffer.from(h, 'utf8')) >>> 0);
  return createHash('sha256').update(h + salt.toString('hex'), 'utf8').digest('hex');
}
