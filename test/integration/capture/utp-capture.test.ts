import { afterEach, describe, expect, it } from 'vitest';
import { CaptureOutcomes, formatOutcomes } from '../../../src/capture/capture-outcomes.js';
import { CapturePipeline } from '../../../src/capture/capture-pipeline.js';
import { CaptureScheduler } from '../../../src/capture/capture-scheduler.js';
import { captureWithEncryption } from '../../../src/capture/encrypted-capture.js';
import { capturePeer, makePeerId, type PeerCaptureInput } from '../../../src/capture/peer-capture.js';
import { captureWithTransport, type UtpMode } from '../../../src/capture/transport-capture.js';
import { utpDial } from '../../../src/capture/utp-socket.js';
import { ConversationRecorder } from '../../../src/pcap/conversation.js';
import { parseTorrentFile } from '../../../src/protocol/metainfo.js';
import { silentLogger } from '../../../src/util/logger.js';
import { startApi } from '../../helpers/api-fixture.js';
import { makeTorrent } from '../../helpers/torrent-fixture.js';
import { startWirePeerServer, type WirePeerServer } from '../../helpers/wire-peer-server.js';

/**
 * uTP (BEP 29) after TCP: a peer that takes no TCP (nothing listens on its TCP port) but speaks
 * BitTorrent over uTP (bittorrent-protocol over utp-native, libutp) is captured with
 * capture.utp = fallback, and the capture records its transport (captures.transport, outcomes).
 */

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const peerId = makePeerId();
const OPTIONS = { connectTimeoutMs: 3000, handshakeTimeoutMs: 3000, idleTimeoutMs: 3000, totalTimeoutMs: 10_000, haveWindowMs: 200, pieceStateWaitMs: 500, peerId };
const once = (i: PeerCaptureInput, s: AbortSignal) => capturePeer(i, OPTIONS, s);
const capture = (input: PeerCaptureInput, mode: UtpMode, signal = new AbortController().signal) =>
  captureWithTransport(input, mode, (i, s) => captureWithEncryption(i, 'prefer-plain', once, s), once, utpDial(), signal);

async function utpPeer(host: string, infohash: string, pieceCount: number, have: 'all' | number[]): Promise<WirePeerServer> {
  const s = await startWirePeerServer({ host, infohash, peerId: '-LT2080-utponlypeer1', extendedVersion: 'libtorrent/2.0.8.0', pieceCount, have, useFastExtension: true, transport: 'utp' });
  closers.push(() => s.close());
  return s;
}

describe('uTP after TCP', () => {
  it('utp-native is available here (prebuilt N-API binary in the package)', () => {
    expect(utpDial()).toBeDefined();
  });

  it('a peer that takes no TCP: refused with capture.utp off, captured over uTP with fallback', async () => {
    const t = makeTorrent({ pieceCount: 16 });
    const s = await utpPeer('127.0.51.1', t.infohash, 16, [0, 1, 2, 5]);
    const input = { ip: s.host, port: s.port, infohash: t.infohash, pieceCount: 16, fetchMetadata: false };

    const off = await capture(input, 'off');
    expect(off).toMatchObject({ ok: false, code: 'CONNECTION_REFUSED', transport: 'tcp' });

    const recorder = new ConversationRecorder({ ip: '0.0.0.0', port: 0 }, { ip: s.host, port: s.port }, 1 << 20);
    const on = await capture({ ...input, recorder }, 'fallback');
    expect(on).toMatchObject({ ok: true, transport: 'utp', hasPieces: 4, hasTotal: false, clientName: 'libtorrent/2.0.8.0', tcpFailed: { transport: 'tcp', code: 'CONNECTION_REFUSED' } });
    // The pcap holds the uTP conversation (our handshake and the peer's), with a note saying so.
    expect(recorder.conversation.note).toMatch(/^uTP \(BEP 29\): the BitTorrent conversation over uTP, shown as TCP; TCP failed first: connection refused/);

    const outcomes = new CaptureOutcomes();
    outcomes.add(off);
    outcomes.add(on);
    const snap = outcomes.snapshot();
    expect(snap.byTransport).toEqual({ tcp: { attempts: 2, captured: 0 }, 'tcp+mse': { attempts: 0, captured: 0 }, utp: { attempts: 1, captured: 1 } });
    expect(snap.byReason).toEqual({ 'connect-refused': 1, captured: 1 });
    expect(snap.byTransportReason).toEqual({ tcp: { 'connect-refused': 1 }, utp: { captured: 1 } });
    expect(formatOutcomes(snap)[1]).toContain('utp 1/1 captured');
    expect(formatOutcomes(snap)).toContain('  via utp        captured 1');
  });

  it('a peer on neither: the TCP outcome stands, uTP tried and counted', async () => {
    const t = makeTorrent({ pieceCount: 16 });
    // A uTP server that is closed at once: its port answers nothing over either transport.
    const s = await utpPeer('127.0.51.2', t.infohash, 16, 'all');
    await s.close();
    const o = await capture({ ip: s.host, port: s.port, infohash: t.infohash, pieceCount: 16, fetchMetadata: false }, 'fallback');
    expect(o).toMatchObject({ ok: false, code: 'CONNECTION_REFUSED', transport: 'tcp', error: 'connection refused' });
    expect(o.utpTried?.error).toBeDefined();
    const outcomes = new CaptureOutcomes();
    outcomes.add(o);
    expect(outcomes.snapshot().byTransport.utp).toEqual({ attempts: 1, captured: 0 });
  });

  it('the transport is stored with each capture (captures.transport, migration 16)', async () => {
    const t = makeTorrent({ pieceCount: 8 });
    const api = await startApi({ filters: [{ name: 'f', infohashes: [t.infohash], storeTCPDumpAttempt: true }] });
    closers.push(() => api.close());
    api.repos.torrents.putMetadata(parseTorrentFile(t.buffer), 'upload');
    const viaUtp = await utpPeer('127.0.51.3', t.infohash, 8, 'all');
    const viaTcp = await startWirePeerServer({ host: '127.0.51.4', infohash: t.infohash, peerId: '-qB4650-tcppeer00001', pieceCount: 8, have: [1], useFastExtension: true });
    closers.push(() => viaTcp.close());
    const scheduler = new CaptureScheduler({ concurrency: 4, perIpConcurrency: 1, queueSize: 10, jobTimeoutMs: 20_000 });
    const pipeline = new CapturePipeline(
      {
        filters: api.registry,
        geo: () => ({}),
        torrents: api.repos.torrents,
        dialable: () => ({ ok: true }),
        capture: (input, signal) => capture(input, 'fallback', signal),
        reverseDns: async () => '',
        store: (c) => {
          api.repos.captures.insertMany([c]);
          return true;
        },
        notifyTargets: () => [],
        scheduler,
        logger: silentLogger(),
      },
      { recaptureIntervalMs: 60_000 },
    );
    for (const p of [viaUtp, viaTcp]) pipeline.offer({ ip: p.host, port: p.port, infohash: t.infohash, foundAt: Date.now(), source: 'get_peers' });
    await scheduler.idle();
    const rows = api.db.prepare('SELECT ip, transport, has_total, error FROM captures ORDER BY ip').all();
    expect(rows).toEqual([
      { ip: '127.0.51.3', transport: 'utp', has_total: 1, error: null },
      { ip: '127.0.51.4', transport: 'tcp', has_total: 0, error: null },
    ]);
  });
});
