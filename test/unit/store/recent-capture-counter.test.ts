import { describe, expect, it } from 'vitest';
import type { NewCapture } from '../../../src/model/capture.js';
import { RecentCaptureCounter } from '../../../src/store/recent-capture-counter.js';
import { SqliteCaptureRepository } from '../../../src/store/capture-repository.js';
import { openDatabase } from '../../../src/store/open-database.js';
import { tempDir } from '../../helpers/temp-dir.js';

const MIN = 60_000;

describe('RecentCaptureCounter', () => {
  it('counts captures found in the last 60 minutes, minute by minute', () => {
    const t0 = Date.UTC(2026, 10, 22, 12, 0, 0);
    const c = new RecentCaptureCounter([], t0);
    c.add(t0);
    c.add(t0 + 30_000, 4);
    c.add(t0 + 59 * MIN);
    expect(c.lastHour(t0 + 59 * MIN)).toBe(6);
    // minute t0 leaves the window 60 minutes later
    expect(c.lastHour(t0 + 60 * MIN)).toBe(1);
    expect(c.lastHour(t0 + 200 * MIN)).toBe(0);
  });

  it('reuses a slot for a new minute, and drops a capture older than the minute in its slot', () => {
    const t0 = Date.UTC(2026, 10, 22, 12, 0, 0);
    const c = new RecentCaptureCounter([], t0);
    c.add(t0, 3);
    c.add(t0 + 60 * MIN, 2); // same slot, an hour later: replaces
    c.add(t0 + 10_000); // late: older than the slot's minute, dropped
    expect(c.lastHour(t0 + 60 * MIN)).toBe(2);
  });

  it('is seeded from the database: the same figure as count(*) over the last hour, to the minute', () => {
    const { dir, cleanup } = tempDir();
    try {
      const db = openDatabase(`${dir}/c.db`);
      const repo = new SqliteCaptureRepository(db);
      const now = Date.now();
      const foundAts = [now - 2 * 3_600_000, now - 61 * MIN, now - 59 * MIN, now - 30 * MIN, now - 1000, now];
      repo.insertMany(
        foundAts.map((foundAt, i): NewCapture => ({ foundAt, ip: `10.0.0.${i + 1}`, port: 6881, infohash: 'a'.repeat(40), filters: ['f'], error: 'connect timeout' })),
      );
      const counter = new RecentCaptureCounter(repo.countPerMinuteSince(now - 3_600_000), now);
      expect(counter.lastHour(now)).toBe(4);
      expect(db.prepare('SELECT count(*) FROM captures WHERE found_at >= ?').pluck().get(now - 3_600_000)).toBe(4);
      db.close();
    } finally {
      cleanup();
    }
  });
});
