import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, listCaptures, startAnnouncing, startHonestSeeders, writeLoadConfig } from '../../helpers/capture-load.js';
import { startDaemonChild, until, type DaemonChild } from '../../helpers/daemon-child.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { makeTorrent } from '../../helpers/torrent-fixture.js';
import type { WirePeerServer } from '../../helpers/wire-peer-server.js';
import { BrokerProxy, createVhost, declareQueue, startCollector, uniqueName, type Collector } from '../notify/amqp-helpers.js';

/**
 * Broker down while the daemon runs (issue 9, faults): the real daemon process under capture load
 * (loopback DHT announces), publishing to the real RabbitMQ (127.0.0.1:5672, a vhost of its own)
 * through a TCP proxy this test stops and starts again — the shared broker itself is never touched.
 * While the broker is unreachable: capturing goes on, every notification waits in the outbox, the
 * API answers, `status` says the target is down and why, and the log says it in a few lines, not
 * one per capture. When it is back: delivery resumes by itself and every capture is published.
 */
interface AmqpStatus {
  enabled: boolean;
  connected: boolean;
  backlog: number;
  delivered: number;
  lastError: { at: string | number; message: string } | null;
}
type Status = { notify: { amqp: AmqpStatus }; queues: { outbox: number } };

let dir: string;
let cleanup: () => void;
let vh: Awaited<ReturnType<typeof createVhost>>;
let honest: WirePeerServer[] = [];
let daemon: DaemonChild | undefined;
let collector: Collector | undefined;
let proxy: BrokerProxy | undefined;

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('broker-down-'));
  vh = await createVhost();
});
afterAll(async () => {
  await daemon?.kill9();
  await collector?.close();
  await proxy?.stop();
  await Promise.all(honest.map((h) => h.close()));
  await vh?.remove();
  cleanup();
});

describe('broker down while running', () => {
  it('keeps every notification in the outbox, answers the API, says so once, and delivers all when the broker is back', { timeout: 240_000 }, async () => {
    const t = makeTorrent({ pieceCount: 8 });
    honest = await startHonestSeeders(t, 6);
    const exchange = uniqueName('capture');
    const queue = uniqueName('q');
    await declareQueue(vh.url(), exchange, queue);
    collector = await startCollector(vh.url(), queue);
    const p = new BrokerProxy(await freePort('tcp'));
    proxy = p;
    await p.start();
    const dhtPort = await freePort('udp');
    const { configPath, adminSocket } = writeLoadConfig({ dataDir: dir, dhtPort, infohash: t.infohash, amqpUrl: vh.url(p.port), amqpExchange: exchange });
    daemon = await startDaemonChild({ configPath, adminSocket, cwd: dir });
    const d = daemon;
    const status = (): Promise<Status> => d.status<Status>();
    const load = startAnnouncing({ host: '127.0.0.1', port: dhtPort }, t.infohash, honest);
    try {
      // Broker up: captures are published.
      await until(() => collector!.received.length >= 10, 60_000, '10 notifications delivered');
      expect((await status()).notify.amqp.connected).toBe(true);

      // Broker down (the proxy stops listening and cuts the connection).
      await p.stop();
      const cutAt = (await listCaptures(d.apiUrl)).length;
      const receivedAtCut = collector.received.length;
      await until(async () => (await status()).notify.amqp.connected === false, 30_000, 'status: amqp not connected');
      // Capturing goes on and the API answers while the broker is away.
      let apiCalls = 0;
      await until(async () => {
        apiCalls++;
        return (await listCaptures(d.apiUrl)).length >= cutAt + 30;
      }, 120_000, '30 more captures while the broker is down', 200);
      // status caches the outbox counts for a moment: poll.
      let down = await status();
      await until(async () => (down = await status()).notify.amqp.backlog >= 25, 30_000, 'status: a backlog of 25 or more');
      expect(down.notify.amqp).toMatchObject({ enabled: true, connected: false });
      // The cut itself (a reset of the open connection) or a refused reconnect, whichever came last.
      expect(down.notify.amqp.lastError?.message).toMatch(/ECONNREFUSED|ECONNRESET|closed|CONNECTION/i);
      expect(down.queues.outbox).toBeGreaterThanOrEqual(25);
      // Nothing new reached the queue while it was down (a message in flight at the cut may).
      expect(collector.received.length - receivedAtCut).toBeLessThanOrEqual(5);
      expect(apiCalls).toBeGreaterThan(0);

      // The log says what happened in a few lines, and names it.
      const warnLines = d.lines.filter((l) => l.level === 40 || l.level === 'warn');
      expect(warnLines.some((l) => (l.target === 'amqp' && /^target unreachable: captures continue, notifications wait in the outbox/.test(l.msg)) || /RabbitMQ connection closed/.test(l.msg))).toBe(true);
      expect(warnLines.filter((l) => l.target === 'amqp' || /RabbitMQ/.test(l.msg)).length).toBeLessThanOrEqual(5);

      // Broker back: delivery resumes by itself.
      await p.start();
      await load.stop();
      await until(async () => (await status()).notify.amqp.backlog === 0, 120_000, 'outbox drained after the broker is back', 250);
      const all = await listCaptures(d.apiUrl);
      const ids = new Set(collector.received.map((m) => m.messageId));
      await until(() => new Set(collector!.received.map((m) => m.messageId)).size >= all.length, 30_000, 'every capture received');
      const got = new Set(collector.received.map((m) => `${m.body.ip}:${m.body.port}`));
      expect(all.filter((c) => !got.has(`${c.ip}:${c.port}`)), 'captures never published').toEqual([]);
      expect(ids.size).toBeGreaterThanOrEqual(cutAt + 30);
      const up = await status();
      expect(up.notify.amqp).toMatchObject({ connected: true, backlog: 0 });
      const infos = d.lines.filter((l) => l.level === 30 || l.level === 'info');
      expect(infos.some((l) => l.msg === 'reachable again' && l.target === 'amqp'), JSON.stringify(d.lines.map((l) => [l.level, l.msg]))).toBe(true);
    } finally {
      await load.stop();
    }
  });
});
