import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BatchWriter } from '../../../src/util/batch-writer.js';
import type { Logger } from '../../../src/util/logger.js';

function recordingLogger(): { logger: Logger; lines: Array<{ level: string; msg: string; obj: Record<string, unknown> }> } {
  const lines: Array<{ level: string; msg: string; obj: Record<string, unknown> }> = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => lines.push({ level, msg, obj });
  const logger = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), child: () => logger } as unknown as Logger;
  return { logger, lines };
}

const diskFull = () => Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });

describe('BatchWriter on a failing sink (disk full)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('backs off instead of retrying per new item, logs once per state change, pauses intake and resumes by itself', () => {
    let full = true;
    const written: number[] = [];
    let calls = 0;
    const { logger, lines } = recordingLogger();
    const w = new BatchWriter<number>(
      (batch) => {
        calls++;
        if (full) throw diskFull();
        written.push(...batch);
      },
      { maxBatch: 500, maxDelayMs: 200, maxPending: 50_000, retryDelayMs: 1000, maxRetryDelayMs: 30_000, name: 'capture store' },
      logger,
    );
    // 6 s of captures arriving while the disk is full (before: 1,703 failed flushes in 6 s).
    for (let t = 0; t < 6000; t += 2) {
      w.add(t);
      vi.advanceTimersByTime(2);
    }
    // Attempts: 200 ms, then +1 s, +2 s: 3 failed flushes, each after its delay.
    expect(calls).toBeLessThanOrEqual(4);
    expect(w.stats()).toMatchObject({ state: 'failing', pending: 3000, written: 0, outages: 1 });
    expect(w.stats().failures).toBe(calls);
    expect(w.stats().lastError).toMatch(/^disk full/);
    expect(w.accepting()).toBe(false);
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'writes failing: retrying with backoff', obj: { store: 'capture store', reason: expect.stringMatching(/^disk full/) } });

    // Space comes back: the next retry writes everything, logs the recovery once, intake resumes.
    full = false;
    vi.advanceTimersByTime(30_000);
    expect(written).toHaveLength(3000);
    expect(w.stats()).toMatchObject({ state: 'ok', pending: 0, written: 3000, consecutiveFailures: 0, lastError: null });
    expect(w.accepting()).toBe(true);
    const recovered = lines.filter((l) => l.level === 'warn');
    expect(recovered).toHaveLength(1);
    expect(recovered[0]).toMatchObject({ msg: 'writes recovered', obj: { store: 'capture store', failedAttempts: expect.any(Number) } });
    expect(lines).toHaveLength(2);
  });

  it('never flushes ahead of the retry delay, even past maxBatch', () => {
    let calls = 0;
    const w = new BatchWriter<number>(
      () => {
        calls++;
        throw diskFull();
      },
      { maxBatch: 10, maxDelayMs: 200, maxPending: 1000, retryDelayMs: 1000 },
    );
    for (let i = 0; i < 10; i++) w.add(i); // the 10th flushes at once and fails
    expect(calls).toBe(1);
    for (let i = 0; i < 500; i++) w.add(i);
    expect(calls).toBe(1);
    expect(w.flush()).toBe(false); // an explicit flush inside the delay does not try either
    expect(calls).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(calls).toBe(2);
    vi.advanceTimersByTime(1999);
    expect(calls).toBe(2);
    vi.advanceTimersByTime(1);
    expect(calls).toBe(3);
  });

  it('retries when its timer fires a little before the retry time on the clock (no item waits for good)', () => {
    // Node's timers and Date.now() round differently: a timer can fire 1 ms "early" by Date.now().
    // Here the gate's clock reads 1 ms ahead when the failure sets the retry time and 1 ms behind
    // when the retry timer fires, so the timer comes 2 ms early by that clock.
    let locked = true;
    const written: number[] = [];
    const w = new BatchWriter<number>(
      (batch) => {
        if (locked) throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
        written.push(...batch);
      },
      { maxBatch: 10, maxDelayMs: 50, maxPending: 1000, retryDelayMs: 100, maxRetryDelayMs: 1000, now: () => Date.now() + (locked ? 1 : -1) },
    );
    for (let i = 0; i < 5; i++) w.add(i);
    vi.advanceTimersByTime(60); // first flush fails: retry in 100 ms
    expect(w.stats()).toMatchObject({ state: 'failing', pending: 5 });
    locked = false; // the lock is gone; nothing is added any more
    vi.advanceTimersByTime(2_000);
    expect(written).toEqual([0, 1, 2, 3, 4]);
    expect(w.stats()).toMatchObject({ state: 'ok', pending: 0, written: 5 });
    w.close();
  });

  it('refuses (and counts) past maxPending; close() makes one last attempt', () => {
    let full = true;
    const out: number[] = [];
    const w = new BatchWriter<number>(
      (b) => {
        if (full) throw diskFull();
        out.push(...b);
      },
      { maxBatch: 2, maxDelayMs: 10, maxPending: 4, retryDelayMs: 60_000 },
    );
    for (let i = 0; i < 6; i++) w.add(i);
    expect(w.stats()).toMatchObject({ pending: 4, refused: 2 });
    full = false;
    expect(w.close()).toBe(true);
    expect(out).toEqual([0, 1, 2, 3]);
  });
});

describe('BatchWriter with a write turn shared with another writer (the BTN write thread)', () => {
  /** A turn held by "the thread" until release() is called from the test. */
  function fakeTurn() {
    let holder: 'free' | 'thread' | 'main' = 'thread';
    let wake: (() => void) | undefined;
    return {
      tryTake: () => (holder === 'free' ? ((holder = 'main'), true) : false),
      whenFree: (ms: number) => new Promise<void>((r) => {
        wake = r;
        setTimeout(r, ms);
      }),
      release: () => {
        holder = 'free';
      },
      threadLetsGo: () => {
        holder = 'free';
        wake?.();
      },
      holder: () => holder,
    };
  }

  it('does not write while the other holds the turn, is not failing meanwhile, and writes once it is free', async () => {
    const turn = fakeTurn();
    const out: number[] = [];
    const w = new BatchWriter<number>((b) => out.push(...b), { maxBatch: 2, maxDelayMs: 200, maxPending: 100, turn });
    for (let i = 0; i < 5; i++) w.add(i);
    expect(out).toEqual([]);
    expect(w.accepting()).toBe(true);
    expect(w.stats()).toMatchObject({ state: 'ok', failures: 0, turnWaits: 1, pending: 5 });
    turn.threadLetsGo();
    await new Promise((r) => setTimeout(r, 0));
    expect(out).toEqual([0, 1, 2, 3, 4]);
    expect(turn.holder()).toBe('free'); // given back after the write
  });

  it('after turnWaitMs it writes regardless (SQLite\'s lock decides), and close() does not wait for the turn', async () => {
    const turn = fakeTurn();
    const out: number[] = [];
    const w = new BatchWriter<number>((b) => out.push(...b), { maxBatch: 1, maxDelayMs: 10, maxPending: 100, turn, turnWaitMs: 30 });
    w.add(1);
    await new Promise((r) => setTimeout(r, 60));
    expect(out).toEqual([1]);
    w.add(2);
    expect(w.close()).toBe(true);
    expect(out).toEqual([1, 2]);
  });
});
