import { afterEach, describe, expect, it } from 'vitest';
import { CapturePipeline } from '../../../src/capture/capture-pipeline.js';
import { CaptureScheduler } from '../../../src/capture/capture-scheduler.js';
import { capturePeer, makePeerId } from '../../../src/capture/peer-capture.js';
import { parseTorrentFile } from '../../../src/protocol/metainfo.js';
import { silentLogger } from '../../../src/util/logger.js';
import { apiGet, startApi, type ApiFixture } from '../../helpers/api-fixture.js';
import { makeTorrent, type TorrentFixture } from '../../helpers/torrent-fixture.js';
import { startWirePeerServer, type WirePeerServer } from '../../helpers/wire-peer-server.js';

/**
 * The evidence rules on captures the daemon really made: real peer-wire conversations over TCP
 * (bittorrent-protocol peers, ut_metadata where they serve it) captured by capturePeer through the
 * capture pipeline into SQLite, metadata fetched over BEP 9 and stored by the pipeline, then the
 * scanner, then the spam list over HTTP. (The e2e suite does the disguised executable against
 * libtorrent as well.)
 */

const H = 3_600_000;
const KEY = 'evidence-captured-key-0123';
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function setup(watched: string[], now: () => number): Promise<{ api: ApiFixture; captureAll(peers: Array<{ s: WirePeerServer; infohash: string }>): Promise<void> }> {
  const api = await startApi({
    now,
    apiKeys: [{ name: 'k', key: KEY }],
    filters: [{ name: 'watch', infohashes: watched, storeTCPDumpAttempt: true }],
    spam: { listThreshold: 10, evidence: { noSeeder: { minPeers: 5, windowMs: 24 * H }, metadataUnobtainable: { minPeers: 3, afterMs: 24 * H } } },
  });
  closers.push(() => api.close());
  const scheduler = new CaptureScheduler({ concurrency: 8, perIpConcurrency: 2, queueSize: 100, jobTimeoutMs: 20_000 });
  const peerId = makePeerId();
  const pipeline = new CapturePipeline(
    {
      filters: api.registry,
      geo: () => ({}),
      torrents: api.repos.torrents,
      dialable: () => ({ ok: true }),
      capture: (input, signal) =>
        capturePeer(input, { connectTimeoutMs: 2000, handshakeTimeoutMs: 2000, idleTimeoutMs: 3000, totalTimeoutMs: 10_000, haveWindowMs: 200, pieceStateWaitMs: 300, peerId }, signal),
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
  return {
    api,
    async captureAll(peers) {
      for (const p of peers) pipeline.offer({ ip: p.s.host, port: p.s.port, infohash: p.infohash, foundAt: Date.now(), source: 'get_peers' });
      await scheduler.idle();
    },
  };
}

let hostNo = 0;
async function peer(t: TorrentFixture, have: 'all' | number[], opts: { metadata?: boolean; client?: string } = {}): Promise<{ s: WirePeerServer; infohash: string }> {
  hostNo++;
  const s = await startWirePeerServer({
    host: `127.0.${40 + (hostNo >> 8)}.${hostNo & 255}`,
    infohash: t.infohash,
    peerId: `-qB4650-${String(hostNo).padStart(12, '0')}`,
    extendedVersion: opts.client ?? 'qBittorrent/4.6.5',
    pieceCount: t.pieceCount,
    have,
    useFastExtension: true,
    ...(opts.metadata === true ? { metadata: t.info } : {}),
  });
  closers.push(() => s.close());
  return { s, infohash: t.infohash };
}

async function reasonCodes(api: ApiFixture, infohash: string): Promise<string[]> {
  const xml = (await apiGet(api.url, '/index.php', { op: 'check', format: 'xml', Hash: infohash })).text;
  return [...xml.matchAll(/<reason code="([^"]+)"/g)].map((m) => m[1] as string);
}

describe('evidence rules on real captures', () => {
  it('many captured peers and never a seeder: reported once the window has passed; one seeder among them: not', async () => {
    let now = Date.now();
    const seederless = makeTorrent({ name: 'Some.Show.S01E01.720p.HDTV', pieceCount: 8 });
    const healthy = makeTorrent({ name: 'Other.Show.S01E01.720p.HDTV', pieceCount: 8 });
    const { api, captureAll } = await setup([seederless.infohash, healthy.infohash], () => now);
    for (const t of [seederless, healthy]) api.repos.torrents.putMetadata(parseTorrentFile(t.buffer), 'upload', now);
    const peers = [];
    for (let i = 0; i < 6; i++) peers.push(await peer(seederless, [0, i + 1]));
    for (let i = 0; i < 5; i++) peers.push(await peer(healthy, [i]));
    peers.push(await peer(healthy, 'all'));
    await captureAll(peers);
    // What the captures hold, as the Capture API lists them: every peer with its pieces, one seeder.
    const listed = await apiGet<{ peers: Array<{ infohash: string; captureReport?: { hasTotal: boolean; hasPieces: number; clientName: string } }> }>(
      api.url, '/capture/peers/all/', { key: KEY, filter: 'watch', from: 0 },
    );
    const reports = listed.body.peers.map((p) => ({ ih: p.infohash, seeder: p.captureReport?.hasTotal, pieces: p.captureReport?.hasPieces, client: p.captureReport?.clientName }));
    expect(reports.filter((r) => r.ih === seederless.infohash)).toHaveLength(6);
    expect(reports.filter((r) => r.ih === seederless.infohash).every((r) => r.seeder === false && r.pieces === 2 && r.client === 'qBittorrent/4.6.5')).toBe(true);
    expect(reports.filter((r) => r.ih === healthy.infohash).map((r) => r.seeder).sort()).toEqual([false, false, false, false, false, true]);
    const scanner = api.spam.scanner;
    scanner.scanOnce();
    expect(api.spam.verdicts.verdict(seederless.infohash)).toBeUndefined(); // the window has not passed
    expect(scanner.stats.capturesRead).toBe(12);

    now += 25 * H;
    scanner.scanOnce();
    const v = api.spam.verdicts.verdict(seederless.infohash);
    expect(v?.reasons.map((r) => r.code)).toEqual(['no-seeder']);
    expect(v?.reasons[0]?.detail).toMatch(/^at least 5 distinct peers captured over 25(\.\d)? h since \S+, none of them a seeder$/);
    expect(api.spam.verdicts.verdict(healthy.infohash)).toBeUndefined();
    expect(await reasonCodes(api, seederless.infohash)).toEqual(['no-seeder']);
    expect((await apiGet(api.url, '/index.php', { op: 'check', Hash: seederless.infohash })).text).toBe(`Some.Show.S01E01.720p.HDTV --- ${seederless.infohash} --- 5\n`);
  });

  it('metadata never obtainable from the captured peers: reported after afterMs; metadata served by a peer: stored, and a disguised executable in it reported at once', async () => {
    let now = Date.now();
    const noMeta = makeTorrent({ name: 'Never.Served.2024.1080p', pieceCount: 8 });
    const fake = makeTorrent({ name: 'Holiday.Movie.2024.1080p.WEB-DL', pieceCount: 8, files: [['Holiday.Movie.2024.1080p.mkv.exe'], ['sample.mkv']] });
    const { api, captureAll } = await setup([noMeta.infohash, fake.infohash], () => now);
    for (const t of [noMeta, fake]) api.repos.torrents.addPending(t.infohash, 'infohash', now);
    const peers = [];
    for (let i = 0; i < 3; i++) peers.push(await peer(noMeta, [i])); // none offers ut_metadata
    peers.push(await peer(fake, 'all', { metadata: true }));
    await captureAll(peers);

    // The fake's metadata came over the wire (BEP 9) and was stored; the other's never did.
    expect(api.repos.torrents.get(fake.infohash).state).toBe('known');
    expect(api.repos.torrents.get(noMeta.infohash).state).toBe('pending');
    const scanner = api.spam.scanner;
    scanner.scanOnce();
    expect(api.spam.verdicts.verdict(fake.infohash)).toMatchObject({ listed: true, reasons: [{ code: 'disguised-executable' }] });
    expect(api.spam.verdicts.verdict(fake.infohash)?.reasons[0]?.detail).toBe(
      'file "Holiday.Movie.2024.1080p.mkv.exe" is an executable with a double extension (.mkv.exe)',
    );
    expect(api.spam.verdicts.verdict(noMeta.infohash)).toBeUndefined();

    now += 25 * H;
    scanner.scanOnce();
    const v = api.spam.verdicts.verdict(noMeta.infohash);
    expect(v?.reasons.map((r) => r.code)).toEqual(['metadata-unobtainable']);
    expect(v?.reasons[0]?.detail).toMatch(/^metadata not obtainable from any peer 25(\.\d)? h after the torrent was added \(3 peer\(s\) captured\)$/);
    // The fake, its metadata known, is not "unobtainable" as well.
    expect(await reasonCodes(api, fake.infohash)).toEqual(['disguised-executable']);
    expect(await reasonCodes(api, noMeta.infohash)).toEqual(['metadata-unobtainable']);
    // Listed under its infohash while its name is unknown.
    expect((await apiGet(api.url, '/index.php', { op: 'check', Hash: noMeta.infohash })).text).toBe(`${noMeta.infohash} --- ${noMeta.infohash} --- 5\n`);
  });
});
