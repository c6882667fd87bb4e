import { CaptureError, captureError, malformedMessageError } from './capture-errors.js';

/**
 * Splits the bytes a peer sends into the BEP 3 handshake and length-prefixed messages, before any
 * of them reaches bittorrent-protocol's Wire (which buffers whatever a length prefix announces, up
 * to 4 GiB). Pull-based: `append` received bytes, then take frames with `next` one at a time, so
 * the capture decides how much to parse per turn of the event loop.
 *
 * Memory is bounded by what the capture can use, not by what the peer sends:
 * - a length prefix above `maxMessageLength` is rejected as soon as its four bytes arrive;
 * - only messages the capture reads are buffered whole, and only up to `maxKeptLength`
 *   (a bitfield, an extended message); anything else (a `piece`, an unknown id, an oversized
 *   message) is announced as a `skipped` frame and its bytes are dropped as they arrive;
 * - a non-BitTorrent stream is rejected at its first wrong byte.
 * So at most `maxKeptLength` + one socket chunk is held per connection.
 */

const PROTOCOL = Buffer.from('\u0013BitTorrent protocol', 'latin1');
/** pstrlen + pstr + reserved + info_hash + peer_id. */
export const HANDSHAKE_LENGTH = 1 + 19 + 8 + 20 + 20;
/** Largest message buffered whole by default: a bitfield of a 10 MiB info dictionary's ~524k pieces, or an extended message. */
export const MAX_KEPT_LENGTH = 64 * 1024 + 1024;

/** Most a FrameReader holds with the default kept cap: one kept message plus one socket chunk (64 KiB). */
export const READER_BOUND_BYTES = 4 + MAX_KEPT_LENGTH + 64 * 1024;

/** Message ids whose payload the capture reads (BEP 3, BEP 6, BEP 10); the rest are skipped unread. */
const KEPT_IDS = new Set([0, 1, 2, 3, 4, 5, 6, 8, 9, 13, 14, 15, 16, 17, 20]);

export type Frame =
  | {
      kind: 'handshake';
      /** The 68 bytes as received. */
      raw: Uint8Array;
      reserved: Uint8Array;
      infohash: Uint8Array;
      peerId: Uint8Array;
    }
  | {
      kind: 'message';
      /** Length prefix and payload, as received (may share memory with the received chunk: copy to keep). */
      raw: Uint8Array;
      /** Message id, or -1 for a keep-alive (length 0). */
      id: number;
      /** The payload after the id. */
      payload: Uint8Array;
    }
  | {
      /** A HAVE message, decoded without a copy (the most frequent message, and the one floods use). */
      kind: 'have';
      index: number;
    }
  | {
      /** A message whose bytes are dropped unread (a piece, an unknown id, or longer than the kept cap). */
      kind: 'skipped';
      id: number;
      /** For an extended message (id 20): its extended id, when the length allows one. */
      extId?: number;
      /** The message's length (after the 4-byte prefix). */
      length: number;
    };

export class FrameReader {
  /** Unconsumed chunks; the first one starts at `pos`. */
  private chunks: Buffer[] = [];
  private pos = 0;
  private available = 0;
  /** Bytes of a skipped message still to drop. */
  private skipRemaining = 0;
  private handshakeDone = false;
  /** Bytes of the handshake's protocol string already checked. */
  private checked = 0;
  /** Bytes dropped unread so far (skipped messages, prefixes included). */
  skippedBytes = 0;
  /** Most bytes held at once (for tests and the memory budget). */
  peakPending = 0;

  constructor(
    private readonly maxMessageLength: number,
    private readonly maxKeptLength: number = MAX_KEPT_LENGTH,
  ) {}

  /** Bytes received but not yet part of a complete frame. */
  get pending(): number {
    return this.available;
  }

  /** Adds received bytes (kept by reference until consumed). */
  append(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    this.available += chunk.length;
    if (this.available > this.peakPending) this.peakPending = this.available;
  }

  /**
   * The next complete frame, or undefined until more bytes arrive. Throws a CaptureError on a
   * stream that is not BitTorrent or announces a message longer than the cap.
   */
  next(): Frame | undefined {
    if (!this.handshakeDone) {
      this.checkProtocolPrefix();
      if (this.available < HANDSHAKE_LENGTH) return undefined;
      const raw = new Uint8Array(this.take(HANDSHAKE_LENGTH));
      this.handshakeDone = true;
      return { kind: 'handshake', raw, reserved: raw.subarray(20, 28), infohash: raw.subarray(28, 48), peerId: raw.subarray(48, 68) };
    }
    if (this.skipRemaining > 0) {
      const n = Math.min(this.skipRemaining, this.available);
      this.drop(n);
      this.skipRemaining -= n;
      if (this.skipRemaining > 0) return undefined;
    }
    if (this.available < 4) return undefined;
    const first = this.chunks[0] as Buffer;
    if (first.length - this.pos >= 9 && first.readUInt32BE(this.pos) === 5 && first[this.pos + 4] === 4) {
      // Fast path: a whole HAVE in the first chunk.
      const index = first.readUInt32BE(this.pos + 5);
      this.drop(9);
      return { kind: 'have', index };
    }
    const length = first.length - this.pos >= 4 ? first.readUInt32BE(this.pos) : this.peek(4).readUInt32BE(0);
    if (length > this.maxMessageLength) throw captureError('MESSAGE_TOO_LONG');
    if (length === 0) {
      const raw = this.take(4);
      return { kind: 'message', raw, id: -1, payload: raw.subarray(4) };
    }
    if (this.available < 5) return undefined;
    const head = this.peek(Math.min(6, 4 + length, this.available));
    const id = head[4] as number;
    if (id === 20 && length >= 2 && head.length < 6) return undefined;
    if (!KEPT_IDS.has(id) || length > this.maxKeptLength) {
      const skipped: Frame = { kind: 'skipped', id, length };
      if (id === 20 && length >= 2) skipped.extId = head[5] as number;
      this.skipRemaining = 4 + length;
      const n = Math.min(this.skipRemaining, this.available);
      this.drop(n);
      this.skipRemaining -= n;
      return skipped;
    }
    if (this.available < 4 + length) return undefined;
    const raw = this.take(4 + length);
    if (id === 4 && length === 5) return { kind: 'have', index: raw.readUInt32BE(5) };
    return { kind: 'message', raw, id, payload: raw.subarray(5) };
  }

  /** Appends `chunk` and returns every frame it completes (tests; the capture pulls with next()). */
  push(chunk: Uint8Array): Frame[] {
    this.append(chunk);
    const frames: Frame[] = [];
    for (let f = this.next(); f !== undefined; f = this.next()) frames.push(f);
    return frames;
  }

  /** Compares the handshake's first bytes with "\x13BitTorrent protocol" as they arrive. */
  private checkProtocolPrefix(): void {
    const upTo = Math.min(this.available, PROTOCOL.length);
    if (upTo <= this.checked) return;
    const head = this.peek(upTo);
    for (let i = this.checked; i < upTo; i++) {
      if (head[i] !== PROTOCOL[i]) throw new CaptureError('NOT_BITTORRENT', 'handshake: not BitTorrent');
    }
    this.checked = upTo;
  }

  /** The first `n` available bytes (a view when they lie in one chunk, else a copy). */
  private peek(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length - this.pos >= n) return first.subarray(this.pos, this.pos + n);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let pos = this.pos;
    for (const c of this.chunks) {
      const m = Math.min(n - filled, c.length - pos);
      c.copy(out, filled, pos, pos + m);
      filled += m;
      pos = 0;
      if (filled === n) break;
    }
    return out;
  }

  /** Removes and returns the first `n` available bytes. */
  private take(n: number): Buffer {
    const out = this.peek(n);
    this.drop(n);
    return out;
  }

  private drop(n: number): void {
    if (n === 0) return;
    this.available -= n;
    const first = this.chunks[0] as Buffer;
    if (this.skipRemaining === 0 && first.length - this.pos > n) {
      this.pos += n;
      return;
    }
    this.skippedBytes += this.skipRemaining > 0 ? n : 0;
    while (n > 0) {
      const first = this.chunks[0] as Buffer;
      const left = first.length - this.pos;
      if (n < left) {
        this.pos += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.pos = 0;
    }
  }
}

/** Message ids (BEP 3, BEP 6, BEP 10) → name and payload length (after the id byte). */
const MESSAGES: Record<number, { name: string; payload: number | 'any' | 'min1' | 'min8'; fast: boolean }> = {
  0: { name: 'choke', payload: 0, fast: false },
  1: { name: 'unchoke', payload: 0, fast: false },
  2: { name: 'interested', payload: 0, fast: false },
  3: { name: 'not interested', payload: 0, fast: false },
  4: { name: 'have', payload: 4, fast: false },
  5: { name: 'bitfield', payload: 'any', fast: false },
  6: { name: 'request', payload: 12, fast: false },
  7: { name: 'piece', payload: 'min8', fast: false },
  8: { name: 'cancel', payload: 12, fast: false },
  9: { name: 'port', payload: 2, fast: false },
  13: { name: 'suggest', payload: 4, fast: true },
  14: { name: 'have_all', payload: 0, fast: true },
  15: { name: 'have_none', payload: 0, fast: true },
  16: { name: 'reject', payload: 12, fast: true },
  17: { name: 'allowed_fast', payload: 4, fast: true },
  20: { name: 'extended', payload: 'min1', fast: false },
};

/** The name of message `id` ("message 42" for an unknown one). */
export function messageName(id: number): string {
  return MESSAGES[id]?.name ?? `message ${id}`;
}

/**
 * The known message `id`: its name and whether it is a BEP 6 message; undefined for an unknown
 * id. Throws a CaptureError when the payload length does not fit the message (bittorrent-protocol
 * would read past the end of a short `have` and take the missing bytes as zeros).
 */
export function checkMessage(id: number, payloadLength: number): { name: string; fast: boolean } | undefined {
  const spec = MESSAGES[id];
  if (spec === undefined) return undefined;
  const rule = spec.payload;
  const ok = rule === 'any' || (rule === 'min1' && payloadLength >= 1) || (rule === 'min8' && payloadLength >= 8) || rule === payloadLength;
  if (!ok) throw malformedMessageError(spec.name);
  return spec;
}
