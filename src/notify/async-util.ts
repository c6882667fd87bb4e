import { AppError } from '../util/app-error.js';

/** Rejects with a TIMEOUT AppError when `promise` has not settled after `ms`. The timer never keeps the process alive. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AppError('TIMEOUT', `${what} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A sleep that wake() ends early; used by loops that must react to new work and to stop(). */
export class Sleeper {
  private timer: NodeJS.Timeout | undefined;
  private resolve: (() => void) | undefined;
  private woken = false;

  sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    // A sleep abandoned by a race (Promise.race with other work) ends here, so its timer cannot cut the new one short.
    clearTimeout(this.timer);
    const previous = this.resolve;
    this.resolve = undefined;
    previous?.();
    return new Promise<void>((resolve) => {
      this.resolve = resolve;
      this.timer = setTimeout(() => this.wake(), Math.max(0, ms));
    });
  }

  /** Ends the current sleep now, or makes the next one return at once. */
  wake(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const r = this.resolve;
    this.resolve = undefined;
    if (r) r();
    else this.woken = true;
  }
}

/** Logs at most once per `intervalMs` per key; returns how many calls were suppressed since the last one. */
export class RateLimiter {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly intervalMs: number) {}

  /** True when the caller should log now; `suppressed` (calls skipped since) is passed to `onAllow`. */
  allow(key: string, now: number = Date.now(), onAllow?: (suppressed: number) => void): boolean {
    const e = this.last.get(key);
    if (e && now - e.at < this.intervalMs) {
      e.suppressed++;
      return false;
    }
    onAllow?.(e?.suppressed ?? 0);
    this.last.set(key, { at: now, suppressed: 0 });
    return true;
  }

  reset(key: string): void {
    this.last.delete(key);
  }
}

/** amqp://user:secret@host → amqp://user:***@host (for logs and status). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
  }
}
