import { describe, expect, it } from 'vitest';
import { formatApiDate } from '../../src/model/api-date.js';

// Dates are formatted without a Date per call (formatApiDate): it must give exactly the text the
// API gave before, for any stored value.

/** mulberry32: seeded, so a failure reproduces. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const reference = (ms: number): string => new Date(ms).toISOString().replace('Z', '+0000');

describe('formatApiDate', () => {
  it('equals toISOString with +0000 at the edges', () => {
    const DAY = 86_400_000;
    const cases = [
      0, 1, -1, 999, 1000, DAY - 1, DAY, -DAY, -DAY - 1, -DAY + 1, 951_782_400_000 /* 2000-02-29 */, 1_709_251_199_999,
      -62_167_219_200_000 /* 0000-01-01 */, -62_167_219_200_001, 253_402_300_799_999 /* 9999-12-31T23:59:59.999 */,
      253_402_300_800_000, 8.64e15, -8.64e15, 1.5, -0.5, 1_529_215_116_123.9,
    ];
    for (const ms of cases) expect(formatApiDate(ms), String(ms)).toBe(reference(ms));
    // Alternating days (the one-day cache must not hand out a stale prefix).
    for (let i = 0; i < 50; i++) {
      const ms = (i % 2 === 0 ? 0 : 20 * DAY) + i * 1234;
      expect(formatApiDate(ms)).toBe(reference(ms));
    }
  });

  it('equals toISOString with +0000 on 200,000 random times', () => {
    const rnd = prng(99);
    for (let i = 0; i < 200_000; i++) {
      const ms =
        i % 4 === 0
          ? Math.floor((rnd() * 2 - 1) * 8.64e15)
          : i % 4 === 1
            ? Math.floor((rnd() * 2 - 1) * 253_402_300_800_000)
            : Math.floor(rnd() * 4e12);
      const got = formatApiDate(ms);
      if (got !== reference(ms)) expect(got, String(ms)).toBe(reference(ms));
    }
  });

  it('throws the same RangeError for times a Date cannot hold', () => {
    for (const ms of [Number.NaN, 8.64e15 + 1, -8.64e15 - 1, Number.POSITIVE_INFINITY]) {
      expect(() => formatApiDate(ms)).toThrow(RangeError);
    }
  });
});
