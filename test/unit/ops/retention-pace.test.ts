import { describe, expect, it } from 'vitest';
import { MAX_PACE_PAUSE_MS, RetentionPace } from '../../../src/ops/retention-pace.js';

function pace(rowsPerSecond: number, windowMs = 60_000): { p: RetentionPace; tick: (ms: number) => void } {
  let t = 0;
  const p = new RetentionPace({ rowsPerSecond, vacuumPagesPerSecond: rowsPerSecond * 2, windowMs, maxFactor: 8 }, () => t);
  return { p, tick: (ms) => (t += ms) };
}

describe('RetentionPace', () => {
  it('pauses so that a step and its pause last units ÷ pace, never more than MAX_PACE_PAUSE_MS', () => {
    const { p } = pace(1_000);
    // 200 rows at 1,000/s = 200 ms: the step took 30 ms, the pause is the other 170 ms.
    expect(p.pauseMs('rows', 200, 30)).toBe(170);
    // A step slower than its share of the pace: no pause from the pace (the duty cycle's remains).
    expect(p.pauseMs('rows', 10, 50)).toBe(0);
    // Pages have their own pace (2,000/s here).
    expect(p.pauseMs('pages', 200, 0)).toBe(100);
    expect(p.pauseMs('rows', 100_000, 0)).toBe(MAX_PACE_PAUSE_MS);
    // A step holds at most one second's worth at the pace.
    expect(p.maxUnits('rows')).toBe(1_000);
  });

  it('0 is unpaced: no pause, no limit on a step', () => {
    const { p } = pace(0);
    expect(p.perSecond('rows')).toBe(Infinity);
    expect(p.pauseMs('rows', 500, 1)).toBe(0);
    expect(p.maxUnits('rows')).toBe(Infinity);
  });

  it('a backlog being drained (lag shrinking) keeps the configured pace', () => {
    const { p, tick } = pace(1_000);
    for (let lag = 90 * 86_400_000; lag > 0; lag -= 3_600_000) {
      p.observeLag(lag);
      tick(5_000);
    }
    expect(p.status()).toMatchObject({ factor: 1, raises: 0 });
    expect(p.perSecond('rows')).toBe(1_000);
  });

  it('falling behind (lag growing over a window) doubles the pace, up to maxFactor; caught up: back to the configured pace', () => {
    const { p, tick } = pace(1_000, 60_000);
    let lag = 600_000;
    p.observeLag(lag);
    // Growing within the window: not yet.
    tick(30_000);
    p.observeLag((lag += 10_000));
    expect(p.status().factor).toBe(1);
    tick(30_000);
    p.observeLag((lag += 10_000));
    expect(p.status()).toMatchObject({ factor: 2, raises: 1, lagMs: lag });
    expect(p.perSecond('rows')).toBe(2_000);
    for (let i = 0; i < 10; i++) {
      tick(60_000);
      p.observeLag((lag += 10_000));
    }
    expect(p.status().factor).toBe(8);
    p.caughtUp();
    expect(p.status()).toMatchObject({ factor: 1, raises: 3 });
  });
});
