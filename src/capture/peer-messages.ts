import { decodeDictPrefix, own, type BencodeDict } from '../protocol/bencode-check.js';
import { MAX_EXTENDED_HANDSHAKE } from '../protocol/wire-limits.js';
import {
  bitfieldLengthError,
  bitfieldTooLongError,
  extendedHandshakeError,
  fastWithoutExtensionError,
  floodError,
  haveFloodError,
} from './capture-errors.js';
import { checkMessage, messageName, type Frame } from './frame-reader.js';
import { PeerPieces, UNKNOWN_PIECE_LIMIT } from './peer-pieces.js';

/** HAVE messages allowed beyond one per piece (a client may repeat a few). */
export const HAVE_SLACK = 64;
/**
 * Bytes of messages a capture cannot use (pieces it never requested, unknown or oversized
 * messages, keep-alives, control messages, repeated bitfields and extended handshakes) accepted
 * from one peer before the capture ends with a flood error. An honest peer sends a few hundred.
 */
export const MAX_UNUSABLE_BYTES = 256 * 1024;

/** What to do with a message after it was checked. */
export interface MessageVerdict {
  /** Pass its bytes to the Wire (extended messages, control messages it answers). */
  toWire: boolean;
  /** A bitfield, have_all, have_none or HAVE (starts the HAVE window). */
  pieceState: boolean;
  /** The peer's first extended handshake. */
  extendedHandshake: boolean;
}

const DROP: MessageVerdict = { toWire: false, pieceState: false, extendedHandshake: false };
const WIRE: MessageVerdict = { toWire: true, pieceState: false, extendedHandshake: false };
const STATE: MessageVerdict = { toWire: false, pieceState: true, extendedHandshake: false };

/**
 * What a peer says after its handshake: every message is checked here (sizes, BEP 6 without the
 * extension, the extended handshake's bencode) and counted. The peer's piece state is kept here,
 * synchronously, rather than in the Wire (which parses a microtask later). Floods end the capture:
 * more HAVEs than the torrent has pieces, or more than MAX_UNUSABLE_BYTES of messages it cannot use.
 * Throws a CaptureError for any violation.
 */
export class PeerMessages {
  readonly pieces: PeerPieces;
  /** Messages received after the handshake (keep-alives included). */
  count = 0;
  keepAlives = 0;
  haves = 0;
  extendedSeen = false;
  extendedV: string | undefined;
  /** The peer's first extended handshake (checked). */
  extendedHandshake: BencodeDict | undefined;
  private bitfields = 0;
  private unusable = 0;
  private readonly unusableByName = new Map<string, number>();

  constructor(
    private readonly peer: { fast: boolean; extended: boolean },
    pieceCount: number | undefined,
  ) {
    this.pieces = new PeerPieces(pieceCount);
  }

  /**
   * Checks one message. `pieceCount`: the torrent's piece count as known now (from the start or
   * from metadata fetched meanwhile); `fetching`: whether ut_metadata messages are expected.
   */
  onFrame(frame: Exclude<Frame, { kind: 'handshake' }>, pieceCount: number | undefined, fetching: boolean): MessageVerdict {
    this.count += 1;
    if (frame.kind === 'have') return this.onHave(frame.index, pieceCount);
    if (frame.kind === 'skipped') {
      if (frame.id === 20 && frame.extId === 0) throw extendedHandshakeError('too long');
      if (frame.id === 5) throw pieceCount !== undefined ? bitfieldLengthError(pieceCount) : bitfieldTooLongError(frame.length);
      this.waste(frame.id === 20 ? 'extended' : messageName(frame.id), 4 + frame.length);
      return DROP;
    }
    if (frame.id === -1) {
      this.keepAlives += 1;
      this.waste('keep-alive', 4);
      return DROP;
    }
    const spec = checkMessage(frame.id, frame.payload.length);
    if (spec === undefined) {
      this.waste(messageName(frame.id), frame.raw.length);
      return DROP; // unknown message: ignored, as BEP 3 intends
    }
    if (spec.fast && !this.peer.fast) {
      // The Wire destroys itself on these (BEP 6: MUST close). Piece state without the
      // extension is a violation we report; the rest we drop.
      if (frame.id === 14 || frame.id === 15) throw fastWithoutExtensionError(spec.name);
      this.waste(spec.name, frame.raw.length);
      return DROP;
    }
    switch (frame.id) {
      case 5:
        if (++this.bitfields > 1) this.waste('bitfield', frame.raw.length);
        this.pieces.onBitfield(frame.payload);
        return STATE;
      case 14:
        this.pieces.onHaveAll();
        return STATE;
      case 15:
        this.pieces.onHaveNone();
        return STATE;
      case 20:
        if (frame.payload[0] === 0) {
          const first = this.onExtendedHandshake(frame.payload.subarray(1));
          if (!first) this.waste('extended handshake', frame.raw.length);
          return { toWire: true, pieceState: false, extendedHandshake: first };
        }
        if (!fetching) this.waste('extended', frame.raw.length);
        return WIRE;
      default:
        // Control messages (choke, interested, request, …): the Wire keeps its state and answers
        // requests with a reject; none of them tells us anything.
        this.waste(spec.name, frame.raw.length);
        return WIRE;
    }
  }

  private onHave(index: number, pieceCount: number | undefined): MessageVerdict {
    this.haves += 1;
    const limit = this.haveLimit(pieceCount);
    if (this.haves > limit + HAVE_SLACK) throw haveFloodError(this.haves, limit, pieceCount !== undefined);
    this.pieces.onHave(index);
    return STATE;
  }

  /** Most distinct pieces a HAVE can name: the piece count, else the bitfield's size, else the unknown-count bound. */
  private haveLimit(pieceCount: number | undefined): number {
    if (pieceCount !== undefined) return pieceCount;
    const bits = this.pieces.bitfieldBits;
    return bits > 0 ? bits : UNKNOWN_PIECE_LIMIT;
  }

  private waste(name: string, bytes: number): void {
    this.unusable += bytes;
    this.unusableByName.set(name, (this.unusableByName.get(name) ?? 0) + bytes);
    if (this.unusable > MAX_UNUSABLE_BYTES) {
      let worst = name;
      for (const [n, b] of this.unusableByName) if (b > (this.unusableByName.get(worst) ?? 0)) worst = n;
      throw floodError(worst, this.unusable);
    }
  }

  /** True while the peer sent nothing but keep-alives after its handshake. */
  get silent(): boolean {
    return this.count === this.keepAlives;
  }

  /** Returns true for the peer's first extended handshake. */
  private onExtendedHandshake(body: Uint8Array): boolean {
    if (body.length > MAX_EXTENDED_HANDSHAKE) throw extendedHandshakeError('too long');
    const decoded = decodeDictPrefix(body);
    if (decoded === undefined) throw extendedHandshakeError('invalid');
    const handshake = decoded.dict;
    const v = own(handshake, 'v');
    if (v instanceof Uint8Array) this.extendedV = Buffer.from(v).toString('utf8');
    if (this.extendedSeen) return false; // a later handshake may update `v`; the fetch starts once
    this.extendedSeen = true;
    this.extendedHandshake = handshake;
    return true;
  }
}
