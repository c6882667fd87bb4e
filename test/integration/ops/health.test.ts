import { Writable } from 'node:stream';
import path from 'node:path';
import { createLogger } from '../../../src/util/logger.js';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { DhtStats } from '../../../src/dht/dht-module.js';
import { HealthMonitor } from '../../../src/ops/health.js';
import { openDatabase } from '../../../src/store/open-database.js';
import { SqliteOpsRepository } from '../../../src/store/ops-repository.js';
import { tempDir } from '../../helpers/temp-dir.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function dhtStats(nodes: number, lastReplyAt: number): DhtStats {
  return { enabled: true, nodes, socket: { lastReplyAt } } as unknown as DhtStats;
}

function monitor(dht: () => DhtStats, now: () => number, bootstrapCount = 0) {
  const t = tempDir('cd-health-');
  const file = path.join(t.dir, 'capture.db');
  const db = openDatabase(file);
  cleanups.push(t.cleanup, () => db.close());
  // The log lines the monitor writes, parsed.
  const logs: Array<Record<string, unknown>> = [];
  const child = createLogger('info', { pretty: false, destination: new Writable({ write: (chunk: Buffer, _enc, cb) => { logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } }) });
  const m = new HealthMonitor(
    { store: new SqliteOpsRepository(db), dht, apiBound: () => true, logger: child, now },
    { checkIntervalMs: 1000, dhtReplyWithinMs: 60_000, noNodesWarnAfterMs: 30_000, maxEventLoopDelayMs: 2000, bootstrapCount },
  );
  return { m, file, logs };
}

describe('HealthMonitor', () => {
  it('is ready with a writable database and a DHT that answers; not once the DHT has been silent too long', () => {
    let now = 1_000_000;
    let stats = dhtStats(50, now);
    const { m } = monitor(() => stats, () => now);
    expect(m.check().ready).toBe(true);
    expect(m.watchdogOk()).toBe(true);
    now += 61_000;
    const r = m.check();
    expect(r.ready).toBe(false);
    expect(r.checks.dht).toEqual({ ok: false, detail: '50 nodes but no reply for 61 s' });
    expect(m.watchdogOk()).toBe(false);
    stats = dhtStats(50, now - 1000);
    expect(m.check().ready).toBe(true);
  });

  it('says the database is not writable while another connection holds the write lock', () => {
    const now = 1_000_000;
    const { m, file } = monitor(() => dhtStats(1, now), () => now);
    const other = new Database(file);
    cleanups.push(() => other.close());
    other.exec('BEGIN IMMEDIATE');
    const r = m.check();
    expect(r.ready).toBe(false);
    expect(r.checks.database.ok).toBe(false);
    expect(r.checks.database.detail).toMatch(/not writable: database is locked/);
    expect(m.watchdogOk()).toBe(false);
    other.exec('ROLLBACK');
    expect(m.check().checks.database).toEqual({ ok: true, detail: 'writable' });
  });

  it('warns once, clearly, when the DHT has no nodes after start, and says so again in the report', () => {
    let now = 1_000_000;
    let stats = dhtStats(0, 0);
    const { m, logs } = monitor(() => stats, () => now, 0);
    expect(m.check().warnings).toEqual([]);
    now += 31_000;
    const r = m.check();
    expect(r.ready).toBe(true); // no nodes: a warning, the API still serves stored data
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/the DHT has no nodes 31 s after start, so no peers are found: dht\.bootstrap is empty/);
    m.check();
    expect(logs.filter((l) => l.level === 'warn')).toHaveLength(1);
    stats = dhtStats(3, now);
    expect(m.check().warnings).toEqual([]);
    expect(logs.at(-1)).toMatchObject({ msg: 'the DHT has nodes now', nodes: 3 });
  });
});
