import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NotifyConfig } from '../../../src/notify/notifier.js';
import { memoryLogger, openTestStore, storeCaptures, waitFor, startedNotifications } from '../../unit/notify/notify-fixtures.js';
import { createVhost, declareQueue, firstOccurrences, rabbitmqctl, startCollector, uniqueName } from './amqp-helpers.js';


const TOTAL = 10_000;
const FILTERS = ['alpha', 'beta', 'gamma', 'delta'];

let vh: Awaited<ReturnType<typeof createVhost>>;
beforeAll(async () => {
  vh = await createVhost();
});
afterAll(async () => {
  await vh?.remove();
});

describe('broker connection cut mid-stream', () => {
  it(`all ${TOTAL} captures arrive; duplicates carry the same messageId and body; order per routing key holds`, async () => {
    const s = openTestStore();
    const exchange = uniqueName('capture');
    const queue = uniqueName('q');
    await declareQueue(vh.url(), exchange, queue);
    const collector = await startCollector(vh.url(), queue);
    const log = memoryLogger();
    const config: NotifyConfig = {
      outboxMaxRows: 1_000_000,
      amqp: { enabled: true, url: vh.url(), exchange, maxInFlight: 500, maxMessageBytes: 1024 * 1024 },
      email: { enabled: false, from: 'x@y.z', digestMinutes: 1, csvRowLimit: 10, smtp: { host: '127.0.0.1', port: 25, secure: false, requireTLS: false, tls: { rejectUnauthorized: true } } },
    };
    const n = startedNotifications({ outbox: s.outbox, captures: s.captures, filters: () => [], logger: log.logger }, config, {
      relay: { pollIntervalMs: 5, backoff: { baseMs: 100, maxMs: 1000, jitter: 0.5 } },
      statusCacheMs: 0,
    });
    try {
      // Captures flow in: 50 every 10 ms (about 5,000/s when the timer keeps up).
      const ids: number[] = [];
      const producer = (async () => {
        for (let i = 0; i < TOTAL; i += 50) {
          ids.push(...storeCaptures(s, 50, { start: i, filterOf: (k) => FILTERS[k % FILTERS.length] as string }));
          await new Promise((r) => setTimeout(r, 10));
        }
      })();

      // Cut every connection of the vhost (publisher and consumer) twice while messages flow.
      const cuts: number[] = [];
      for (const at of [2_500, 6_000]) {
        await waitFor(() => n.status().amqp.delivered >= at, 30_000, `${at} delivered`);
        cuts.push(n.status().amqp.delivered);
        await rabbitmqctl('close_all_connections', '--vhost', vh.vhost, '--limit', '100', 'test');
      }
      await producer;
      await waitFor(() => n.status().amqp.backlog === 0, 40_000, 'outbox drained');
      await waitFor(() => new Set(collector.received.map((m) => m.messageId)).size >= TOTAL, 20_000, 'all received');

      const st = n.status();
      expect(cuts.every((c) => c < TOTAL)).toBe(true);
      expect(st.amqp.lastError?.message).toMatch(/CONNECTION_FORCED - test/);
      // Both cuts reached the publisher's connection.
      expect(log.warnings().filter((w) => w.msg === 'RabbitMQ connection closed: reconnecting with backoff').length).toBeGreaterThanOrEqual(2);
      expect(collector.reconnects).toBeGreaterThanOrEqual(1);

      // Every capture arrived.
      const got = new Set(collector.received.map((m) => m.messageId));
      expect(got.size).toBe(TOTAL);
      for (const id of ids) expect(got.has(`capture-${id}`)).toBe(true);

      // Duplicates (if any) are the same message: same messageId, routing key, timestamp and body.
      const byId = new Map<string, { raw: string; key: string; ts: unknown }>();
      let duplicates = 0;
      for (const m of collector.received) {
        const prev = byId.get(m.messageId!);
        if (prev) {
          duplicates++;
          expect(m.raw).toBe(prev.raw);
          expect(m.routingKey).toBe(prev.key);
          expect(m.properties.timestamp).toBe(prev.ts);
        } else byId.set(m.messageId!, { raw: m.raw, key: m.routingKey, ts: m.properties.timestamp });
      }

      // Order per routing key: first occurrences come in store order.
      for (const f of FILTERS) {
        const order = firstOccurrences(
          collector.received.filter((m) => m.routingKey === f),
          (m) => m.messageId!,
        ).map((m) => Number(m.messageId!.slice('capture-'.length)));
        expect(order).toEqual([...order].sort((a, b) => a - b));
        expect(order).toHaveLength(TOTAL / FILTERS.length);
      }
      console.log(
        `fault test: ${TOTAL} captures, cuts at ${cuts.join(' and ')} delivered, ${collector.received.length} messages received ` +
          `(${duplicates} duplicates), publisher failed ${st.amqp.failed} / retried ${st.amqp.retried}, consumer reconnects ${collector.reconnects}; last error "${st.amqp.lastError?.message}"`,
      );
    } finally {
      await n.stop();
      await collector.close();
      s.cleanup();
    }
  }, 60_000);
});
