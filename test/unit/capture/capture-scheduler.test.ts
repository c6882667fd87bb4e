import { describe, expect, it } from 'vitest';
import { CaptureScheduler } from '../../../src/capture/capture-scheduler.js';

function deferredJob(ip: string, log: string[], running: { now: number; max: number; perIp: Map<string, number>; maxPerIp: number }) {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return {
    release: () => release(),
    job: {
      ip,
      run: async (signal: AbortSignal) => {
        running.now++;
        running.max = Math.max(running.max, running.now);
        const n = (running.perIp.get(ip) ?? 0) + 1;
        running.perIp.set(ip, n);
        running.maxPerIp = Math.max(running.maxPerIp, n);
        log.push(`start ${ip}`);
        await Promise.race([done, new Promise((_, rej) => signal.addEventListener('abort', () => rej(new Error('aborted'))))]);
        running.perIp.set(ip, (running.perIp.get(ip) ?? 1) - 1);
        running.now--;
      },
    },
  };
}

describe('CaptureScheduler', () => {
  it('respects the global concurrency and the per-IP limit without head-of-line blocking', async () => {
    const s = new CaptureScheduler({ concurrency: 3, perIpConcurrency: 1, queueSize: 100, jobTimeoutMs: 10_000 });
    const log: string[] = [];
    const running = { now: 0, max: 0, perIp: new Map<string, number>(), maxPerIp: 0 };
    const jobs = ['a', 'a', 'a', 'b', 'c', 'd', 'b'].map((ip) => deferredJob(ip, log, running));
    for (const j of jobs) expect(s.submit(j.job)).toBe(true);
    await new Promise((r) => setTimeout(r, 10));
    // a, b, c start; the second and third 'a' wait without blocking b and c
    expect(log).toEqual(['start a', 'start b', 'start c']);
    expect(s.stats()).toMatchObject({ running: 3, queued: 4 });
    for (const j of jobs) j.release();
    await s.idle();
    expect(running.max).toBe(3);
    expect(running.maxPerIp).toBe(1);
    expect(s.stats()).toMatchObject({ running: 0, queued: 0, started: 7, completed: 7 });
  });

  it('refuses jobs beyond the queue bound, and counts them', () => {
    const s = new CaptureScheduler({ concurrency: 1, perIpConcurrency: 1, queueSize: 2, jobTimeoutMs: 10_000 });
    const log: string[] = [];
    const running = { now: 0, max: 0, perIp: new Map<string, number>(), maxPerIp: 0 };
    const results = [1, 2, 3, 4].map((i) => s.submit(deferredJob(`10.0.0.${i}`, log, running).job));
    expect(results).toEqual([true, true, true, false]);
    expect(s.stats().droppedQueueFull).toBe(1);
    void s.stop();
  });

  it('aborts a job at its deadline and stops cleanly', async () => {
    const s = new CaptureScheduler({ concurrency: 2, perIpConcurrency: 2, queueSize: 10, jobTimeoutMs: 50 });
    const running = { now: 0, max: 0, perIp: new Map<string, number>(), maxPerIp: 0 };
    s.submit(deferredJob('x', [], running).job);
    await s.idle();
    expect(s.stats()).toMatchObject({ failed: 1, timedOut: 1 });
    s.submit(deferredJob('y', [], running).job);
    await s.stop();
    // stop() aborted y before its deadline: failed, but not a timeout; no timer is left behind
    expect(s.stats()).toMatchObject({ running: 0, failed: 2, timedOut: 1 });
    expect(s.submit(deferredJob('z', [], running).job)).toBe(false);
  });
  it('drain() drops the queue, lets running jobs finish within the time given, and aborts the rest after it', async () => {
    const s = new CaptureScheduler({ concurrency: 2, perIpConcurrency: 1, queueSize: 10, jobTimeoutMs: 60_000 });
    const log: string[] = [];
    const running = { now: 0, max: 0, perIp: new Map<string, number>(), maxPerIp: 0 };
    const quick = deferredJob('a', log, running);
    const stuck = deferredJob('b', log, running);
    const queued = deferredJob('c', log, running);
    for (const j of [quick, stuck, queued]) s.submit(j.job);
    setTimeout(() => quick.release(), 30);
    const t0 = performance.now();
    const result = await s.drain(300);
    const took = performance.now() - t0;
    expect(result).toEqual({ finished: 1, aborted: 1, dropped: 1 });
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(2_000);
    expect(log).toEqual(['start a', 'start b']); // the queued job never started
    expect(s.stats()).toMatchObject({ running: 0, queued: 0, completed: 1, failed: 1 });
    expect(s.submit(deferredJob('d', log, running).job)).toBe(false); // no intake after drain
  });

  it('drain() returns as soon as the running jobs are done', async () => {
    const s = new CaptureScheduler({ concurrency: 2, perIpConcurrency: 1, queueSize: 10, jobTimeoutMs: 60_000 });
    const running = { now: 0, max: 0, perIp: new Map<string, number>(), maxPerIp: 0 };
    const j = deferredJob('a', [], running);
    s.submit(j.job);
    setTimeout(() => j.release(), 20);
    const t0 = performance.now();
    expect(await s.drain(10_000)).toEqual({ finished: 1, aborted: 0, dropped: 0 });
    expect(performance.now() - t0).toBeLessThan(1_000);
  });
});
