import { afterEach, describe, expect, it } from 'vitest';
import { SqliteCaptureRepository } from '../../../src/store/capture-repository.js';
import { makeCapture, openTestStore, storeCaptures, type TestStore } from './notify-fixtures.js';

let store: TestStore;
afterEach(() => store?.cleanup());

describe('outbox (transactional)', () => {
  it('stores a capture and its outbox rows in the same transaction: a failing batch leaves neither', () => {
    store = openTestStore();
    const good = makeCapture(0, [{ filter: 'a', target: 'amqp' }, { filter: 'a', target: 'email' }]);
    // The CHECK on target fails inside insertMany: the capture before it must be rolled back too.
    const bad = makeCapture(2, [{ filter: 'a', target: 'sms' as 'amqp' }]);
    expect(() => store.captures.insertMany([good, bad])).toThrow();
    expect(store.db.prepare('SELECT count(*) FROM captures').pluck().get()).toBe(0);
    expect(store.outbox.countPending()).toBe(0);
    // A fresh repository: SqliteCaptureRepository caches filter ids, and the cached id of "a" was rolled
    // back with the failed batch (reported separately; not the outbox's concern).
    new SqliteCaptureRepository(store.db).insertMany([good]);
    expect(store.outbox.countByTarget()).toEqual([
      { target: 'amqp', pending: 1, parked: 0 },
      { target: 'email', pending: 1, parked: 0 },
    ]);
  });
});

describe('SqliteOutboxRepository', () => {
  it('nextBatch: pending rows of one target in id order, parked ones skipped', () => {
    store = openTestStore();
    storeCaptures(store, 6, { targets: ['amqp', 'email'] });
    const batch = store.outbox.nextBatch('amqp', 4);
    expect(batch.map((r) => r.target)).toEqual(['amqp', 'amqp', 'amqp', 'amqp']);
    expect(batch.map((r) => r.id)).toEqual([...batch.map((r) => r.id)].sort((a, b) => a - b));
    store.outbox.park([{ id: batch[0]!.id, reason: 'poison' }]);
    expect(store.outbox.nextBatch('amqp', 1)[0]?.id).toBe(batch[1]!.id);
    expect(store.outbox.parkedReasons('amqp')).toEqual([{ filter: 'f1', reason: 'poison', count: 1 }]);
  });

  it('settle: deletes, parks and records failures in one go', () => {
    store = openTestStore();
    storeCaptures(store, 4);
    const [a, b, c, d] = store.outbox.nextBatch('amqp', 4).map((r) => r.id) as [number, number, number, number];
    store.outbox.settle({ delivered: [a], parked: [{ id: b, reason: 'too large' }], failed: { ids: [c, d], error: 'boom', nextAttemptAt: 99 } });
    const rows = store.db.prepare('SELECT id, attempts, last_error, next_attempt_at, parked_reason FROM outbox ORDER BY id').all();
    expect(rows).toEqual([
      { id: b, attempts: 0, last_error: null, next_attempt_at: 0, parked_reason: 'too large' },
      { id: c, attempts: 1, last_error: 'boom', next_attempt_at: 99, parked_reason: null },
      { id: d, attempts: 1, last_error: 'boom', next_attempt_at: 99, parked_reason: null },
    ]);
    store.outbox.settle({ failed: { ids: [c], error: 'again', nextAttemptAt: 5, countAttempt: false } });
    expect(store.db.prepare('SELECT attempts, last_error FROM outbox WHERE id = ?').get(c)).toEqual({ attempts: 1, last_error: 'again' });
    expect(store.outbox.unpark('amqp')).toBe(1);
    expect(store.outbox.countByTarget()).toEqual([{ target: 'amqp', pending: 3, parked: 0 }]);
  });

  it('claimDigest: claims rows stored before the boundary, and re-claims exactly the same set until it is settled', () => {
    store = openTestStore();
    storeCaptures(store, 3, { targets: ['email'], filterOf: () => 'x', now: 1000 });
    storeCaptures(store, 2, { targets: ['email'], filterOf: () => 'y', now: 1000, start: 10 });
    storeCaptures(store, 2, { targets: ['email'], filterOf: () => 'x', now: 5000, start: 20 });

    const first = store.outbox.claimDigest('x', 2000, 100);
    expect(first).toHaveLength(3);
    expect(first.every((r) => r.attempts === 1 && r.filter === 'x' && r.createdAt === 1000)).toBe(true);
    expect(store.outbox.emailBacklog().find((b) => b.filter === 'x')).toMatchObject({ pending: 5, claimed: 3, oldestCreatedAt: 1000 });

    // A retry (or a restart) with a later boundary still gets the same three rows, not the newer ones.
    store.outbox.settle({ failed: { ids: first.map((r) => r.id), error: '421', nextAttemptAt: 7777, countAttempt: false } });
    expect(store.outbox.emailBacklog().find((b) => b.filter === 'x')?.retryAt).toBe(7777);
    store = store.reopen();
    const again = store.outbox.claimDigest('x', 999_999, 100);
    expect(again.map((r) => r.id)).toEqual(first.map((r) => r.id));
    expect(again.every((r) => r.attempts === 2)).toBe(true);

    store.outbox.deleteDelivered(again.map((r) => r.id));
    const next = store.outbox.claimDigest('x', 999_999, 1);
    expect(next).toHaveLength(1); // limit
    expect(next[0]!.createdAt).toBe(5000);
    expect(store.outbox.claimDigest('y', 500, 10)).toEqual([]); // stored after the boundary: not due
  });
});
