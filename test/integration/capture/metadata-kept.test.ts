import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCaptureModule, type CaptureModule } from '../../../src/capture/capture-module.js';
import { configSchema } from '../../../src/config/config-schema.js';
import { FilterRegistry } from '../../../src/filter/filter-registry.js';
import { ApiKeyRing } from '../../../src/http/api-keys.js';
import { createApiModule, type ApiModule } from '../../../src/http/api-module.js';
import type { DiscoveredPeer } from '../../../src/model/peer.js';
import { openSqliteStore, type SqliteStore } from '../../../src/store/sqlite-store.js';
import { silentLogger } from '../../../src/util/logger.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { makeTorrent, type TorrentFixture } from '../../helpers/torrent-fixture.js';
import { startWirePeerServer, type WirePeerServer } from '../../helpers/wire-peer-server.js';

/**
 * Metadata a capture fetches (BEP 9) is kept (issue 8, point 6): the capture module and the HTTP API
 * as main.ts wires them, on a real SQLite file and a real port, against real wire peers on loopback.
 */
const KEY = 'metadata-kept-test-key-0123';
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function wirePeer(host: string, torrent: TorrentFixture, options: { port?: number; serveMetadata: boolean }): Promise<WirePeerServer> {
  const server = await startWirePeerServer({
    host,
    ...(options.port ? { port: options.port } : {}),
    infohash: torrent.infohash,
    peerId: '-qB4650-metadatakept',
    pieceCount: torrent.pieceCount,
    have: 'all',
    useFastExtension: true,
    ...(options.serveMetadata ? { metadata: torrent.info } : {}),
  });
  closers.push(() => server.close());
  return server;
}

async function daemonParts(infohashes: string[]): Promise<{ store: SqliteStore; capture: CaptureModule; api: ApiModule }> {
  const tmp = tempDir('metadata-kept-');
  closers.push(() => tmp.cleanup());
  const config = configSchema.parse({
    apiKeys: [{ name: 'test', key: KEY }],
    filters: [{ name: 'watch', infohashes }],
    capture: { haveWindowMs: 100, connectTimeoutMs: 2000, totalTimeoutMs: 5000, reverseDns: { enabled: false } },
  });
  const store = openSqliteStore({ path: path.join(tmp.dir, 'capture.db'), busyTimeoutMs: 1000 });
  closers.push(() => store.close());
  const filters = new FilterRegistry({ overlay: store.overlay, torrents: store.torrents }, config.filters);
  const capture = createCaptureModule(
    {
      filters, geo: () => ({}), torrents: store.torrents, captures: store.captures,
      notify: { targetsOf: () => [], wake: () => {} }, dialable: () => ({ ok: true }), logger: silentLogger(),
    },
    { capture: config.capture, pcap: { ...config.pcap, dir: path.join(tmp.dir, 'pcap') } },
  );
  capture.start();
  closers.push(() => capture.stop());
  const keys = new ApiKeyRing(config.apiKeys);
  const api = createApiModule(
    {
      keys: () => keys, pageSize: () => 100, filters, captures: store.captures, torrents: store.torrents,
      onMetadataWanted: (ih) => capture.wantMetadata(ih), logger: silentLogger(),
    },
    { ...config.http, listen: { host: '127.0.0.1', port: 0 } },
  );
  await api.start();
  closers.push(() => api.stop());
  return { store, capture, api };
}

const found = (server: WirePeerServer, infohash: string): DiscoveredPeer => ({
  ip: server.host, port: server.port, infohash, foundAt: Date.now(), source: 'get_peers',
});

async function state(api: ApiModule, infohash: string): Promise<{ state: string; pieceCount?: number; source?: string }> {
  const res = await fetch(`${api.url()}/torrents/state/?key=${KEY}&infohash=${infohash}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { state: string; pieceCount?: number; source?: string };
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('metadata fetched by a capture is kept', () => {
  it('an infohash listed in the config: the first capture stores the metadata (state known), the next capture does not fetch it', async () => {
    const torrent = makeTorrent({ pieceCount: 12 });
    const { store, capture, api } = await daemonParts([torrent.infohash]);
    expect((await state(api, torrent.infohash)).state).toBe('unknown');

    const first = await wirePeer('127.0.61.1', torrent, { serveMetadata: true });
    expect(capture.offer(found(first, torrent.infohash))).toBe('queued');
    await until(async () => (await state(api, torrent.infohash)).state === 'known', 5000);
    expect(await state(api, torrent.infohash)).toMatchObject({ state: 'known', pieceCount: 12, source: 'dht' });

    // A peer without ut_metadata: its report still has the piece count, from the stored metadata.
    const second = await wirePeer('127.0.61.2', torrent, { serveMetadata: false });
    expect(capture.offer(found(second, torrent.infohash))).toBe('queued');
    await until(() => store.captures.get(2) !== undefined, 5000);
    const reports = [1, 2].map((id) => store.captures.get(id)).map((c) => [c?.ip, c?.report?.totalPiecesInTorrent, c?.report?.hasTotal]);
    expect(reports.sort()).toEqual([['127.0.61.1', 12, true], ['127.0.61.2', 12, true]]);
    expect(capture.stats()).toMatchObject({ pipeline: { metadataFetched: 1 } });
  });

  it('addInfohash of a pending torrent fetches its metadata from a peer already seen (not pending forever)', async () => {
    const torrent = makeTorrent({ pieceCount: 7 });
    const { capture, api } = await daemonParts([torrent.infohash]);
    // Seen and captured while it could not serve the metadata.
    const before = await wirePeer('127.0.61.3', torrent, { serveMetadata: false });
    expect(capture.offer(found(before, torrent.infohash))).toBe('queued');
    await until(() => before.accepted === 1 && capture.queues().capturesRunning === 0, 5000);
    expect((await state(api, torrent.infohash)).state).toBe('unknown');
    const addInfohash = async (): Promise<{ state: string }> => {
      const res = await fetch(`${api.url()}/torrents/addInfohash/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `key=${KEY}&infohash=${torrent.infohash}`,
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { state: string };
    };
    // Added by infohash: asked again at once, still without metadata to give.
    expect((await addInfohash()).state).toBe('pending');
    await until(() => before.accepted === 2 && capture.queues().capturesRunning === 0, 5000);
    expect((await state(api, torrent.infohash)).state).toBe('pending');
    const port = before.port;
    await before.close();
    // The same peer, now serving it; the DHT would not report it again within its de-duplication window.
    const after = await wirePeer('127.0.61.3', torrent, { port, serveMetadata: true });
    // Added again while pending: fetched from the peer already seen.
    expect((await addInfohash()).state).toBe('pending');
    await until(async () => (await state(api, torrent.infohash)).state === 'known', 5000);
    expect(after.accepted).toBe(1);
    expect(await state(api, torrent.infohash)).toMatchObject({ state: 'known', pieceCount: 7 });
    expect(capture.metadataWanted().size).toBe(0);
  });
});
