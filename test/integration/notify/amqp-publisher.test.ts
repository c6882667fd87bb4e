import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { toPeerJson } from '../../../src/api-shape/peer-json.js';
import { AmqpPublisher } from '../../../src/notify/amqp-publisher.js';
import type { NotifyConfig } from '../../../src/notify/notifier.js';
import { OutboxRelay } from '../../../src/notify/outbox-relay.js';
import { TargetStats } from '../../../src/notify/target-stats.js';
import { memoryLogger, openTestStore, storeCaptures, waitFor, type TestStore, startedNotifications } from '../../unit/notify/notify-fixtures.js';
import {
  BrokerProxy,
  createVhost,
  declareQueue,
  firstOccurrences,
  rabbitmqctl,
  startCollector,
  uniqueName,
  type Collector,
} from './amqp-helpers.js';


let vh: Awaited<ReturnType<typeof createVhost>>;
beforeAll(async () => {
  vh = await createVhost();
});
afterAll(async () => {
  await vh?.remove();
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<void>)();
});

function store(): TestStore {
  const s = openTestStore();
  cleanups.push(() => s.cleanup());
  return s;
}

async function topology(): Promise<{ exchange: string; queue: string; collector: Collector }> {
  const exchange = uniqueName('capture');
  const queue = uniqueName('q');
  await declareQueue(vh.url(), exchange, queue);
  const collector = await startCollector(vh.url(), queue);
  cleanups.push(() => collector.close());
  return { exchange, queue, collector };
}

function relay(s: TestStore, exchange: string, opts: { maxMessageBytes?: number; batchSize?: number; url?: string } = {}) {
  const log = memoryLogger();
  const stats = new TargetStats('amqp', true);
  const publisher = new AmqpPublisher(
    { captures: s.captures, logger: log.logger },
    { url: opts.url ?? vh.url(), exchange, maxMessageBytes: opts.maxMessageBytes ?? 1024 * 1024 },
  );
  const r = new OutboxRelay(
    { outbox: s.outbox, sink: publisher, stats, logger: log.logger },
    { batchSize: opts.batchSize ?? 100, pollIntervalMs: 10, backoff: { baseMs: 50, maxMs: 500, jitter: 0.5 } },
  );
  cleanups.push(() => r.stop());
  return { relay: r, stats, log, publisher };
}

describe('AmqpPublisher + OutboxRelay against RabbitMQ', () => {
  it('publishes persistent JSON messages with confirms: properties, body, routing key = filter, order per filter', async () => {
    const s = store();
    const { exchange, collector } = await topology();
    const filters = ['alpha', 'beta', 'gamma.v6'];
    const ids = storeCaptures(s, 300, { filterOf: (i) => filters[i % 3] as string, now: 1_700_000_000_123 });
    const { relay: r, stats } = relay(s, exchange, { batchSize: 64 });
    r.start();
    await waitFor(() => collector.received.length >= 300, 15_000, '300 messages');
    await waitFor(() => s.outbox.countPending() === 0, 5_000, 'outbox drained');
    expect(collector.received).toHaveLength(300);
    expect(stats.delivered).toBe(300);

    const first = collector.received[0]!;
    expect(first.routingKey).toBe('alpha');
    expect(first.messageId).toBe(`capture-${ids[0]}`);
    expect(first.properties.contentType).toBe('application/json');
    expect(first.properties.deliveryMode).toBe(2);
    expect(first.properties.timestamp).toBe(1_700_000_000);
    expect(first.properties.appId).toBe('capture-daemon');
    expect(first.properties.type).toBe('capture');
    expect(first.body).toEqual({ ...toPeerJson(s.captures.get(ids[0]!)!), filter: 'alpha' });
    expect(first.body.captureReport?.clientName).toBe('BitTorrent 7.10');
    const failed = collector.received[1]!;
    expect(failed.body).toMatchObject({ filter: 'beta', error: 'connection timed out' });
    expect(failed.body).not.toHaveProperty('captureReport');

    for (const f of filters) {
      const got = collector.received.filter((m) => m.routingKey === f).map((m) => Number(m.messageId!.slice(8)));
      expect(got).toEqual(ids.filter((_, i) => filters[i % 3] === f));
      expect(collector.received.filter((m) => m.routingKey === f).every((m) => m.body.filter === f)).toBe(true);
    }
    const exchanges = await rabbitmqctl('list_exchanges', '-p', vh.vhost, 'name', 'type', 'durable');
    expect(exchanges).toMatch(new RegExp(`${exchange}\\s+topic\\s+true`));
  });

  it('parks a message above maxMessageBytes with the reason; the others still go, in order', async () => {
    const s = store();
    const { exchange, collector } = await topology();
    storeCaptures(s, 5);
    // One capture with a huge ISP string makes one oversized body.
    const big = s.captures.insertMany([
      { foundAt: 1, ip: '10.9.9.9', port: 1, infohash: 'a'.repeat(40), isp: 'x'.repeat(5000), error: 'e', filters: ['f1'], notify: [{ filter: 'f1', target: 'amqp' }] },
    ])[0]!;
    storeCaptures(s, 5, { start: 100 });
    const { relay: r, stats } = relay(s, exchange, { maxMessageBytes: 2048 });
    r.start();
    await waitFor(() => collector.received.length >= 10, 10_000);
    await waitFor(() => s.outbox.countPending() === 0);
    expect(collector.received.map((m) => m.messageId)).not.toContain(`capture-${big}`);
    expect(s.outbox.parkedReasons('amqp')).toEqual([
      { filter: 'f1', reason: expect.stringMatching(/^message too large: \d+ bytes > notify.amqp.maxMessageBytes 2048$/), count: 1 },
    ]);
    expect(stats.parkedSinceStart).toBe(1);
    const order = collector.received.map((m) => Number(m.messageId!.slice(8)));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it('parks the message RabbitMQ itself refuses (406, above its max_message_size) and keeps going', async () => {
    const original = (await rabbitmqctl('eval', 'element(2, application:get_env(rabbit, max_message_size)).')).trim();
    expect(original).toMatch(/^\d+$/);
    await rabbitmqctl('eval', 'application:set_env(rabbit, max_message_size, 4096).');
    try {
      const s = store();
      const { exchange, collector } = await topology();
      storeCaptures(s, 3);
      const big = s.captures.insertMany([
        { foundAt: 1, ip: '10.9.9.9', port: 1, infohash: 'b'.repeat(40), isp: 'y'.repeat(6000), error: 'e', filters: ['f1'], notify: [{ filter: 'f1', target: 'amqp' }] },
      ])[0]!;
      storeCaptures(s, 3, { start: 100 });
      const { relay: r } = relay(s, exchange);
      r.start();
      await waitFor(() => s.outbox.countPending() === 0, 15_000, 'all settled');
      await waitFor(() => collector.received.length >= 6, 5_000);
      expect(new Set(collector.received.map((m) => m.messageId))).not.toContain(`capture-${big}`);
      expect(new Set(collector.received.map((m) => m.messageId)).size).toBe(6);
      expect(s.outbox.parkedReasons('amqp')[0]?.reason).toMatch(/refused by RabbitMQ: .*PRECONDITION_FAILED - message size \d+ is larger than configured max size 4096/);
    } finally {
      await rabbitmqctl('eval', `application:set_env(rabbit, max_message_size, ${original}).`);
    }
  });

  it('starts while the broker is unreachable: warns, keeps the backlog, delivers when it comes back', async () => {
    const s = store();
    const { exchange, collector } = await topology();
    const proxy = new BrokerProxy(await BrokerProxy.freePort());
    cleanups.push(() => proxy.stop());
    const log = memoryLogger();
    const config: NotifyConfig = {
      outboxMaxRows: 1_000_000,
      amqp: { enabled: true, url: vh.url(proxy.port), exchange, maxInFlight: 100, maxMessageBytes: 1024 * 1024 },
      email: { enabled: false, from: 'x@y.z', digestMinutes: 1, csvRowLimit: 10, smtp: { host: '127.0.0.1', port: 25, secure: false, requireTLS: false, tls: { rejectUnauthorized: true } } },
    };
    const filters = [{ name: 'f1', notify: { amqp: true, email: [] } }];
    const n = startedNotifications({ outbox: s.outbox, captures: s.captures, filters: () => filters, logger: log.logger }, config, {
      relay: { pollIntervalMs: 10, backoff: { baseMs: 50, maxMs: 300, jitter: 0.5 } },
      statusCacheMs: 0,
    });
    cleanups.push(() => n.stop());
    expect(n.targetsOf(filters[0]!)).toEqual(['amqp']);

    await waitFor(() => n.status().amqp.lastError !== null, 5_000, 'first connect failure');
    storeCaptures(s, 50); // capturing goes on
    await new Promise((r) => setTimeout(r, 300));
    let st = n.status();
    expect(st.amqp.connected).toBe(false);
    expect(st.amqp.lastError?.message).toMatch(/ECONNREFUSED/);
    expect(st.amqp.backlog).toBe(50);
    expect(st.amqp.delivered).toBe(0);
    expect(log.warnings().filter((w) => String(w.msg).startsWith('target unreachable') && w.target === 'amqp')).toHaveLength(1);

    await proxy.start();
    await waitFor(() => collector.received.length >= 50, 10_000, 'delivery after the broker is back');
    await waitFor(() => n.status().amqp.backlog === 0, 5_000);
    st = n.status();
    expect(st.amqp.connected).toBe(true);
    expect(st.amqp.delivered).toBe(50);
    expect(st.amqp.lastSuccessAt).not.toBeNull();
    expect(st.amqp.details).toMatchObject({ exchange, url: expect.stringContaining('guest:***@') });

    // The connection drops while idle (broker restart): it reconnects and goes on.
    await proxy.stop();
    await proxy.start();
    storeCaptures(s, 10, { start: 1000 });
    await waitFor(() => collector.received.length >= 60, 10_000, 'delivery after reconnect');
    expect(new Set(collector.received.map((m) => m.messageId)).size).toBe(60);
  });

  it('a new relay on the same database file (restart) publishes nothing twice', async () => {
    let s = store();
    const { exchange, collector } = await topology();
    storeCaptures(s, 40);
    const first = relay(s, exchange);
    first.relay.start();
    await waitFor(() => s.outbox.countPending() === 0 && collector.received.length === 40, 10_000);
    await first.relay.stop();

    s = s.reopen();
    cleanups.push(() => s.cleanup());
    const second = relay(s, exchange);
    second.relay.start();
    await new Promise((r) => setTimeout(r, 500));
    expect(collector.received).toHaveLength(40);
    storeCaptures(s, 5, { start: 500 });
    await waitFor(() => collector.received.length === 45, 10_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(collector.received).toHaveLength(45);
    expect(firstOccurrences(collector.received, (m) => m.messageId!)).toHaveLength(45);
  });
});
