import { afterEach, describe, expect, it } from 'vitest';
import { OutboxRelay, type RelayOptions } from '../../../src/notify/outbox-relay.js';
import { TargetStats } from '../../../src/notify/target-stats.js';
import { FakeSink, memoryLogger, openTestStore, storeCaptures, waitFor, type TestStore } from './notify-fixtures.js';

const FAST: Partial<RelayOptions> = {
  batchSize: 100,
  pollIntervalMs: 5,
  openTimeoutMs: 500,
  deliverTimeoutMs: 500,
  stopTimeoutMs: 500,
  backoff: { baseMs: 20, maxMs: 100, jitter: 0.5 },
};

let store: TestStore;
let relays: OutboxRelay[] = [];
afterEach(async () => {
  await Promise.all(relays.map((r) => r.stop()));
  relays = [];
  store?.cleanup();
});

function relayFor(sink: FakeSink, options: Partial<RelayOptions> = {}) {
  const log = memoryLogger();
  const stats = new TargetStats('amqp', true);
  const relay = new OutboxRelay({ outbox: store.outbox, sink, stats, logger: log.logger }, { ...FAST, ...options });
  relays.push(relay);
  return { relay, stats, log };
}

function outboxIds(): number[] {
  return store.db.prepare("SELECT id FROM outbox WHERE target = 'amqp' AND parked_reason IS NULL ORDER BY id").pluck().all() as number[];
}

describe('OutboxRelay', () => {
  it('delivers every row in id order, in bounded batches, and deletes only what was confirmed', async () => {
    store = openTestStore();
    storeCaptures(store, 250, { filterOf: (i) => `f${i % 3}` });
    const all = outboxIds();
    const sink = new FakeSink();
    const { relay, stats } = relayFor(sink, { batchSize: 100 });
    relay.start();
    await waitFor(() => sink.confirmed.length === 250, 5000, 'all confirmed');
    await waitFor(() => outboxIds().length === 0, 1000, 'outbox empty');
    expect(sink.confirmed).toEqual(all);
    expect(Math.max(...sink.calls.map((c) => c.length))).toBeLessThanOrEqual(100);
    expect(stats.delivered).toBe(250);
    expect(stats.failed).toBe(0);
    expect(stats.lastSuccessAt).toBeDefined();
  });

  it('keeps unconfirmed rows, records the failure on them, and restarts from the first unconfirmed one', async () => {
    store = openTestStore();
    storeCaptures(store, 30, { filterOf: (i) => `f${i % 2}` });
    const all = outboxIds();
    const sink = new FakeSink();
    // First delivery: only the first 10 confirmed, the rest fail (e.g. the connection dropped).
    sink.behaviour = (items, call) =>
      call === 1
        ? { delivered: items.slice(0, 10).map((i) => i.id), parked: [], failed: { ids: items.slice(10).map((i) => i.id), error: 'CONNECTION_FORCED - test' } }
        : { delivered: items.map((i) => i.id), parked: [] };
    const { relay, stats } = relayFor(sink, { backoff: { baseMs: 300, maxMs: 300, jitter: 0 } });
    relay.start();
    await waitFor(() => sink.calls.length === 1 && stats.failed > 0);
    // Between the attempts: confirmed rows are gone, the others carry attempts/last_error/next_attempt_at.
    const rows = store.db.prepare('SELECT id, attempts, last_error, next_attempt_at FROM outbox ORDER BY id').all() as Array<{
      id: number;
      attempts: number;
      last_error: string;
      next_attempt_at: number;
    }>;
    expect(rows.map((r) => r.id)).toEqual(all.slice(10));
    expect(rows.every((r) => r.attempts === 1 && r.last_error === 'CONNECTION_FORCED - test' && r.next_attempt_at > Date.now())).toBe(true);
    expect(stats.lastError?.message).toBe('CONNECTION_FORCED - test');
    expect(stats.nextRetryAt).toBeGreaterThan(Date.now());

    await waitFor(() => outboxIds().length === 0, 3000);
    expect(sink.calls[1]?.[0]?.id).toBe(all[10]); // restart from the first unconfirmed
    expect(sink.confirmed).toEqual(all); // per-filter (and global) order kept
    expect(stats.retried).toBe(20);
    expect(stats.failed).toBe(20);
  });

  it('treats a throwing sink as "nothing confirmed" and resets it', async () => {
    store = openTestStore();
    storeCaptures(store, 5);
    const sink = new FakeSink();
    sink.behaviour = (items, call) => {
      if (call === 1) throw new Error('channel closed');
      return { delivered: items.map((i) => i.id), parked: [] };
    };
    const { relay } = relayFor(sink);
    relay.start();
    await waitFor(() => outboxIds().length === 0, 3000);
    expect(sink.resets).toEqual(['channel closed']);
    expect(sink.confirmed).toHaveLength(5);
    expect(sink.calls[0]).toHaveLength(5);
    expect(sink.calls[1]).toHaveLength(5);
  });

  it('parks poison with its reason and goes on with the queue', async () => {
    store = openTestStore();
    storeCaptures(store, 10);
    const ids = outboxIds();
    const poison = ids[3] as number;
    const sink = new FakeSink();
    sink.behaviour = (items) => ({
      delivered: items.filter((i) => i.id !== poison).map((i) => i.id),
      parked: items.filter((i) => i.id === poison).map((i) => ({ id: i.id, reason: 'message too large: 2000000 bytes' })),
    });
    const { relay, stats, log } = relayFor(sink);
    relay.start();
    await waitFor(() => outboxIds().length === 0);
    const parked = store.db.prepare('SELECT id, parked_reason FROM outbox').all();
    expect(parked).toEqual([{ id: poison, parked_reason: 'message too large: 2000000 bytes' }]);
    expect(stats.parkedSinceStart).toBe(1);
    expect(stats.delivered).toBe(9);
    expect(log.warnings().some((w) => String(w.msg).includes('parked'))).toBe(true);
    expect(store.outbox.countByTarget()).toEqual([{ target: 'amqp', pending: 0, parked: 1 }]);
    // unpark puts it back in line; the relay then delivers it.
    sink.behaviour = (items) => ({ delivered: items.map((i) => i.id), parked: [] });
    expect(store.outbox.unpark('amqp')).toBe(1);
    relay.wake();
    await waitFor(() => store.outbox.countByTarget().length === 0);
  });

  it('bounds a delivery with a timeout: the sink is reset and the rows are tried again', async () => {
    store = openTestStore();
    storeCaptures(store, 3);
    const sink = new FakeSink();
    sink.behaviour = (items, call) =>
      call === 1 ? new Promise(() => undefined) : { delivered: items.map((i) => i.id), parked: [] };
    const { relay, stats } = relayFor(sink, { deliverTimeoutMs: 100 });
    relay.start();
    await waitFor(() => outboxIds().length === 0, 3000);
    expect(sink.resets[0]).toMatch(/timed out after 100 ms/);
    expect(stats.failed).toBe(3);
    expect(stats.delivered).toBe(3);
  });

  it('when the target is unreachable: warns once, backs off (capped, growing), delivers when it is back', async () => {
    store = openTestStore();
    storeCaptures(store, 20);
    const sink = new FakeSink();
    sink.openError = new Error('connect ECONNREFUSED 127.0.0.1:5672');
    const { relay, stats, log } = relayFor(sink, { backoff: { baseMs: 10, maxMs: 80, jitter: 0 } });
    relay.start();
    await new Promise((r) => setTimeout(r, 600));
    // 10, 20, 40, 80, 80, ... ms: about 9 attempts in 600 ms, far from a busy loop, and not stuck.
    expect(sink.opens).toBeGreaterThanOrEqual(5);
    expect(sink.opens).toBeLessThanOrEqual(14);
    expect(sink.calls).toHaveLength(0);
    expect(stats.connected).toBe(false);
    expect(stats.lastError?.message).toMatch(/ECONNREFUSED/);
    const unreachable = log.warnings().filter((w) => String(w.msg).includes('unreachable'));
    expect(unreachable).toHaveLength(1); // rate-limited
    expect(outboxIds()).toHaveLength(20); // nothing lost, nothing counted as attempted
    expect(store.db.prepare('SELECT max(attempts) FROM outbox').pluck().get()).toBe(0);

    sink.openError = undefined;
    await waitFor(() => outboxIds().length === 0, 2000);
    expect(stats.connected).toBe(true);
    expect(log.lines.some((l) => String(l.msg).includes('reachable again'))).toBe(true);
  });

  it('reconnects at once when the sink reports it lost its connection while idle', async () => {
    store = openTestStore();
    const sink = new FakeSink();
    const { relay } = relayFor(sink, { pollIntervalMs: 60_000 });
    relay.start();
    await waitFor(() => sink.opens === 1);
    sink.fireUnavailable();
    await waitFor(() => sink.opens === 2, 1000, 'reopen after unavailable');
    // New rows are picked up after wake() even with a long poll interval.
    storeCaptures(store, 2);
    relay.wake();
    await waitFor(() => sink.confirmed.length === 2, 1000);
  });

  it('pipelines at most `windows` deliveries, never hands a row out twice while in flight, and restarts from the oldest after a failure', async () => {
    store = openTestStore();
    storeCaptures(store, 100, { filterOf: (i) => `f${i % 4}` });
    const all = outboxIds();
    const sink = new FakeSink();
    let concurrent = 0;
    let maxConcurrent = 0;
    let handedTwice = false;
    let broken = false;
    const inFlight = new Set<number>();
    // Like a channel that closes during the third delivery: its last 5 messages and every delivery
    // published after it on the same channel (already in flight) go unconfirmed.
    sink.behaviour = async (items, call) => {
      const startedBeforeBreak = !broken;
      for (const i of items) {
        if (inFlight.has(i.id)) handedTwice = true;
        inFlight.add(i.id);
      }
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await new Promise((r) => setTimeout(r, 20));
      concurrent--;
      for (const i of items) inFlight.delete(i.id);
      if (call === 3) {
        broken = true;
        return { delivered: items.slice(0, 5).map((i) => i.id), parked: [], failed: { ids: items.slice(5).map((i) => i.id), error: 'lost' } };
      }
      if (call > 3 && startedBeforeBreak && broken) {
        return { delivered: [], parked: [], failed: { ids: items.map((i) => i.id), error: 'channel closed' } };
      }
      return { delivered: items.map((i) => i.id), parked: [] };
    };
    const { relay } = relayFor(sink, { batchSize: 10, windows: 3, backoff: { baseMs: 10, maxMs: 10, jitter: 0 } });
    relay.start();
    await waitFor(() => outboxIds().length === 0, 5000);
    expect(handedTwice).toBe(false);
    expect(maxConcurrent).toBe(3);
    const handedOut = sink.calls.flat().map((i) => i.id);
    const beforeFailure = sink.calls.slice(0, 3).flat().length;
    expect(handedOut.slice(0, beforeFailure)).toEqual(all.slice(0, beforeFailure));
    // After the failure, the next delivery starts from the oldest unconfirmed row.
    const firstRetry = sink.calls.findIndex((c, i) => i >= 3 && c[0]!.id === all[25]);
    expect(firstRetry).toBeGreaterThanOrEqual(3);
    expect(sink.calls.slice(3, firstRetry).every((c) => c[0]!.id > all[25]!)).toBe(true); // only those in flight before
    // Every row confirmed exactly once here, in store order (hence per-filter order).
    expect(sink.confirmed).toEqual(all);
  });

  it('keeps going when the outbox drained empty and SQLite reuses low ids for new rows', async () => {
    store = openTestStore();
    storeCaptures(store, 20);
    const sink = new FakeSink();
    const { relay } = relayFor(sink, { batchSize: 5, windows: 2 });
    relay.start();
    await waitFor(() => outboxIds().length === 0);
    const maxBefore = Math.max(...sink.confirmed);
    storeCaptures(store, 3, { start: 100 });
    expect(Math.min(...outboxIds())).toBeLessThanOrEqual(maxBefore); // ids are reused once the table is empty
    await waitFor(() => outboxIds().length === 0, 2000, 'reused ids delivered');
    expect(sink.confirmed).toHaveLength(23);
  });

  it('stop() waits (bounded) for the attempt in progress, closes the sink, and never touches the DB after', async () => {
    store = openTestStore();
    storeCaptures(store, 4);
    const sink = new FakeSink();
    let release: (() => void) | undefined;
    sink.behaviour = (items) =>
      new Promise((resolve) => {
        release = () => resolve({ delivered: items.map((i) => i.id), parked: [] });
      });
    const { relay, log } = relayFor(sink, { stopTimeoutMs: 100 });
    relay.start();
    await waitFor(() => release !== undefined);
    await relay.stop();
    expect(sink.closed).toBe(true);
    expect(log.warnings().some((w) => String(w.msg).includes('still in progress'))).toBe(true);
    store.db.close();
    release?.(); // late confirm after stop: must not throw on the closed DB
    await new Promise((r) => setTimeout(r, 20));
    store = store.reopen();
    expect(outboxIds()).toHaveLength(4); // unconfirmed at stop: still there for the next start
  });
});
