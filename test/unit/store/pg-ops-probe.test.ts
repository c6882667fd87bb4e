import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PgOpsProbe } from '../../../src/store/pg/pg-center-adapters.js';
import { PG_TEST_URL } from '../../helpers/pg-test-schema.js';

const pools: pg.Pool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.end();
});

function pool(options: pg.PoolConfig = {}): pg.Pool {
  const p = new pg.Pool({ connectionString: PG_TEST_URL, max: 1, connectionTimeoutMillis: 2_000, ...options });
  p.on('error', () => undefined);
  pools.push(p);
  return p;
}

async function xid(p: pg.Pool): Promise<number> {
  return Number((await p.query<{ x: string }>('SELECT txid_current() AS x')).rows[0]?.x);
}

describe('PgOpsProbe (/readyz "database" on PostgreSQL)', () => {
  it('a server taking writes: the probe commits a transaction id, /readyz says so, and the size is read', async () => {
    const p = pool();
    const probe = new PgOpsProbe(p, 60_000);
    const before = await xid(p);
    await probe.probe();
    // The probe's statement took a transaction id of its own (committed: the next one is newer).
    expect(await xid(p)).toBeGreaterThan(before + 1);
    expect(probe.probeWrite()).toMatch(/^writable \(a write transaction committed \d+ s ago\)$/);
    expect(probe.state()).toMatchObject({ reachable: true, lastError: null });
    expect(probe.space().usedBytes).toBeGreaterThan(0);
  });

  it('a read-only server (here: default_transaction_read_only) is not writable, with the reason', async () => {
    const probe = new PgOpsProbe(pool({ options: '-c default_transaction_read_only=on' }), 60_000);
    await probe.probe();
    expect(() => probe.probeWrite()).toThrow(/^PostgreSQL read-only \(a standby in recovery, or default_transaction_read_only\)$/);
    expect(probe.state().reachable).toBe(false);
  });

  it('a server that does not answer is not reachable', async () => {
    const probe = new PgOpsProbe(pool({ connectionString: 'postgres://postgres@127.0.0.1:1/test' }), 60_000);
    await probe.probe();
    expect(() => probe.probeWrite()).toThrow(/^PostgreSQL not reachable: /);
  });
});
