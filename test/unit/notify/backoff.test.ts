import { describe, expect, it } from 'vitest';
import { redactUrl, withTimeout } from '../../../src/notify/async-util.js';
import { backoffDelay } from '../../../src/notify/backoff.js';

describe('backoffDelay', () => {
  const p = { baseMs: 500, maxMs: 30_000, jitter: 0.5 };

  it('doubles from the base and stops at the cap', () => {
    const top = (n: number) => backoffDelay(n, p, () => 0);
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(top)).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(top(10_000)).toBe(30_000);
  });

  it('jitters downwards within [d × (1 − jitter), d]', () => {
    expect(backoffDelay(3, p, () => 0.999999)).toBe(1000);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(4, p);
      expect(d).toBeGreaterThanOrEqual(2000);
      expect(d).toBeLessThanOrEqual(4000);
    }
  });

  it('treats 0 or negative failure counts as the first', () => {
    expect(backoffDelay(0, p, () => 0)).toBe(500);
    expect(backoffDelay(-3, p, () => 0)).toBe(500);
  });
});

describe('helpers', () => {
  it('withTimeout rejects with the duration in the message', async () => {
    await expect(withTimeout(new Promise(() => undefined), 20, 'waiting')).rejects.toThrow('waiting timed out after 20 ms');
    await expect(withTimeout(Promise.resolve(7), 20, 'x')).resolves.toBe(7);
  });

  it('redactUrl hides the password only', () => {
    expect(redactUrl('amqp://guest:secret@127.0.0.1:5672/vh')).toBe('amqp://guest:***@127.0.0.1:5672/vh');
    expect(redactUrl('amqps://broker.example:5671')).toBe('amqps://broker.example:5671');
  });
});
