import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ForwardedCapture, ForwardedSighting } from '../../../src/cluster/ports.js';
import { SqliteCentralIngestStore } from '../../../src/store/central-ingest-repository.js';
import { openSqliteStore, type SqliteStore } from '../../../src/store/sqlite-store.js';
import { tempDir } from '../../helpers/temp-dir.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()?.();
});

function central(notify?: (filter: string) => Array<'amqp' | 'email'>): { store: SqliteStore; ingest: SqliteCentralIngestStore } {
  const t = tempDir('central-');
  const store = openSqliteStore({ path: path.join(t.dir, 'central.db'), busyTimeoutMs: 1000 });
  cleanups.push(t.cleanup, () => store.close());
  return { store, ingest: new SqliteCentralIngestStore({ db: store.db, captures: store.captures }, notify ? { notifyTargets: notify } : {}) };
}

const IH = 'cd'.repeat(20);
function capture(uid: string, i: number, crawlerId = 'c1'): ForwardedCapture {
  return {
    uid,
    crawlerId,
    capture: {
      foundAt: 1_700_000_000_000 + i,
      ip: `10.1.0.${i}`,
      port: 6000 + i,
      infohash: IH,
      filters: ['watch'],
      ...(i % 2 === 0
        ? { report: { date: 1_700_000_001_000 + i, totalPiecesInTorrent: 10, hasPieces: i % 10, hasTotal: false, clientName: 'qB', hostIdentifier: '' } }
        : { error: 'connection refused' }),
    },
  };
}

function listed(store: SqliteStore): Array<{ ip: string; port: number }> {
  const page = store.captures.page({ filter: 'watch', from: 0, to: 2_000_000_000_000, pageSize: 10_000 });
  return page.peers.map((r) => ({ ip: r[2], port: r[3] }));
}

describe('SqliteCentralIngestStore', () => {
  it('bounds its idempotency keys: uids ingested before the cutoff go, at most `limit` per call', async () => {
    const t = tempDir('central-');
    const store = openSqliteStore({ path: path.join(t.dir, 'central.db'), busyTimeoutMs: 1000 });
    cleanups.push(t.cleanup, () => store.close());
    let now = 1_000_000;
    const ingest = new SqliteCentralIngestStore({ db: store.db, captures: store.captures }, { now: () => now });
    await ingest.ingestCaptures([capture('old1', 1), capture('old2', 2), capture('old3', 3)]);
    now = 2_000_000;
    await ingest.ingestCaptures([capture('new1', 4)]);
    expect(ingest.deleteUidsOlderThan(2_000_000, 2)).toBe(2);
    expect(ingest.deleteUidsOlderThan(2_000_000, 2)).toBe(1);
    expect(ingest.deleteUidsOlderThan(2_000_000, 2)).toBe(0);
    expect(store.db.prepare('SELECT uid FROM ingested_uids').pluck().all()).toEqual(['new1']);
    // The captures stay (they have their own retention); only the window for recognising a copy closed.
    expect(store.db.prepare('SELECT count(*) FROM captures').pluck().get()).toBe(4);
    expect(await ingest.ingestCaptures([capture('new1', 4)])).toEqual({ inserted: 0, duplicates: 1 });
  });

  it('stores a batch once: a redelivery, a repeat within a batch and an overlapping batch add nothing', async () => {
    const { store, ingest } = central();
    const batch = [capture('u1', 1), capture('u2', 2), capture('u3', 3)];
    expect(await ingest.ingestCaptures(batch)).toEqual({ inserted: 3, duplicates: 0 });
    expect(await ingest.ingestCaptures(batch)).toEqual({ inserted: 0, duplicates: 3 });
    expect(await ingest.ingestCaptures([capture('u3', 3), capture('u4', 4), capture('u4', 4)])).toEqual({ inserted: 1, duplicates: 2 });
    const rows = listed(store);
    expect(rows.map((r) => r.ip).sort()).toEqual(['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4']);
    expect(store.db.prepare('SELECT count(*) FROM captures').pluck().get()).toBe(4);
    // The same peer captured twice (two uids) is two captures: only a redelivery is a duplicate.
    expect(await ingest.ingestCaptures([capture('u5', 4, 'c2')])).toEqual({ inserted: 1, duplicates: 0 });
    expect(store.db.prepare('SELECT count(*) FROM captures').pluck().get()).toBe(5);
    const origin = store.db.prepare("SELECT crawler_id, ref_id FROM ingested_uids WHERE uid = 'u5'").get() as { crawler_id: string; ref_id: number };
    expect(origin.crawler_id).toBe('c2');
    expect(store.captures.get(origin.ref_id)?.ip).toBe('10.1.0.4');
    expect(store.captures.get(origin.ref_id)?.error).toBeUndefined();
    expect(store.captures.get(origin.ref_id)?.report?.hasPieces).toBe(4);
  });

  it('writes the center\'s notification rows with the captures it stores, none for duplicates', async () => {
    const { store, ingest } = central((f) => (f === 'watch' ? ['amqp'] : []));
    await ingest.ingestCaptures([capture('a', 1), capture('b', 2)]);
    await ingest.ingestCaptures([capture('a', 1)]);
    expect(store.outbox.countPending()).toBe(2);
  });

  it('a failing batch commits nothing (not even the uids of its good items)', async () => {
    const { store, ingest } = central();
    const bad = capture('bad', 9);
    (bad.capture as { port: unknown }).port = null; // NOT NULL constraint
    await expect(ingest.ingestCaptures([capture('ok', 1), bad])).rejects.toThrow(/NOT NULL/);
    expect(store.db.prepare('SELECT count(*) FROM captures').pluck().get()).toBe(0);
    expect(store.db.prepare('SELECT count(*) FROM ingested_uids').pluck().get()).toBe(0);
    expect(await ingest.ingestCaptures([capture('ok', 1)])).toEqual({ inserted: 1, duplicates: 0 });
    expect(listed(store)).toHaveLength(1);
  });

  it('sightings: upserted by (ip, port, infohash), a redelivery changes nothing', async () => {
    const { store, ingest } = central();
    const s = (uid: string, seenAt: number): ForwardedSighting => ({ uid, crawlerId: 'c1', ip: '10.2.0.1', port: 7000, infohash: IH, seenAt });
    expect(await ingest.ingestSightings([s('s1', 2000), s('s2', 1000)])).toEqual({ inserted: 2, duplicates: 0 });
    expect(await ingest.ingestSightings([s('s1', 2000), s('s3', 3000)])).toEqual({ inserted: 1, duplicates: 1 });
    expect(store.db.prepare('SELECT first_seen, last_seen, seen_count FROM peers').get()).toEqual({ first_seen: 1000, last_seen: 3000, seen_count: 3 });
  });
});
