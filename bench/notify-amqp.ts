/**
 * Notifications to RabbitMQ, through the real outbox (SQLite file) and the real relay + publisher.
 *
 * 1. Sustained publish rate with publisher confirms: N captures already in the outbox, persistent
 *    messages to a durable topic exchange bound to a durable queue (so every confirm waits for the
 *    broker to persist). Rate = N / time to drain the outbox (read + publish + confirm + delete).
 *    Target ≥ 5,000 messages/s.
 * 2. Relay lag while 1,000 captures/s are stored (20 every 20 ms, one transaction each, as the capture
 *    pipeline's batch writer does): lag = consumer receipt − commit of the capture, per message; p50/p95/p99.
 *
 *   node --import tsx bench/notify-amqp.ts
 * 0. For scale: the same machine's ceiling at that moment, plain amqplib publishing ready-made bodies
 *    on one confirm channel (no database, no JSON), windows of 1000.
 *
 *   node --import tsx bench/notify-amqp.ts
 *   env: AMQP_URL (default amqp://guest:guest@127.0.0.1:5672), N (default 50000), DURATION_S (default 20),
 *        RATE (default 1000), BATCH / WINDOWS (relay batch size and windows in flight; default 500 / 2)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as amqp from 'amqplib';
import type { NewCapture } from '../src/model/capture.js';
import { AmqpPublisher } from '../src/notify/amqp-publisher.js';
import { OutboxRelay } from '../src/notify/outbox-relay.js';
import { TargetStats } from '../src/notify/target-stats.js';
import { SqliteCaptureRepository } from '../src/store/capture-repository.js';
import { openDatabase } from '../src/store/open-database.js';
import { SqliteOutboxRepository } from '../src/store/outbox-repository.js';
import { silentLogger } from '../src/util/logger.js';
import { fmtInt, fmtMs, header, passMiss, percentile, Rng } from './lib.js';

const URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const N = Number(process.env.N ?? 50_000);
const SECONDS = Number(process.env.DURATION_S ?? 20);
const RATE = Number(process.env.RATE ?? 1000);
const WINDOWS = Number(process.env.WINDOWS ?? 2);
const BATCH = Number(process.env.BATCH ?? 500);
const TICK_MS = 20;
const FILTERS = ['alpha', 'beta', 'gamma', 'delta'];
const TARGET_RATE = 5_000;

const rng = new Rng(0x0b0e_0a11);
let seq = 0;

function capture(): NewCapture {
  const i = seq++;
  const filter = FILTERS[i % FILTERS.length] as string;
  const ok = rng.chance(0.7);
  const c: NewCapture = {
    foundAt: Date.now(),
    ip: `${rng.int(1, 223)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`,
    port: rng.int(1024, 65535),
    infohash: rng.hex40(),
    countryCode: 'DE',
    city: 'Berlin',
    isp: 'Example Carrier GmbH',
    filters: [filter],
    notify: [{ filter, target: 'amqp' }],
  };
  if (ok) {
    c.report = {
      date: Date.now(),
      totalPiecesInTorrent: 3053,
      hasPieces: rng.int(0, 3053),
      hasTotal: rng.chance(0.3),
      clientName: 'qBittorrent 4.6.2',
      hostIdentifier: 'dyn-203-0-113-7.example.net',
    };
  } else c.error = 'connection timed out';
  return c;
}

async function main(): Promise<number> {
  header(`notify-amqp: ${URL.replace(/:[^:@/]*@/, ':***@')}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-notify-'));
  const db = openDatabase(path.join(dir, 'capture.db'));
  const captures = new SqliteCaptureRepository(db);
  const outbox = new SqliteOutboxRepository(db);
  const suffix = `${process.pid}-${Date.now()}`;
  const exchange = `bench-capture-${suffix}`;
  const queue = `bench-q-${suffix}`;

  const admin = await amqp.connect(URL);
  const ach = await admin.createChannel();
  await ach.assertExchange(exchange, 'topic', { durable: true });
  await ach.assertQueue(queue, { durable: true });
  await ach.bindQueue(queue, exchange, '#');

  const stats = new TargetStats('amqp', true);
  const logger = silentLogger();
  const makeRelay = () =>
    new OutboxRelay(
      { outbox, sink: new AmqpPublisher({ captures, logger }, { url: URL, exchange, maxMessageBytes: 1 << 20 }), stats, logger },
      // As createNotifications sets it up with the default notify.amqp.maxInFlight (1000): 2 windows of 500.
      { batchSize: BATCH, windows: WINDOWS },
    );
  let ok = true;
  try {
    // ---------------------------------------------------------------- 0. ceiling: raw amqplib
    {
      const raw = await admin.createConfirmChannel();
      const body = Buffer.alloc(420, 'x');
      const RAW = 20_000;
      const t0 = performance.now();
      for (let i = 0; i < RAW; i += 1000) {
        for (let k = 0; k < 1000; k++) raw.publish(exchange, 'alpha', body, { persistent: true, messageId: 'raw' });
        await raw.waitForConfirms();
      }
      const rawRate = RAW / ((performance.now() - t0) / 1000);
      await raw.close();
      await ach.purgeQueue(queue);
      console.log(`ceiling now: plain amqplib, persistent, confirms per 1000: ${fmtInt(rawRate)} messages/s (info)`);
    }

    // ---------------------------------------------------------------- 1. sustained rate
    for (let i = 0; i < N; i += 1000) captures.insertMany(Array.from({ length: Math.min(1000, N - i) }, capture));
    console.log(
      `outbox: ${fmtInt(outbox.countPending())} rows stored; durable queue bound, persistent messages, confirms; ` +
        `relay ${WINDOWS} windows × ${BATCH}`,
    );
    const relay = makeRelay();
    const t0 = performance.now();
    relay.start();
    // Cheap check (an indexed LIMIT 1), so the measurement does not slow down what it measures.
    while (outbox.nextBatch('amqp', 1).length > 0) await new Promise((r) => setTimeout(r, 10));
    const secs = (performance.now() - t0) / 1000;
    await relay.stop();
    const rate = N / secs;
    const q = await ach.checkQueue(queue);
    console.log(`drained ${fmtInt(N)} in ${secs.toFixed(2)} s: ${fmtInt(rate)} messages/s confirmed (queue holds ${fmtInt(q.messageCount)})`);
    console.log(`target ≥ ${fmtInt(TARGET_RATE)} messages/s: ${passMiss(rate >= TARGET_RATE)}`);
    if (q.messageCount < N) {
      console.log('CORRECTNESS FAILURE: fewer messages in the queue than captures');
      ok = false;
    }
    await ach.purgeQueue(queue);

    // ---------------------------------------------------------------- 2. lag under a steady 1,000/s
    const committedAt = new Map<string, number>();
    const lags: number[] = [];
    const consumer = await amqp.connect(URL);
    const cch = await consumer.createChannel();
    await cch.consume(
      queue,
      (msg) => {
        if (!msg) return;
        const at = committedAt.get(msg.properties.messageId as string);
        if (at !== undefined) lags.push(performance.now() - at);
      },
      { noAck: true },
    );
    const relay2 = makeRelay();
    relay2.start();
    const perTick = Math.max(1, Math.round((RATE * TICK_MS) / 1000));
    const ticks = Math.round((SECONDS * 1000) / TICK_MS);
    const start = performance.now();
    let stored = 0;
    for (let k = 0; k < ticks; k++) {
      const due = start + k * TICK_MS;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const ids = captures.insertMany(Array.from({ length: perTick }, capture));
      const now = performance.now();
      for (const id of ids) committedAt.set(`capture-${id}`, now);
      stored += ids.length;
    }
    const storeSecs = (performance.now() - start) / 1000;
    const deadline = performance.now() + 10_000;
    while (lags.length < stored && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await relay2.stop();
    await consumer.close();
    const sorted = Float64Array.from(lags).sort();
    console.log(
      `steady load: ${fmtInt(stored)} captures in ${storeSecs.toFixed(1)} s (${fmtInt(stored / storeSecs)}/s, ${perTick} per ${TICK_MS} ms), ` +
        `${fmtInt(lags.length)} received`,
    );
    console.log(
      `lag commit → consumer: p50 ${fmtMs(percentile(sorted, 50), 1)}, p95 ${fmtMs(percentile(sorted, 95), 1)}, ` +
        `p99 ${fmtMs(percentile(sorted, 99), 1)}, max ${fmtMs(sorted[sorted.length - 1] ?? NaN, 1)} (relay polls every 50 ms)`,
    );
    if (lags.length < stored) {
      console.log('CORRECTNESS FAILURE: not every capture arrived');
      ok = false;
    }
  } finally {
    await ach.deleteQueue(queue).catch(() => undefined);
    await ach.deleteExchange(exchange).catch(() => undefined);
    await admin.close().catch(() => undefined);
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
