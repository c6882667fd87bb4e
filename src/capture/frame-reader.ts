import { CaptureError, captureError, malformedMessageError } from './capture-errors.js';

/**
 * Splits the bytes a peer sends into the BEP 3 handshake and length-prefixed messages, before
 * any of them reaches bittorrent-protocol's Wire. The Wire has no bound on a message's length
 * (it buffers whatever a length prefix announces, up to 4 GiB); this reader rejects a prefix
 * above `maxMessageLength` as soon as its four bytes arrive, so at most that much is ever
 * buffered. It also rejects a non-BitTorrent stream at its first byte.
 */

const PROTOCOL = Buffer.from('\u0013BitTorrent protocol', 'latin1');
/** pstrlen + pstr + reserved + info_hash + peer_id. */
export const HANDSHAKE_LENGTH = 1 + 19 + 8 + 20 + 20;

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
      /** Length prefix and payload, as received. */
      raw: Uint8Array;
      /** Message id, or -1 for a keep-alive (length 0). */
      id: number;
      /** The payload after the id. */
      payload: Uint8Array;
    };

export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private handshakeDone = false;
  /** Bytes of the handshake's protocol string already checked. */
  private checked = 0;

  constructor(private readonly maxMessageLength: number) {}

  /** Bytes received but not yet part of a complete frame. */
  get pending(): number {
    return this.buffered;
  }

  /**
   * Feeds received bytes; returns the frames they complete. Throws a CaptureError on a stream
   * that is not BitTorrent or announces a message longer than the cap.
   */
  push(chunk: Uint8Array): Frame[] {
    if (chunk.length === 0) return [];
    this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    if (!this.handshakeDone) {
      this.checkProtocolPrefix();
      if (this.buffered < HANDSHAKE_LENGTH) return frames;
      const raw = this.take(HANDSHAKE_LENGTH);
      this.handshakeDone = true;
      frames.push({
        kind: 'handshake',
        raw,
        reserved: raw.subarray(20, 28),
        infohash: raw.subarray(28, 48),
        peerId: raw.subarray(48, 68),
      });
    }
    while (this.buffered >= 4) {
      const length = this.peekUint32();
      if (length > this.maxMessageLength) throw captureError('MESSAGE_TOO_LONG');
      if (this.buffered < 4 + length) break;
      const raw = this.take(4 + length);
      frames.push({ kind: 'message', raw, id: length === 0 ? -1 : (raw[4] as number), payload: raw.subarray(5) });
    }
    return frames;
  }

  /** Compares the handshake's first bytes with "\x13BitTorrent protocol" as they arrive. */
  private checkProtocolPrefix(): void {
    const upTo = Math.min(this.buffered, PROTOCOL.length);
    if (upTo <= this.checked) return;
    const head = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : this.flatten();
    for (let i = this.checked; i < upTo; i++) {
      if (head[i] !== PROTOCOL[i]) throw new CaptureError('NOT_BITTORRENT', 'handshake: not BitTorrent');
    }
    this.checked = upTo;
  }

  private flatten(): Buffer {
    const all = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [all];
    return all;
  }

  private peekUint32(): number {
    const first = this.chunks[0] as Buffer;
    const head = first.length >= 4 ? first : this.flatten();
    return head.readUInt32BE(0);
  }

  /** Removes and returns the first `n` buffered bytes (a copy, so the frame owns its bytes). */
  private take(n: number): Uint8Array {
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : this.flatten();
    const out = new Uint8Array(all.subarray(0, n));
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered -= n;
    return out;
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
