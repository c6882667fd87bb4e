/** Capped exponential backoff with jitter. */
export interface BackoffPolicy {
  /** Delay after the first failure. */
  baseMs: number;
  /** Cap: no delay is longer. */
  maxMs: number;
  /** 0..1: the delay is drawn uniformly from [d × (1 − jitter), d], so many retries do not fire together. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 30_000, jitter: 0.5 };

/** Delay before retry number `failures` (1 = after the first failure). Never above maxMs, never below 0. */
export function backoffDelay(failures: number, p: BackoffPolicy, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(failures));
  // 2^(n-1) overflows to Infinity for large n; min() caps it.
  const exp = Math.min(p.maxMs, p.baseMs * 2 ** Math.min(n - 1, 60));
  const jitter = Math.min(1, Math.max(0, p.jitter));
  return Math.max(0, Math.round(exp * (1 - jitter * random())));
}
