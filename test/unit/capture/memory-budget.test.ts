import { describe, expect, it } from 'vitest';
import { captureReservation } from '../../../src/capture/capture-pipeline.js';
import { CaptureMemoryBudget } from '../../../src/capture/memory-budget.js';
import { configSchema } from '../../../src/config/config-schema.js';

describe('CaptureMemoryBudget', () => {
  it('reserves, grows and releases; refuses what it cannot hold and counts it', () => {
    const budget = new CaptureMemoryBudget(1000);
    const a = budget.reserve(600);
    expect(a).toBeDefined();
    expect(budget.reserve(500)).toBeUndefined();
    expect(a?.grow(300)).toBe(true);
    expect(a?.grow(200)).toBe(false);
    expect(budget.stats()).toEqual({ limitBytes: 1000, reservedBytes: 900, peakReservedBytes: 900, refusedCaptures: 1, refusedGrowths: 1 });
    a?.release();
    a?.release(); // idempotent
    expect(a?.grow(1)).toBe(false); // a released reservation holds nothing more
    expect(budget.stats()).toMatchObject({ reservedBytes: 0, peakReservedBytes: 900 });
    expect(budget.reserve(1000)).toBeDefined();
  });

  it('the defaults hold capture.concurrency captures, each with a pcap', () => {
    const config = configSchema.parse({});
    const each = captureReservation(true, config.pcap.maxBytesPerCapture);
    expect(each * config.capture.concurrency).toBeLessThanOrEqual(config.capture.memoryBudgetBytes);
    expect(captureReservation(false, config.pcap.maxBytesPerCapture)).toBeLessThan(256 * 1024);
  });
});
