/**
 * The daemon-wide memory budget of in-flight captures: each capture reserves, before it connects,
 * the most its buffers can hold (the frame reader's bound, and with a pcap the recording bound and
 * the pcap writer's buffer); a metadata fetch grows its reservation by what the metadata will
 * hold. A capture the budget cannot hold is not started (counted as refused); a metadata fetch it
 * cannot hold is not made (the capture's note says so). Reservations are worst cases, so the
 * real use stays below `limitBytes`.
 */
export interface MemoryBudgetStats {
  limitBytes: number;
  reservedBytes: number;
  peakReservedBytes: number;
  /** Captures not started because the budget was full. */
  refusedCaptures: number;
  /** Metadata fetches not made because the budget was full. */
  refusedGrowths: number;
}

export interface MemoryReservation {
  /** Reserves `bytes` more for this capture; false (nothing reserved) when the budget cannot hold them. */
  grow(bytes: number): boolean;
  /** Returns everything this reservation holds (idempotent). */
  release(): void;
}

export class CaptureMemoryBudget {
  private reserved = 0;
  private peak = 0;
  private refusedCaptures = 0;
  private refusedGrowths = 0;

  constructor(readonly limitBytes: number) {
    if (!(limitBytes > 0)) throw new RangeError('capture memory budget must be > 0');
  }

  /** A reservation of `bytes` for one capture, or undefined (counted) when the budget cannot hold it. */
  reserve(bytes: number): MemoryReservation | undefined {
    if (!this.take(bytes)) {
      this.refusedCaptures++;
      return undefined;
    }
    let held = bytes;
    return {
      grow: (more) => {
        if (held < 0) return false;
        if (!this.take(more)) {
          this.refusedGrowths++;
          return false;
        }
        held += more;
        return true;
      },
      release: () => {
        if (held < 0) return;
        this.reserved -= held;
        held = -1;
      },
    };
  }

  private take(bytes: number): boolean {
    if (this.reserved + bytes > this.limitBytes) return false;
    this.reserved += bytes;
    if (this.reserved > this.peak) this.peak = this.reserved;
    return true;
  }

  stats(): MemoryBudgetStats {
    return {
      limitBytes: this.limitBytes,
      reservedBytes: this.reserved,
      peakReservedBytes: this.peak,
      refusedCaptures: this.refusedCaptures,
      refusedGrowths: this.refusedGrowths,
    };
  }
}
