import { bitfieldLengthOk, countBits } from '../protocol/wire-limits.js';
import { bitfieldLengthError, captureError } from './capture-errors.js';

/** Highest piece index tracked from HAVEs while the piece count is unknown (a 10 MiB info dictionary holds ~524k hashes). */
export const UNKNOWN_PIECE_LIMIT = 8 * 64 * 1024;

export interface PieceSummary {
  hasPieces: number;
  hasTotal: boolean;
  /** HAVEs outside the torrent, ignored. */
  outOfRangeHaves: number;
}

/**
 * What a peer says it has: a bitfield, have_all or have_none, and HAVEs. The piece count may be
 * unknown until the metadata arrives, so the bitfield is kept as received and checked (BEP 3:
 * exactly ceil(n/8) bytes, spare bits clear) as soon as the count is known. Memory is bounded:
 * the bitfield by the message cap, HAVEs by a bit set of at most 64 KiB.
 */
export class PeerPieces {
  /** True once the peer sent a bitfield, have_all or have_none. */
  announced = false;
  private haveAll = false;
  private bitfield: Uint8Array | undefined;
  private checkedFor: number | undefined;
  private haves: Uint8Array | undefined;
  private outOfRange = 0;

  /** `pieceCount`: the count known when the capture started, if any. */
  constructor(private readonly pieceCount: number | undefined) {}

  onBitfield(payload: Uint8Array): void {
    this.announced = true;
    this.bitfield = new Uint8Array(payload);
    this.checkedFor = undefined;
    if (this.pieceCount !== undefined) this.check(this.pieceCount);
  }

  /** Bits in the bitfield received (0 without one): an upper bound on the piece count while it is unknown. */
  get bitfieldBits(): number {
    return (this.bitfield?.length ?? 0) * 8;
  }

  /** True once the peer sent have_all. */
  get saidHaveAll(): boolean {
    return this.haveAll;
  }

  onHaveAll(): void {
    this.announced = true;
    this.haveAll = true;
  }

  onHaveNone(): void {
    this.announced = true;
  }

  onHave(index: number): void {
    const limit = this.pieceCount ?? UNKNOWN_PIECE_LIMIT;
    if (!(index >= 0 && index < limit)) {
      this.outOfRange += 1;
      return;
    }
    this.haves ??= new Uint8Array(Math.ceil(limit / 8));
    this.haves[index >> 3] = (this.haves[index >> 3] as number) | (0x80 >> (index & 7));
  }

  /** Throws the capture error for a bitfield that does not fit `pieceCount`. */
  check(pieceCount: number): void {
    const bitfield = this.bitfield;
    if (bitfield === undefined || this.checkedFor === pieceCount) return;
    if (bitfieldLengthOk(bitfield.length, pieceCount) !== null) throw bitfieldLengthError(pieceCount);
    if (bitfieldLengthOk(bitfield, pieceCount) !== null) throw captureError('BITFIELD_SPARE_BITS');
    this.checkedFor = pieceCount;
  }

  /**
   * Whether the peer has every piece, as far as we can tell with `pieceCount` (have_all, or a full
   * bitfield). Memoized per bitfield and piece count: the capture asks after every message, and a
   * HAVE flood of a large torrent must not recount a 64 KiB bitfield each time.
   */
  isSeeder(pieceCount: number | undefined): boolean {
    if (this.haveAll) return true;
    const bitfield = this.bitfield;
    if (pieceCount === undefined || bitfield === undefined || bitfield.length * 8 < pieceCount) return false;
    if (this.seederMemo?.bitfield !== bitfield || this.seederMemo.pieceCount !== pieceCount) {
      this.seederMemo = { bitfield, pieceCount, seeder: countBits(bitfield, pieceCount) === pieceCount };
    }
    return this.seederMemo.seeder;
  }

  private seederMemo: { bitfield: Uint8Array; pieceCount: number; seeder: boolean } | undefined;

  /**
   * The counts for the report. With the piece count known: distinct pieces among the first
   * `pieceCount`, from the bitfield and HAVEs (throws if the bitfield does not fit it). Unknown:
   * every bit set, and never `hasTotal` (a peer is not reported as the seeder of 0 pieces; the
   * capture's note says it sent have_all).
   */
  summary(pieceCount: number | undefined): PieceSummary {
    if (pieceCount !== undefined) this.check(pieceCount);
    let outOfRangeHaves = this.outOfRange;
    if (this.haveAll) {
      return pieceCount !== undefined && pieceCount > 0
        ? { hasPieces: pieceCount, hasTotal: true, outOfRangeHaves }
        : { hasPieces: 0, hasTotal: false, outOfRangeHaves };
    }
    const bits = Math.max(pieceCount ?? 0, (this.bitfield?.length ?? 0) * 8, (this.haves?.length ?? 0) * 8);
    const merged = new Uint8Array(Math.ceil(bits / 8));
    if (this.bitfield !== undefined) merged.set(this.bitfield);
    const haves = this.haves;
    if (haves !== undefined) {
      for (let i = 0; i < haves.length; i++) merged[i] = (merged[i] as number) | (haves[i] as number);
      // HAVEs taken while the piece count was unknown that fall outside it.
      if (pieceCount !== undefined) outOfRangeHaves += countBits(haves, haves.length * 8) - countBits(haves, pieceCount);
    }
    const hasPieces = countBits(merged, pieceCount ?? merged.length * 8);
    return { hasPieces, hasTotal: pieceCount !== undefined && pieceCount > 0 && hasPieces === pieceCount, outOfRangeHaves };
  }
}
