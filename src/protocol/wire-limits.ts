/**
 * Size limits for the BitTorrent peer wire protocol (BEP 3, BEP 9, BEP 10) and bitfield helpers.
 * Pure constants and functions: no I/O.
 */

/** 1 KiB, 1 MiB: spelled out so the limits below read as what they are. */
const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Largest length prefix we accept for any single peer-wire message (the 4-byte length itself
 * excluded). The largest messages a metadata-only peer legitimately sends are a `piece` of a
 * 16 KiB block (13 + 16 KiB; some clients serve up to 128 KiB blocks), a BEP 9 metadata piece
 * (bencoded header + {@link METADATA_PIECE_SIZE}) and a `bitfield`: a 10 MiB info dictionary
 * holds at most ~524k piece hashes, i.e. a 64 KiB bitfield. 1 MiB leaves headroom for all of
 * them while bounding what one peer can make us buffer.
 */
export const MAX_MESSAGE_LENGTH = 1 * MiB;

/**
 * Largest BEP 10 extended handshake (the bencoded dictionary) we decode. Real handshakes
 * (`m`, `v`, `p`, `reqq`, `yourip`, `metadata_size`, `ipv4`/`ipv6`, `upload_only`, …) are a few
 * hundred bytes; even a client advertising dozens of extensions with long names stays far
 * below 4 KiB. 64 KiB is a generous bound that keeps bdecode work per handshake trivially
 * small, and anything larger is a broken or hostile peer.
 */
export const MAX_EXTENDED_HANDSHAKE = 64 * KiB;

/**
 * Largest `metadata_size` (BEP 9) we are willing to fetch: the bencoded info dictionary.
 * Matches `MAX_INFO_BYTES` in `metainfo.ts`, which enforces the same bound on uploads.
 */
export const MAX_METADATA_SIZE = 10 * MiB;

/** BEP 9: the info dictionary is exchanged in 16 KiB pieces (the last one may be shorter). */
export const METADATA_PIECE_SIZE = 16 * KiB;

/** Most metadata pieces a torrent within {@link MAX_METADATA_SIZE} can have (640). */
export const MAX_METADATA_PIECES = Math.ceil(MAX_METADATA_SIZE / METADATA_PIECE_SIZE);

/** Number of bytes a BEP 3 bitfield for `pieceCount` pieces must have: ceil(pieceCount / 8). */
export function bitfieldByteLength(pieceCount: number): number {
  return Math.ceil(pieceCount / 8);
}

/**
 * Validates a BEP 3 bitfield against the torrent's piece count. Returns a reason when it is
 * invalid, null when it is fine.
 *
 * - Given a byte length, checks only the length: it must be exactly ceil(pieceCount / 8).
 * - Given the bitfield itself, also checks that the spare bits at the end of the last byte are
 *   zero, as BEP 3 requires ("Clients should drop the connection if they receive bitfields
 *   that are not of the correct size, or if the bitfield has any of the spare bits set").
 */
export function bitfieldLengthOk(bitfield: Uint8Array | number, pieceCount: number): string | null {
  if (!Number.isSafeInteger(pieceCount) || pieceCount < 0) return `invalid piece count ${pieceCount}`;
  const byteLength = typeof bitfield === 'number' ? bitfield : bitfield.length;
  if (!Number.isSafeInteger(byteLength) || byteLength < 0) return `invalid bitfield length ${byteLength}`;
  const expected = bitfieldByteLength(pieceCount);
  if (byteLength !== expected) {
    return `bitfield is ${byteLength} bytes, expected ${expected} for ${pieceCount} pieces`;
  }
  if (typeof bitfield !== 'number') {
    const spare = expected * 8 - pieceCount;
    if (spare > 0) {
      const last = bitfield[expected - 1] as number;
      // Piece i is bit (7 - i % 8) of byte i >> 3 (high bit first), so spare bits are the low ones.
      if ((last & ((1 << spare) - 1)) !== 0) return `bitfield has spare bits set after piece ${pieceCount - 1}`;
    }
  }
  return null;
}

/** Population count of every byte value. */
const POPCOUNT = (() => {
  const table = new Uint8Array(256);
  for (let i = 1; i < 256; i++) table[i] = (i & 1) + (table[i >> 1] as number);
  return table;
})();

/**
 * Number of pieces a BEP 3 bitfield says the peer has: the set bits among the first
 * `pieceCount` bits. Spare bits and bytes past ceil(pieceCount / 8) are ignored; a bitfield
 * shorter than that is counted as far as it goes.
 */
export function countBits(bitfield: Uint8Array, pieceCount: number): number {
  if (!(pieceCount > 0)) return 0;
  pieceCount = Math.min(Math.floor(pieceCount), bitfield.length * 8);
  const fullBytes = Math.floor(pieceCount / 8);
  let n = 0;
  let i = 0;
  // Four bytes per iteration: fewer loop checks on large bitfields.
  for (const end4 = fullBytes - (fullBytes % 4); i < end4; i += 4) {
    n +=
      (POPCOUNT[bitfield[i] as number] as number) +
      (POPCOUNT[bitfield[i + 1] as number] as number) +
      (POPCOUNT[bitfield[i + 2] as number] as number) +
      (POPCOUNT[bitfield[i + 3] as number] as number);
  }
  for (; i < fullBytes; i++) n += POPCOUNT[bitfield[i] as number] as number;
  const rest = pieceCount % 8;
  if (rest > 0) {
    const mask = (0xff << (8 - rest)) & 0xff;
    n += POPCOUNT[(bitfield[fullBytes] as number) & mask] as number;
  }
  return n;
}
