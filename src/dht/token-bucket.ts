/**
 * A token bucket: `ratePerSecond` tokens per second, at most `burst` banked. The outbound budget of
 * the DHT socket (every packet we send takes one token).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!(ratePerSecond > 0)) throw new RangeError('ratePerSecond must be > 0');
    if (!(burst >= 1)) throw new RangeError('burst must be >= 1');
    this.tokens = burst;
    this.last = now();
  }

  private refill(): void {
    const t = this.now();
    if (t > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.ratePerSecond) / 1000);
      this.last = t;
    }
  }

  /** Takes one token if there is one beyond `reserve` (tokens left for other senders). */
  tryTake(reserve = 0): boolean {
    this.refill();
    if (this.tokens < 1 + reserve) return false;
    this.tokens -= 1;
    return true;
  }

  /** ms until one token beyond `reserve` is available (0 if one is). */
  msUntilToken(reserve = 0): number {
    this.refill();
    if (this.tokens >= 1 + reserve) return 0;
    return Math.ceil(((1 + reserve - this.tokens) * 1000) / this.ratePerSecond);
  }
}
