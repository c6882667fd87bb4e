import { describe, expect, it } from 'vitest';
import { formatPace } from '../../../src/cli/status-command.js';

const pace = { rowsPerSecond: 2_000, vacuumPagesPerSecond: 2_000, factor: 1, raises: 0, lagMs: null };
const last = { pacedMs: 125_400, unpaced: false } as Parameters<typeof formatPace>[2];

describe('status: the retention pace line', () => {
  it('shows the pace, its rises, the lag and what the last pass waited for it', () => {
    expect(formatPace({ ...pace, rowsPerSecond: 0, vacuumPagesPerSecond: 0 }, false, null)).toBe('pace off (unpaced)');
    expect(formatPace(pace, false, null)).toBe('pace 2000 rows/s, 2000 pages/s');
    expect(formatPace({ ...pace, factor: 4, raises: 2, lagMs: 5_400_000 }, true, last)).toBe(
      'pace 2000 rows/s, 2000 pages/s · raised ×4 now (falling behind) · raised 2× since start · captures 1h 30m 0s behind their age limit · last pass waited 125 s for the pace',
    );
    expect(formatPace({ ...pace, lagMs: 90_000 }, false, { ...last, unpaced: true } as typeof last)).toBe(
      'pace 2000 rows/s, 2000 pages/s · captures 1m 30s behind their age limit at the last batch · last pass unpaced (size cap)',
    );
  });
});
