import { describe, expect, it } from 'vitest';
import { formatStorage } from '../../../src/cli/status-command.js';

const ok = { state: 'ok' as const, consecutiveFailures: 0, failures: 0, lastError: null, nextAttemptAt: null };

describe('status: the storage line', () => {
  it('says how often capture batches waited for the BTN write thread (and failed attempts)', () => {
    expect(formatStorage(ok)).toBe('ok');
    expect(formatStorage({ ...ok, turnWaits: 0 })).toBe('ok');
    expect(formatStorage({ ...ok, turnWaits: 12 })).toBe('ok (12 waits for the BTN write thread)');
    expect(formatStorage({ ...ok, failures: 3, turnWaits: 12 })).toBe('ok (3 failed attempts since start, 12 waits for the BTN write thread)');
    expect(formatStorage({ ...ok, failures: 3 })).toBe('ok (3 failed attempts since start)');
  });
});
