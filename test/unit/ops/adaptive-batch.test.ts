import { describe, expect, it } from 'vitest';
import { AdaptiveBatch } from '../../../src/ops/adaptive-batch.js';

describe('AdaptiveBatch', () => {
  it('starts small, shrinks in proportion when over the budget, grows by half when well under it, within 1..max', () => {
    expect(new AdaptiveBatch(10, 10, 20).size).toBe(10);
    const b = new AdaptiveBatch(500, 10, 20);
    expect(b.size).toBe(AdaptiveBatch.START);
    for (let i = 0; i < 20; i++) b.record(1);
    expect(b.size).toBe(500);
    b.record(40); // 4x over: 500 * 10/40 * 0.8
    expect(b.size).toBe(100);
    b.record(8); // within budget, not well under: unchanged
    expect(b.size).toBe(100);
    b.record(2);
    expect(b.size).toBe(150);
    for (let i = 0; i < 20; i++) b.record(1);
    expect(b.size).toBe(500);
    for (let i = 0; i < 30; i++) b.record(10_000);
    expect(b.size).toBe(1);
  });

  it('pauses at least the configured minimum and at least twice the last batch', () => {
    const b = new AdaptiveBatch(100, 10, 20);
    expect(b.pauseMs).toBe(20);
    b.record(3);
    expect(b.pauseMs).toBe(20);
    b.record(30.2);
    expect(b.pauseMs).toBe(61);
  });
});
