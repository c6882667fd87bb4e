import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AmqpForwarder } from '../../../src/cluster/amqp-forwarder.js';
import { IngestConsumer } from '../../../src/cluster/ingest-consumer.js';
import type { CentralIngestStore } from '../../../src/cluster/ports.js';
import { clusterTopology } from '../../../src/cluster/topology.js';
import { SqliteCentralIngestStore } from '../../../src/store/central-ingest-repository.js';
import { SqliteForwardOutbox } from '../../../src/store/forward-outbox-repository.js';
import { openSqliteStore, type SqliteStore } from '../../../src/store/sqlite-store.js';
import { createLogger } from '../../../src/util/logger.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.js';
import { BROKER, brokerUrl, captureOf, deleteTopology, queueDepth, uniquePrefix, waitFor } from './cluster-helpers.js';

const logger = createLogger('silent');
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

function openStore(name: string): SqliteStore {
  const t = tempDir(`cluster-${name}-`);
  const store = openSqliteStore({ path: path.join(t.dir, `${name}.db`), busyTimeoutMs: 1000 });
  cleanups.push(t.cleanup, () => store.close());
  return store;
}

async function proxy(): Promise<TcpProxy> {
  const p = await startTcpProxy(BROKER);
  cleanups.push(() => p.close());
  return p;
}

function crawler(name: string, prefix: string, port: number): { store: SqliteStore; outbox: SqliteForwardOutbox; write: (n: number, from: number) => void; forwarder: AmqpForwarder } {
  const store = openStore(name);
  const outbox = new SqliteForwardOutbox(store.db);
  const writer = outbox.captureWriter(store.captures, name);
  const node = Number(name.replace(/\D/g, '')) || 1;
  const forwarder = new AmqpForwarder(
    { outbox, logger },
    { url: brokerUrl(port), topology: clusterTopology(prefix), crawlerId: name, batchSize: 50, pollIntervalMs: 20, connectTimeoutMs: 2000, confirmTimeoutMs: 5000 },
  );
  cleanups.push(() => forwarder.stop());
  return { store, outbox, forwarder, write: (n, from) => writer(Array.from({ length: n }, (_, i) => captureOf(node, from + i))) };
}

function consumer(store: CentralIngestStore, prefix: string, port: number, writers = 1): IngestConsumer {
  const c = new IngestConsumer(
    { store, logger },
    { url: brokerUrl(port), topology: clusterTopology(prefix), nodeId: 'ingest-test', prefetch: 200, batchSize: 40, batchWaitMs: 20, writeTimeoutMs: 10_000, connectTimeoutMs: 2000, writers },
  );
  cleanups.push(() => c.stop());
  return c;
}

const count = (s: SqliteStore, sql: string): number => s.db.prepare(sql).pluck().get() as number;

describe('crawler → RabbitMQ (quorum queue, confirms) → ingest → central store', () => {
  it('forwards every capture once; survives a cut crawler link and a crashed ingester (redelivery skipped by uid)', async () => {
    const prefix = uniquePrefix();
    cleanups.push(() => deleteTopology(prefix));
    const crawlerLink = await proxy();
    const ingestLink = await proxy();
    const center = openStore('center');
    const ingestStore = new SqliteCentralIngestStore({ db: center.db, captures: center.captures });
    // After the 3rd committed batch, the ingester "crashes" before its acks reach the broker.
    let commits = 0;
    let crashed = false;
    const crashing: CentralIngestStore = {
      ingestSightings: (b) => ingestStore.ingestSightings(b),
      async ingestCaptures(b) {
        const r = await ingestStore.ingestCaptures(b);
        if (++commits === 3 && !crashed) {
          crashed = true;
          ingestLink.cut();
        }
        return r;
      },
    };
    const c1 = crawler('c1', prefix, crawlerLink.port);
    c1.forwarder.start();
    const first = consumer(crashing, prefix, ingestLink.port);
    first.start();

    c1.write(300, 0);
    await waitFor(() => crashed, 60_000, 'the ingester to crash after its 3rd batch');
    await first.stop();
    // The crawler's link is cut while it keeps capturing: the captures wait in its outbox.
    await waitFor(() => c1.outbox.count() === 0, 60_000, 'the first 300 confirmed');
    crawlerLink.cut();
    c1.write(200, 300);
    await new Promise((r) => setTimeout(r, 1500));
    expect(c1.outbox.count()).toBe(200);
    expect(c1.forwarder.stats().connected).toBe(false);
    expect(c1.forwarder.stats().backlog).toBe(200);
    crawlerLink.restore();
    ingestLink.restore();
    const second = consumer(ingestStore, prefix, ingestLink.port);
    second.start();
    await waitFor(() => count(center, 'SELECT count(*) FROM captures') >= 500 && c1.outbox.count() === 0, 90_000, 'all 500 captures in the center');
    await waitFor(async () => (await queueDepth(clusterTopology(prefix).ingestQueue)) === 0 && second.stats().unacked === 0, 30_000, 'the queue to drain');
    expect(count(center, 'SELECT count(*) FROM captures')).toBe(500);
    expect(count(center, 'SELECT count(DISTINCT ip) FROM captures')).toBe(500);
    expect(count(center, "SELECT count(*) FROM ingested_uids WHERE crawler_id = 'c1'")).toBe(500);
    // The crashed batch was stored but never acked: the broker redelivered it, the store skipped it.
    const s = second.stats();
    expect(s.redelivered).toBeGreaterThan(0);
    expect(s.duplicates).toBeGreaterThan(0);
    expect(s.rejected).toBe(0);
    // Every capture on the crawler is in the center under the same filter, with its report.
    const page = center.captures.page({ filter: 'watch', from: 0, to: 2e12, pageSize: 10_000 });
    expect(page.peers).toHaveLength(500);
    const local = c1.store.captures.page({ filter: 'watch', from: 0, to: 2e12, pageSize: 10_000 });
    expect(new Set(page.peers.map((r) => `${r[2]}|${r[10]}`))).toEqual(new Set(local.peers.map((r) => `${r[2]}|${r[10]}`)));
  }, 180_000);

  it('writes two full batches at once, each acked after its own commit; a failed write is retried alone, nothing lost or doubled', async () => {
    const prefix = uniquePrefix();
    cleanups.push(() => deleteTopology(prefix));
    const center = openStore('center3');
    const ingestStore = new SqliteCentralIngestStore({ db: center.db, captures: center.captures });
    let active = 0;
    let maxActive = 0;
    let calls = 0;
    let failed = false;
    const slow: CentralIngestStore = {
      ingestSightings: (b) => ingestStore.ingestSightings(b),
      async ingestCaptures(b) {
        active++;
        maxActive = Math.max(maxActive, active);
        try {
          await new Promise((r) => setTimeout(r, 40));
          if (++calls === 3) {
            failed = true;
            throw new Error('database hiccup');
          }
          return await ingestStore.ingestCaptures(b);
        } finally {
          active--;
        }
      },
    };
    // 600 captures in the queue before the ingester starts: full batches are waiting.
    const c3 = crawler('c3', prefix, BROKER.port);
    c3.write(600, 0);
    c3.forwarder.start();
    await waitFor(() => c3.outbox.count() === 0, 60_000, 'the 600 captures confirmed by the broker');
    const ingest = consumer(slow, prefix, BROKER.port, 2);
    ingest.start();
    await waitFor(() => count(center, 'SELECT count(*) FROM captures') === 600 && ingest.stats().unacked === 0, 60_000, 'all 600 stored and acked');
    await waitFor(async () => (await queueDepth(clusterTopology(prefix).ingestQueue)) === 0, 30_000, 'the queue to drain');
    expect(maxActive).toBe(2);
    expect(failed).toBe(true);
    const s = ingest.stats();
    expect(s.writeFailures).toBe(1);
    expect(s.inserted).toBe(600);
    expect(s.duplicates).toBe(0);
    expect(s.maxBatchSize).toBe(40);
    expect(count(center, 'SELECT count(DISTINCT ip) FROM captures')).toBe(600);
  }, 120_000);

  it('rejects a malformed message to the dead queue and stores the rest of its batch', async () => {
    const prefix = uniquePrefix();
    cleanups.push(() => deleteTopology(prefix));
    const center = openStore('center2');
    const ingestStore = new SqliteCentralIngestStore({ db: center.db, captures: center.captures });
    const c2 = crawler('c2', prefix, BROKER.port);
    c2.write(10, 0);
    c2.outbox.add([{ kind: 'capture', uid: 'broken-1', body: '{"uid":"broken-1","crawlerId":"c2","capture":{"ip":"10.0.0.1"}}' }]);
    c2.outbox.add([{ kind: 'capture', uid: 'broken-2', body: 'not json' }]);
    c2.forwarder.start();
    const ingest = consumer(ingestStore, prefix, BROKER.port);
    ingest.start();
    await waitFor(() => ingest.stats().rejected === 2 && count(center, 'SELECT count(*) FROM captures') === 10, 60_000, 'ten stored, two rejected');
    await waitFor(async () => (await queueDepth(clusterTopology(prefix).deadQueue)) === 2, 30_000, 'two messages in the dead queue');
  }, 120_000);
});
