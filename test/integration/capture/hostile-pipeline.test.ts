import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CapturePipeline } from '../../../src/capture/capture-pipeline.js';
import { CaptureScheduler } from '../../../src/capture/capture-scheduler.js';
import { CaptureMemoryBudget } from '../../../src/capture/memory-budget.js';
import { capturePeer, makePeerId } from '../../../src/capture/peer-capture.js';
import type { NewCapture } from '../../../src/model/capture.js';
import { PcapStore } from '../../../src/pcap/pcap-store.js';
import type { TorrentMetadata } from '../../../src/protocol/metainfo.js';
import { silentLogger } from '../../../src/util/logger.js';
import { apiGet, startApi, type ApiFixture } from '../../helpers/api-fixture.js';
import { startHostilePeer, type HostileMode } from '../../helpers/hostile-peer.js';
import { makeTorrent, type TorrentFixture } from '../../helpers/torrent-fixture.js';
import { startWirePeerServer } from '../../helpers/wire-peer-server.js';

/**
 * Hostile peers through the whole path (issue 9, point 3): capture → pipeline → SQLite → the
 * Capture API. What the capture noticed reaches the report's `note`; a peer is never reported as
 * the seeder of 0 pieces; the memory budget refuses captures it cannot hold.
 */

const KEY = 'hostile-pipeline-key-0123';
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

interface PeerJson {
  ip: string;
  error?: string;
  captureReport?: { totalPiecesInTorrent: number; hasPieces: number; hasTotal: boolean; note?: string };
  pcap?: string;
}

async function setup(torrent: TorrentFixture, options: { known: boolean; budgetBytes?: number; maxRecordedBytes?: number }) {
  const filters = [{ name: 'f', infohashes: [torrent.infohash], storeTCPDumpFile: true, storeTCPDumpAttempt: true }];
  const api: ApiFixture = await startApi({ apiKeys: [{ name: 'k', key: KEY }], filters });
  closers.push(() => api.close());
  const scheduler = new CaptureScheduler({ concurrency: 8, perIpConcurrency: 2, queueSize: 100, jobTimeoutMs: 20_000 });
  const memory = new CaptureMemoryBudget(options.budgetBytes ?? 64 * 1024 * 1024);
  const stored: NewCapture[] = [];
  const peerId = makePeerId();
  const pipeline = new CapturePipeline(
    {
      filters: api.registry,
      geo: () => ({}),
      torrents: {
        get: () => (options.known ? { state: 'known' as const, pieceCount: torrent.pieceCount } : { state: 'unknown' as const }),
        putMetadata: (_meta: TorrentMetadata) => undefined,
        pendingInfohashes: () => [],
      },
      dialable: () => ({ ok: true }),
      capture: (input, signal) =>
        capturePeer(
          input,
          { connectTimeoutMs: 1000, handshakeTimeoutMs: 1000, idleTimeoutMs: 2000, totalTimeoutMs: 5000, haveWindowMs: 300, pieceStateWaitMs: 300, peerId },
          signal,
        ),
      reverseDns: async () => '',
      pcap: new PcapStore({ dir: path.join(api.dir, 'pcap'), retentionDays: 1 }),
      store: (c) => {
        stored.push(c);
        api.repos.captures.insertMany([c]);
        return true;
      },
      notifyTargets: () => [],
      scheduler,
      memory,
      logger: silentLogger(),
    },
    { recaptureIntervalMs: 60_000, ...(options.maxRecordedBytes !== undefined ? { maxRecordedBytes: options.maxRecordedBytes } : {}) },
  );
  const captureOf = async (host: string, port: number): Promise<PeerJson> => {
    pipeline.offer({ ip: host, port, infohash: torrent.infohash, foundAt: Date.now(), source: 'get_peers' });
    await scheduler.idle();
    const res = await apiGet<{ peers: PeerJson[] }>(api.url, '/capture/peers/all/', { key: KEY, filter: 'f', from: 0 });
    const found = res.body.peers.find((p) => p.ip === host);
    if (found === undefined) throw new Error(`no capture of ${host} listed`);
    return found;
  };
  return { api, pipeline, memory, stored, captureOf };
}

async function hostile(host: string, mode: HostileMode, t: TorrentFixture) {
  const p = await startHostilePeer({ host, mode, infohash: t.infohash, pieceCount: t.pieceCount, info: t.info });
  closers.push(() => p.close());
  return p;
}

describe('hostile peers through the pipeline and the API', () => {
  it('a metadata lie is in the listed report\'s note, with totalPiecesInTorrent 0 and no seeder', async () => {
    const t = makeTorrent({ pieceCount: 3000 });
    const { captureOf } = await setup(t, { known: false });
    const p = await hostile('127.0.9.60', 'meta-bad-sha1', t);
    const peer = await captureOf(p.host, p.port);
    expect(peer.captureReport).toMatchObject({ totalPiecesInTorrent: 0, hasPieces: 1500, hasTotal: false });
    expect(peer.captureReport?.note).toBe(
      'metadata: SHA-1 does not match the infohash; piece count unknown (no metadata): pieces counted from the bitfield as sent',
    );
  });

  it('have_all without metadata is not a seeder of 0 pieces: hasTotal false, and the note says what the peer claimed', async () => {
    const t = makeTorrent({ pieceCount: 40 });
    const { captureOf } = await setup(t, { known: false });
    const s = await startWirePeerServer({ host: '127.0.9.61', infohash: t.infohash, peerId: '-qB4650-abcdefghijkl', pieceCount: 40, have: 'all', useFastExtension: true });
    closers.push(() => s.close());
    const peer = await captureOf(s.host, s.port);
    expect(peer.captureReport).toMatchObject({ totalPiecesInTorrent: 0, hasPieces: 0, hasTotal: false });
    expect(peer.captureReport?.note).toBe(
      'metadata: peer does not offer ut_metadata; piece count unknown (no metadata): the peer says it has every piece (have_all)',
    );
  });

  it('a HAVE flood is a failed attempt with its error, and its pcap is stored', async () => {
    const t = makeTorrent({ pieceCount: 500 });
    const { captureOf } = await setup(t, { known: true });
    const p = await hostile('127.0.9.62', 'have-flood', t);
    const peer = await captureOf(p.host, p.port);
    expect(peer.error).toBe(`protocol: HAVE flood (565 HAVE messages for 500 pieces)`);
    expect(peer.pcap).toMatch(/^\/capture\/pcap\/\?id=\d+$/);
  });

  it('bytes past pcap.maxBytesPerCapture are counted, not kept, and the note says how many', async () => {
    const t = makeTorrent({ pieceCount: 3000 }); // ~60 KB of metadata fetched from the peer
    const { captureOf, stored } = await setup(t, { known: false, maxRecordedBytes: 8192 });
    const s = await startWirePeerServer({ host: '127.0.9.63', infohash: t.infohash, peerId: '-qB4650-abcdefghijkl', pieceCount: 3000, have: 'all', useFastExtension: true, metadata: t.info });
    closers.push(() => s.close());
    const peer = await captureOf(s.host, s.port);
    expect(peer.captureReport).toMatchObject({ totalPiecesInTorrent: 3000, hasPieces: 3000, hasTotal: true });
    expect(peer.captureReport?.note).toMatch(/^pcap: \d+ bytes after the first \d+ not recorded$/);
    const [, skipped, kept] = /pcap: (\d+) bytes after the first (\d+)/.exec(peer.captureReport?.note ?? '') ?? [];
    expect(Number(kept)).toBeLessThanOrEqual(8192);
    expect(Number(skipped) + Number(kept)).toBeGreaterThan(t.info.length);
    expect(stored[0]?.pcapPath).toBeDefined();
  });

  it('the memory budget refuses a capture it cannot hold: counted, nothing dialled or stored', async () => {
    const t = makeTorrent({ pieceCount: 40 });
    const { pipeline, memory, stored } = await setup(t, { known: true, budgetBytes: 1024 * 1024 });
    const s = await startWirePeerServer({ host: '127.0.9.64', infohash: t.infohash, peerId: '-qB4650-abcdefghijkl', pieceCount: 40, have: 'all', useFastExtension: false });
    closers.push(() => s.close());
    pipeline.offer({ ip: s.host, port: s.port, infohash: t.infohash, foundAt: Date.now(), source: 'get_peers' });
    await new Promise((r) => setTimeout(r, 100));
    expect(stored).toHaveLength(0);
    expect(s.accepted).toBe(0);
    expect(pipeline.stats().memoryRefused).toBe(1);
    expect(memory.stats()).toMatchObject({ refusedCaptures: 1, reservedBytes: 0 });
    // Refused, not remembered as captured: offered again, it is queued again (not 'recent').
    expect(pipeline.offer({ ip: s.host, port: s.port, infohash: t.infohash, foundAt: Date.now(), source: 'get_peers' })).toBe('queued');
  });
});
