/**
 * The center roles of the real daemon on `store.url: postgres://…` (no SQLite file): two api
 * servers share the infohash changes made through either one (stored in PostgreSQL, re-read by
 * the other, sent to the crawlers on the config fanout), `status` and `/readyz` follow the
 * database (PostgreSQL reached through a TCP proxy the test cuts), and the ingest role runs the
 * PostgreSQL retention. The multi-node test (multi-node.test.ts) runs the same roles with crawlers.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import * as amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { clusterTopology } from '../../../src/cluster/topology.js';
import { adminRequest } from '../../../src/daemon/admin-client.js';
import { startDaemon, type RunningDaemon } from '../../../src/main.js';
import { parseTorrentFile } from '../../../src/protocol/metainfo.js';
import { openPgStore } from '../../../src/store/pg/pg-store.js';
import { silentLogger } from '../../../src/util/logger.js';
import { freshPgSchema } from '../../helpers/pg-test-schema.js';
import { startTcpProxy } from '../../helpers/tcp-proxy.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { makeTorrent } from '../../helpers/torrent-fixture.js';
import { brokerUrl, deleteTopology, teardownStack, uniquePrefix, waitFor } from './cluster-helpers.js';

const KEY = 'pg-center-roles-key-0123456789';
const teardown = teardownStack();

async function filtersOf(apiUrl: string): Promise<Array<{ name: string; infohashes: string[] }>> {
  const res = await fetch(`${apiUrl}/capture/filters/?key=${KEY}`);
  return ((await res.json()) as { filters: Array<{ name: string; infohashes: string[] }> }).filters;
}

describe('ingest and api roles on PostgreSQL (the real daemon)', () => {
  it('api servers share infohash changes through PostgreSQL and the crawlers get them; status and /readyz follow the database', async () => {
    const t = tempDir('pg-center-');
    teardown.push(t.cleanup);
    const schema = await freshPgSchema('center');
    teardown.push(() => schema.drop());
    const prefix = uniquePrefix();
    teardown.push(() => deleteTopology(prefix));
    const first = makeTorrent({ pieceCount: 2 });
    const second = makeTorrent({ pieceCount: 3 });
    // The second torrent's metadata is in the central store (an upload), so it may be added to a filter.
    const setup = await openPgStore({ url: schema.url, schema: schema.schema, max: 1 });
    await setup.torrents.putMetadata(parseTorrentFile(second.buffer), 'upload');
    await setup.close();

    // api-2 reaches PostgreSQL through a proxy this test can cut.
    const pgUrl = new URL(schema.url);
    const proxy = await startTcpProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
    teardown.push(() => proxy.close());
    const proxied = new URL(schema.url);
    proxied.host = `127.0.0.1:${proxy.port}`;

    // A crawler's view of the shared configuration: the fanout exchange.
    const conn = await amqp.connect(brokerUrl());
    teardown.push(() => conn.close().catch(() => undefined));
    const ch = await conn.createChannel();
    const topology = clusterTopology(prefix);
    await ch.assertExchange(topology.configExchange, 'fanout', { durable: true });
    const q = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    await ch.bindQueue(q.queue, topology.configExchange, '');
    const snapshots: Array<{ from: string; overlay: Array<{ infohash: string; op: string }> }> = [];
    await ch.consume(q.queue, (m) => m && snapshots.push(JSON.parse(m.content.toString()) as (typeof snapshots)[number]), { noAck: true });

    const start = async (name: string, role: 'ingest' | 'api', url: string): Promise<RunningDaemon> => {
      const file = path.join(t.dir, `${name}.yaml`);
      writeFileSync(
        file,
        JSON.stringify({
          role, dataDir: path.join(t.dir, name), store: { url, schema: schema.schema, poolSize: 2 },
          dht: { enabled: false }, metrics: { enabled: false }, spam: { enabled: false }, dashboard: { enabled: false },
          health: { checkIntervalMs: 200 }, retention: { intervalMs: 60_000 },
          http: { listen: { host: '127.0.0.1', port: 0 } }, apiKeys: [{ name: 'test', key: KEY }],
          filters: [{ name: 'watch', infohashes: [first.infohash] }],
          cluster: { nodeId: name, amqp: { url: brokerUrl(), prefix, connectTimeoutMs: 3000 }, sharedConfig: { publishIntervalMs: 1000 } },
        }),
      );
      const d = await startDaemon({ configFile: file, env: {}, logger: silentLogger() });
      teardown.push(() => d.stop());
      return d;
    };
    const ingest = await start('ingest', 'ingest', schema.url);
    const api1 = await start('api-1', 'api', schema.url);
    const api2 = await start('api-2', 'api', proxied.toString());

    // An infohash added through api-1 is stored centrally: api-2 lists it within seconds, and the
    // crawlers' fanout carries it (from an api node at once, from every center node afterwards).
    const add = await fetch(`${api1.apiUrl}/capture/filters/addInfohash/?key=${KEY}&filter=watch&infohash=${second.infohash}`, { method: 'POST' });
    expect(add.status).toBe(200);
    await waitFor(async () => (await filtersOf(api2.apiUrl)).some((f) => f.infohashes.includes(second.infohash)), 20_000, 'api-2 to list the infohash added through api-1');
    await waitFor(() => snapshots.some((s) => s.from === 'ingest' && s.overlay.some((o) => o.infohash === second.infohash && o.op === 'add')), 20_000, 'the ingester to send the change to the crawlers');
    expect(snapshots.some((s) => s.from === 'api-1' && s.overlay.some((o) => o.infohash === second.infohash))).toBe(true);
    // An unknown torrent is refused as on SQLite (no row stored).
    const unknown = await fetch(`${api2.apiUrl}/capture/filters/addInfohash/?key=${KEY}&filter=watch&infohash=${'ab'.repeat(20)}`, { method: 'POST' });
    expect(unknown.status).toBe(404);

    // status per role names the store; the ingester runs the PostgreSQL retention (a pass at start).
    type Status = { role: string; store: { kind: string; reachable: boolean; retention?: { passes: number; failures: number } }; database: { path: string } };
    const status = (name: string): Promise<Status> => adminRequest<Status>(path.join(t.dir, name, 'admin.sock'), 'GET', '/status');
    await waitFor(async () => ((await status('ingest')).store.retention?.passes ?? 0) >= 1, 20_000, 'the first retention pass');
    expect(await status('ingest')).toMatchObject({ role: 'ingest', store: { kind: 'postgres', reachable: true, retention: { failures: 0 } } });
    expect((await status('api-1')).database.path).toContain(schema.schema);
    expect((await status('api-1')).database.path).not.toMatch(/:[^/@]*@/);

    // /readyz follows the database: api-2 loses PostgreSQL (503), then gets it back (200).
    expect((await fetch(`${api2.apiUrl}/readyz`)).status).toBe(200);
    proxy.cut();
    await waitFor(async () => (await fetch(`${api2.apiUrl}/readyz`)).status === 503, 30_000, '/readyz 503 while PostgreSQL is cut off');
    expect((await status('api-2')).store.reachable).toBe(false);
    expect((await fetch(`${api1.apiUrl}/readyz`)).status).toBe(200);
    proxy.restore();
    await waitFor(async () => (await fetch(`${api2.apiUrl}/readyz`)).status === 200, 30_000, '/readyz 200 once PostgreSQL is back');
    void ingest;
  }, 120_000);
});
