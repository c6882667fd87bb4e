/**
 * Retention's pace: how fast it deletes rows (and gives pages back) when nothing presses it. The
 * daemon at full load ages out ~1,000 captures/s; a backlog (10 M old captures after a lower age
 * limit or an upgrade) need not go faster than a few times that. Unpaced, retention deletes as fast
 * as its duty cycle allows (a third of the time: AdaptiveBatch.pauseMs) and the API's p99 moves
 * (bench/README.md, "Retention"); paced, each step is followed by the pause that makes the step and
 * its pause last `units / perSecond`.
 *
 * Keeping up: the captures' lag (how far the newest capture deleted is behind the age limit, at the
 * current time) is sampled after each batch. When it grew over a window (`windowMs`), retention is not
 * keeping up with what ages out: the pace doubles (up to `maxFactor` times the configured one; past what
 * the duty cycle allows it is unpaced in effect). A backlog being drained shrinks the lag: no rise.
 * A pass that reaches its cutoff puts the pace back to the configured one. The size cap does not wait
 * for the pace at all (Retention: a pass over the cap is unpaced).
 */
export interface RetentionPaceOptions {
  /** Rows deleted per second at most, all tables together (0: unpaced). */
  rowsPerSecond: number;
  /** Pages given back per second at most by the incremental vacuum (0: unpaced). */
  vacuumPagesPerSecond: number;
  /** The window over which a growing lag raises the pace (ms). */
  windowMs: number;
  /** The pace rises at most to this multiple of the configured one. */
  maxFactor?: number;
}

export interface RetentionPaceStatus {
  /** The configured pace (0: unpaced). */
  rowsPerSecond: number;
  vacuumPagesPerSecond: number;
  /** The pace now, as a multiple of the configured one (1 unless retention fell behind). */
  factor: number;
  /** Times the pace rose since start (lag grew over a window). */
  raises: number;
  /** How far the newest capture deleted was behind the age limit at the last batch (ms; null before any). */
  lagMs: number | null;
}

/** The longest single pause (ms): a stop or the next check never waits longer. */
export const MAX_PACE_PAUSE_MS = 1_000;

export class RetentionPace {
  private factor = 1;
  private raises = 0;
  private lagMs: number | null = null;
  /** The first lag sample of the current window, and when it was taken. */
  private windowStart: { at: number; lagMs: number } | undefined;

  constructor(
    private readonly options: RetentionPaceOptions,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Units per second now for rows or vacuum pages (Infinity: unpaced). */
  perSecond(kind: 'rows' | 'pages'): number {
    const base = kind === 'rows' ? this.options.rowsPerSecond : this.options.vacuumPagesPerSecond;
    return base > 0 ? base * this.factor : Infinity;
  }

  /** Most units in one step at the pace (a step's pause stays under MAX_PACE_PAUSE_MS). */
  maxUnits(kind: 'rows' | 'pages'): number {
    const rate = this.perSecond(kind);
    return rate === Infinity ? Infinity : Math.max(1, Math.floor((rate * MAX_PACE_PAUSE_MS) / 1000));
  }

  /** The pause after a step of `units` that took `stepMs`, so that step and pause last units / pace (ms, ≥ 0). */
  pauseMs(kind: 'rows' | 'pages', units: number, stepMs: number): number {
    const rate = this.perSecond(kind);
    if (rate === Infinity || units <= 0) return 0;
    return Math.min(MAX_PACE_PAUSE_MS, Math.max(0, (units / rate) * 1000 - stepMs));
  }

  /** A sample of the captures' lag behind their age limit (ms); raises the pace when it grew over the window. */
  observeLag(lagMs: number): void {
    const at = this.clock();
    this.lagMs = Math.round(lagMs);
    if (!this.windowStart) {
      this.windowStart = { at, lagMs };
      return;
    }
    if (at - this.windowStart.at < this.options.windowMs) return;
    if (lagMs > this.windowStart.lagMs && this.factor < (this.options.maxFactor ?? 64)) {
      this.factor *= 2;
      this.raises++;
    }
    this.windowStart = { at, lagMs };
  }

  /** The age deletes reached their cutoff: back to the configured pace, a new window. */
  caughtUp(): void {
    this.factor = 1;
    this.windowStart = undefined;
  }

  status(): RetentionPaceStatus {
    return { rowsPerSecond: this.options.rowsPerSecond, vacuumPagesPerSecond: this.options.vacuumPagesPerSecond, factor: this.factor, raises: this.raises, lagMs: this.lagMs };
  }
}
