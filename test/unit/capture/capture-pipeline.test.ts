import { describe, expect, it } from 'vitest';
import { CapturePipeline, type CapturePipelineDeps } from '../../../src/capture/capture-pipeline.js';
import { CaptureScheduler } from '../../../src/capture/capture-scheduler.js';
import type { PeerCaptureInput, PeerCaptureOutcome } from '../../../src/capture/peer-capture.js';
import { configSchema } from '../../../src/config/config-schema.js';
import { FilterRegistry } from '../../../src/filter/filter-registry.js';
import type { NewCapture } from '../../../src/model/capture.js';
import type { DiscoveredPeer } from '../../../src/model/peer.js';
import type { Conversation } from '../../../src/pcap/conversation.js';
import type { TorrentMetadata } from '../../../src/protocol/metainfo.js';
import { silentLogger } from '../../../src/util/logger.js';
import { FakeOverlayStore } from '../../helpers/fake-overlay-store.js';

const IH_A = 'aa'.repeat(20);
const IH_B = 'bb'.repeat(20);
const IH_PENDING = 'cc'.repeat(20);

type Torrents = Record<string, { state: 'unknown' | 'pending' | 'known'; pieceCount?: number }>;

function setup(options: { outcome?: (input: PeerCaptureInput) => PeerCaptureOutcome; torrents?: Torrents; queueSize?: number; pcap?: boolean } = {}) {
  const config = configSchema.parse({
    filters: [
      { name: 'by-hash', infohashes: [IH_A], storeTCPDumpFile: true, storeTCPDumpAttempt: true, notify: { amqp: true } },
      { name: 'de-only', infohashes: [IH_A, IH_B], countryCodes: ['DE'] },
      { name: 'subnet', subnets: ['198.51.100.0/24'], enabled: false },
    ],
  });
  const torrents: Torrents = options.torrents ?? { [IH_A]: { state: 'known', pieceCount: 64 }, [IH_B]: { state: 'known', pieceCount: 8 } };
  const registry = new FilterRegistry(
    { overlay: new FakeOverlayStore(), torrents: { get: (ih) => ({ state: torrents[ih]?.state ?? 'unknown' }) } },
    config.filters,
  );
  const stored: NewCapture[] = [];
  const inputs: PeerCaptureInput[] = [];
  const metadataStored: string[] = [];
  const pcaps: Conversation[] = [];
  const scheduler = new CaptureScheduler({ concurrency: 4, perIpConcurrency: 1, queueSize: options.queueSize ?? 100, jobTimeoutMs: 5000 });
  const deps: CapturePipelineDeps = {
    filters: registry,
    geo: (ip) => (ip.startsWith('203.0.113.') ? { countryCode: 'DE', city: 'Berlin' } : { countryCode: 'FR' }),
    torrents: {
      get: (ih) => torrents[ih] ?? { state: 'unknown' },
      putMetadata: (meta: TorrentMetadata) => {
        torrents[meta.infohash] = { state: 'known', pieceCount: meta.pieceCount };
        metadataStored.push(meta.infohash);
      },
      pendingInfohashes: () => Object.entries(torrents).filter(([, t]) => t.state === 'pending').map(([ih]) => ih),
    },
    dialable: (ip) => (ip.startsWith('10.') ? { ok: false, reason: 'private' } : { ok: true }),
    capture: async (input) => {
      inputs.push(input);
      return (
        options.outcome?.(input) ?? {
          ok: true,
          date: 5000,
          hasPieces: 32,
          pieceCount: input.pieceCount,
          hasTotal: false,
          clientName: 'qBittorrent 4.6.5',
          peerIdHex: '00',
          durationMs: 3,
        }
      );
    },
    reverseDns: async (ip) => `host-${ip}`,
    store: (c) => {
      stored.push(c);
      return true;
    },
    notifyTargets: (f) => (f.notify.amqp ? ['amqp'] : []),
    scheduler,
    logger: silentLogger(),
  };
  if (options.pcap) {
    deps.pcap = {
      write: async (conv) => {
        pcaps.push(conv);
        return `/pcap/${pcaps.length}.pcap`;
      },
    };
  }
  const pipeline = new CapturePipeline(deps, { recaptureIntervalMs: 60_000 });
  return { pipeline, scheduler, stored, inputs, metadataStored, pcaps };
}

const peer = (ip: string, infohash = IH_A, foundAt = 1000, port = 6881): DiscoveredPeer => ({ ip, port, infohash, foundAt, source: 'get_peers' });

describe('CapturePipeline', () => {
  it('captures a matching peer once, lists it under every matching filter, with report, geo and outbox rows', async () => {
    const { pipeline, scheduler, stored } = setup();
    expect(pipeline.offer(peer('203.0.113.7'))).toBe('queued');
    await scheduler.idle();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({
      foundAt: 1000,
      ip: '203.0.113.7',
      infohash: IH_A,
      countryCode: 'DE',
      city: 'Berlin',
      filters: ['by-hash', 'de-only'],
      notify: [{ filter: 'by-hash', target: 'amqp' }],
      report: { date: 5000, totalPiecesInTorrent: 64, hasPieces: 32, hasTotal: false, clientName: 'qBittorrent 4.6.5', hostIdentifier: 'host-203.0.113.7' },
    });
  });

  it('drops unwatched torrents, non-matching peers, recent duplicates, bad and undialable addresses', async () => {
    const { pipeline, scheduler, stored } = setup();
    expect(pipeline.offer(peer('203.0.113.7', 'dd'.repeat(20)))).toBe('unwatched');
    expect(pipeline.offer(peer('192.0.2.1', IH_B))).toBe('no-match'); // IH_B only in the DE filter, peer in FR
    expect(pipeline.offer(peer('203.0.113.7'))).toBe('queued');
    expect(pipeline.offer(peer('203.0.113.7', IH_A, 2000))).toBe('recent');
    expect(pipeline.offer(peer('203.0.113.7', IH_A, 1000 + 60_000))).toBe('queued');
    expect(pipeline.offer(peer('not-an-ip'))).toBe('bad-address');
    expect(pipeline.offer(peer('10.1.2.3'))).toBe('not-dialable');
    await scheduler.idle();
    expect(stored).toHaveLength(2);
    expect(pipeline.stats()).toMatchObject({ unwatched: 1, 'no-match': 1, recent: 1, 'bad-address': 1, 'not-dialable': 1, queued: 2, stored: 2 });
  });

  it('writes a pcap only of a conversation: an attempt that exchanged no bytes links none', async () => {
    const { pipeline, scheduler, stored, pcaps } = setup({
      pcap: true,
      outcome: (input) => {
        const r = input.recorder;
        if (input.ip === '203.0.113.1') {
          r?.reset('out'); // connection refused: not even connected
          return { ok: false, error: 'connection refused', durationMs: 1 };
        }
        if (input.ip === '203.0.113.2') {
          r?.connect(); // connected, then silence until the timeout
          r?.fin('out');
          return { ok: false, error: 'handshake timeout', durationMs: 1 };
        }
        r?.connect();
        r?.data('out', Uint8Array.of(19));
        r?.data('in', Uint8Array.of(19));
        r?.fin('in');
        return input.ip === '203.0.113.3'
          ? { ok: false, error: 'handshake: wrong infohash', durationMs: 1 }
          : { ok: true, date: 5000, hasPieces: 1, pieceCount: 64, hasTotal: false, clientName: 'x', peerIdHex: '00', durationMs: 1 };
      },
    });
    for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4']) expect(pipeline.offer(peer(ip))).toBe('queued');
    await scheduler.idle();
    const byIp = new Map(stored.map((c) => [c.ip, c]));
    expect(byIp.get('203.0.113.1')?.pcapPath).toBeUndefined();
    expect(byIp.get('203.0.113.2')?.pcapPath).toBeUndefined();
    expect(byIp.get('203.0.113.3')?.pcapPath).toMatch(/\.pcap$/);
    expect(byIp.get('203.0.113.4')?.pcapPath).toMatch(/\.pcap$/);
    expect(pcaps).toHaveLength(2);
  });

  it('keeps failed attempts only under filters with storeTCPDumpAttempt', async () => {
    const { pipeline, scheduler, stored } = setup({ outcome: () => ({ ok: false, error: 'connection refused', durationMs: 1 }) });
    pipeline.offer(peer('203.0.113.9'));
    await scheduler.idle();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ filters: ['by-hash'], error: 'connection refused' });
    expect(stored[0]?.report).toBeUndefined();
  });

  it('refuses work when the capture queue is full, and may try that peer again later', async () => {
    const { pipeline } = setup({ queueSize: 1 });
    const results = ['203.0.113.1', '203.0.113.1', '203.0.113.1'].map((ip, i) => pipeline.offer(peer(ip, IH_A, 1000, 7000 + i)));
    // concurrency 4 but one per IP: the first runs, the second waits in the queue, the third finds it full
    expect(results).toEqual(['queued', 'queued', 'queue-full']);
    expect(pipeline.offer(peer('203.0.113.1', IH_A, 1000, 7002))).toBe('queue-full');
  });

  it('uses peers of a torrent waiting for metadata to fetch it, then captures with the piece count', async () => {
    const meta = { infohash: IH_PENDING, name: 'x', totalSize: 1, pieceLength: 1, pieceCount: 16, files: [], info: Buffer.alloc(0) };
    const { pipeline, scheduler, stored, inputs, metadataStored } = setup({
      torrents: { [IH_A]: { state: 'known', pieceCount: 64 }, [IH_PENDING]: { state: 'pending' } },
      outcome: (input) => ({
        ok: true, date: 1, hasPieces: 16, pieceCount: 16, hasTotal: true, clientName: 'x', peerIdHex: '', durationMs: 1,
        ...(input.fetchMetadata ? { metadata: meta } : {}),
      }),
    });
    expect([...pipeline.metadataWanted()]).toEqual([IH_PENDING]);
    expect(pipeline.offer(peer('198.51.100.1', IH_PENDING))).toBe('metadata-queued');
    await scheduler.idle();
    expect(inputs[0]).toMatchObject({ fetchMetadata: true, pieceCount: undefined });
    expect(metadataStored).toEqual([IH_PENDING]);
    expect(pipeline.metadataWanted().size).toBe(0);
    expect(stored).toHaveLength(0); // no filter matched: a metadata-only visit stores no capture
  });

  it('stores metadata a capture fetched for an infohash a filter lists (state unknown); later captures do not fetch it again', async () => {
    const meta = { infohash: IH_A, name: 'a', totalSize: 1, pieceLength: 1, pieceCount: 64, files: [], info: Buffer.alloc(0) };
    const { pipeline, scheduler, stored, inputs, metadataStored } = setup({
      torrents: {},
      outcome: (input) => ({
        ok: true, date: 1, hasPieces: 64, pieceCount: 64, hasTotal: true, clientName: 'x', peerIdHex: '', durationMs: 1,
        ...(input.fetchMetadata ? { metadata: meta } : {}),
      }),
    });
    expect(pipeline.offer(peer('203.0.113.7'))).toBe('queued');
    await scheduler.idle();
    expect(inputs[0]).toMatchObject({ fetchMetadata: true });
    expect(metadataStored).toEqual([IH_A]);
    expect(pipeline.stats()).toMatchObject({ metadataFetched: 1 });
    expect(pipeline.offer(peer('203.0.113.8'))).toBe('queued');
    await scheduler.idle();
    expect(inputs[1]).toMatchObject({ fetchMetadata: false, pieceCount: 64 });
    expect(metadataStored).toEqual([IH_A]);
    expect(stored).toHaveLength(2);
  });

  it('metadata wanted later (addInfohash of a pending torrent) is fetched from the peers already seen, newest first', async () => {
    const meta = { infohash: IH_A, name: 'a', totalSize: 1, pieceLength: 1, pieceCount: 64, files: [], info: Buffer.alloc(0) };
    let serves = false;
    const torrents: Torrents = {};
    const { pipeline, scheduler, inputs, metadataStored } = setup({
      torrents,
      outcome: (input) => ({
        ok: true, date: 1, hasPieces: 64, pieceCount: 64, hasTotal: true, clientName: 'x', peerIdHex: '', durationMs: 1,
        // Only .9 serves metadata, and only once asked for it later.
        ...(input.fetchMetadata && serves && input.ip === '203.0.113.9' ? { metadata: meta } : {}),
      }),
    });
    for (const ip of ['203.0.113.9', '203.0.113.8']) expect(pipeline.offer(peer(ip))).toBe('queued');
    await scheduler.idle();
    expect(metadataStored).toEqual([]);
    expect(inputs).toHaveLength(2);
    // Pending now; the DHT would report these peers again only after its de-duplication window.
    torrents[IH_A] = { state: 'pending' };
    serves = true;
    pipeline.wantMetadata(IH_A);
    await scheduler.idle();
    await scheduler.idle();
    const visits = inputs.slice(2);
    expect(visits.map((i) => i.ip)).toEqual(['203.0.113.8', '203.0.113.9']); // newest first, then the next
    expect(visits.every((i) => i.fetchMetadata)).toBe(true);
    expect(metadataStored).toEqual([IH_A]);
    expect(pipeline.metadataWanted().size).toBe(0);
    expect(pipeline.stats()).toMatchObject({ metadataFromKnownPeers: 2, metadataFetched: 1 });
  });
});
