import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCaptureModule, type CaptureModule } from '../../../src/capture/capture-module.js';
import { swapPortBytes } from '../../../src/capture/peer-value-trust.js';
import { configSchema } from '../../../src/config/config-schema.js';
import { FilterRegistry } from '../../../src/filter/filter-registry.js';
import type { DiscoveredPeer } from '../../../src/model/peer.js';
import { openSqliteStore, type SqliteStore } from '../../../src/store/sqlite-store.js';
import { silentLogger } from '../../../src/util/logger.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { makeTorrent } from '../../helpers/torrent-fixture.js';
import { startWirePeerServer, type WirePeerServer } from '../../helpers/wire-peer-server.js';

/**
 * Suspicious DHT values, end to end through the capture module as main.ts wires it (real SQLite
 * file, real wire peers on loopback, a filter that also lists failed attempts): a node that swaps
 * the port bytes of its values gets no phantom listed for peers another node named correctly, is
 * distrusted after its phantoms, and its further values are not dialled.
 */
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const GOOD = '127.0.0.1:7001';
const SWAPPER = '127.0.0.1:7002';

async function parts(infohash: string): Promise<{ store: SqliteStore; capture: CaptureModule }> {
  const tmp = tempDir('value-trust-');
  closers.push(() => tmp.cleanup());
  const config = configSchema.parse({
    filters: [{ name: 'watch', infohashes: [infohash], storeTCPDumpAttempt: true }],
    capture: { haveWindowMs: 100, connectTimeoutMs: 1000, handshakeTimeoutMs: 1000, totalTimeoutMs: 3000, reverseDns: { enabled: false } },
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
  return { store, capture };
}

const value = (ip: string, port: number, infohash: string, via: string): DiscoveredPeer => ({
  ip, port, infohash, foundAt: Date.now(), source: 'get_peers', via,
});

async function settled(capture: CaptureModule, store: SqliteStore, rows: number): Promise<void> {
  const end = Date.now() + 8000;
  while (capture.queues().captureQueue + capture.queues().capturesRunning > 0 || store.captures.get(rows) === undefined) {
    if (Date.now() > end) throw new Error('captures did not settle');
    await new Promise((r) => setTimeout(r, 25));
  }
  await new Promise((r) => setTimeout(r, 300)); // the batch writer's delay
}

describe('byte-swapped ports from a DHT node', () => {
  it('are not listed as peers; the node loses trust and its next values are not dialled', async () => {
    const t = makeTorrent({ pieceCount: 8 });
    const { store, capture } = await parts(t.infohash);
    const servers: WirePeerServer[] = [];
    for (const host of ['127.63.0.1', '127.63.0.2']) {
      // A port whose two bytes are equal (e.g. 0x9c9c) is its own byte swap: no phantom can be told
      // apart there (the code rightly skips it), so such a random port is drawn again.
      for (;;) {
        const s = await startWirePeerServer({ host, infohash: t.infohash, peerId: '-qB4650-valuetrust00', pieceCount: 8, have: 'all', useFastExtension: true, metadata: t.info });
        closers.push(() => s.close());
        if (swapPortBytes(s.port) !== s.port) {
          servers.push(s);
          break;
        }
      }
    }
    const [a, b] = servers as [WirePeerServer, WirePeerServer];
    // The good node names both peers; the swapping node names them with swapped ports.
    expect(capture.offer(value(a.host, a.port, t.infohash, GOOD))).toBe('queued');
    expect(capture.offer(value(b.host, b.port, t.infohash, GOOD))).toBe('queued');
    expect(capture.offer(value(a.host, swapPortBytes(a.port), t.infohash, SWAPPER))).toBe('phantom');
    expect(capture.offer(value(b.host, swapPortBytes(b.port), t.infohash, SWAPPER))).toBe('phantom');
    await settled(capture, store, 2);
    // Distrusted now (two phantoms, its only values): an address nobody else knows is not dialled.
    expect(capture.offer(value('127.63.0.9', 41000, t.infohash, SWAPPER))).toBe('distrusted-node');
    await new Promise((r) => setTimeout(r, 300));

    const rows = [1, 2, 3, 4].map((id) => store.captures.get(id)).filter((r) => r !== undefined);
    expect(rows.map((r) => `${r.ip}:${r.port}:${r.report ? 'captured' : r.error}`).sort()).toEqual(
      [`${a.host}:${a.port}:captured`, `${b.host}:${b.port}:captured`].sort(),
    );
    expect(a.accepted + b.accepted).toBe(2);
    expect(capture.stats()).toMatchObject({ peerValueTrust: { phantoms: 2, distrustedDrops: 1, nodesDistrusted: 1 } });
  });

  it('a node whose every value fails is distrusted (its failures are listed, then no more)', async () => {
    const t = makeTorrent({ pieceCount: 8 });
    const { store, capture } = await parts(t.infohash);
    // Eight values nobody listens on (ports swapped where nothing else is known): each fails.
    for (let i = 0; i < 8; i++) expect(capture.offer(value(`127.64.0.${i + 1}`, swapPortBytes(6881 + i), t.infohash, SWAPPER))).toBe('queued');
    await settled(capture, store, 8);
    expect(capture.offer(value('127.64.0.20', 51413, t.infohash, SWAPPER))).toBe('distrusted-node');
    // A value another node also gives passes, even from the distrusted node.
    const s = await startWirePeerServer({ host: '127.64.0.30', infohash: t.infohash, peerId: '-TR3000-valuetrust00', pieceCount: 8, have: 'all', useFastExtension: true, metadata: t.info });
    closers.push(() => s.close());
    expect(capture.offer(value(s.host, s.port, t.infohash, GOOD))).toBe('queued');
    expect(capture.stats()).toMatchObject({ peerValueTrust: { distrustedDrops: 1, nodesDistrusted: 1 } });
  });
});
