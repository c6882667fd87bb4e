/**
 * Captures found in the last hour, for `capture-daemon status`, without a query per call: a count
 * per minute for the last 60 minutes, seeded once from the database at start and then fed with
 * every stored batch. At 1,000 captures/s a `count(*)` over an hour is a 3.6M-row index range,
 * 0.1–0.3 s of blocked event loop per status call; this is 60 additions.
 *
 * Granularity: whole minutes (the oldest minute is counted in full).
 */
export class RecentCaptureCounter {
  private static readonly MINUTES = 60;
  private readonly counts = new Float64Array(RecentCaptureCounter.MINUTES);
  /** The minute (epoch ms / 60,000) each slot currently counts. */
  private readonly minuteOf = new Float64Array(RecentCaptureCounter.MINUTES).fill(-1);

  /** `seed`: [minute, count] pairs, e.g. from `SqliteCaptureRepository.countPerMinuteSince`. */
  constructor(seed: Iterable<readonly [number, number]> = [], now = Date.now()) {
    const current = Math.floor(now / 60_000);
    for (const [minute, count] of seed) {
      if (minute > current - RecentCaptureCounter.MINUTES && minute <= current) this.addToMinute(minute, count);
    }
  }

  /** Counts captures by their found time (epoch ms). */
  add(foundAt: number, count = 1): void {
    this.addToMinute(Math.floor(foundAt / 60_000), count);
  }

  /** Captures found within the last 60 minutes (the current one included). */
  lastHour(now = Date.now()): number {
    const current = Math.floor(now / 60_000);
    let total = 0;
    for (let i = 0; i < RecentCaptureCounter.MINUTES; i++) {
      const m = this.minuteOf[i] as number;
      if (m > current - RecentCaptureCounter.MINUTES && m <= current) total += this.counts[i] as number;
    }
    return total;
  }

  private addToMinute(minute: number, count: number): void {
    const slot = ((minute % RecentCaptureCounter.MINUTES) + RecentCaptureCounter.MINUTES) % RecentCaptureCounter.MINUTES;
    if (this.minuteOf[slot] !== minute) {
      // A slot left over from an older minute: reuse it. A capture found more than an hour before the
      // slot's minute (a late batch) is dropped rather than overwrite a newer minute.
      if ((this.minuteOf[slot] as number) > minute) return;
      this.minuteOf[slot] = minute;
      this.counts[slot] = 0;
    }
    this.counts[slot] = (this.counts[slot] as number) + count;
  }
}
