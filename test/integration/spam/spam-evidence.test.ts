import { XMLParser } from 'fast-xml-parser';
import { afterEach, describe, expect, it } from 'vitest';
import type { NewCapture } from '../../../src/model/capture.js';
import { parseTorrentFile } from '../../../src/protocol/metainfo.js';
import { apiGet, startApi, type ApiFixture } from '../../helpers/api-fixture.js';
import { makeTorrent } from '../../helpers/torrent-fixture.js';

/**
 * Each evidence rule on captured data as the daemon stores it: torrents with metadata in the
 * torrents table, captures (reports and errors) written by the capture repository into SQLite,
 * then the scanner, then the spam list's own answers over HTTP.
 */

const H = 3_600_000;
const T0 = Date.UTC(2026, 11, 1);
let api: ApiFixture | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

function capture(infohash: string, i: number, at: number, seeder = false): NewCapture {
  return {
    foundAt: at,
    ip: `10.0.${i >> 8}.${i & 255}`,
    port: 6881 + (i % 7),
    infohash,
    report: { date: at + 500, totalPiecesInTorrent: 4, hasPieces: seeder ? 4 : 1, hasTotal: seeder, clientName: 'qBittorrent 4.6.0', hostIdentifier: '' },
    filters: ['watch'],
  };
}
function failed(infohash: string, i: number, at: number): NewCapture {
  return { foundAt: at, ip: `10.9.0.${i}`, port: 1, infohash, error: 'connect timeout', filters: ['watch'] };
}

const xmlParser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (n) => n === 'torrent' || n === 'reason', parseTagValue: false });
async function reasonsOverHttp(url: string, hash: string): Promise<Array<{ '#text': string; '@code': string }>> {
  const xml = (await apiGet(url, '/index.php', { op: 'check', format: 'xml', Hash: hash })).text;
  const list = (xmlParser.parse(xml) as { spamList: { torrent?: Array<{ reasons?: { reason: Array<{ '#text': string; '@code': string }> } }> } }).spamList;
  return list.torrent?.[0]?.reasons?.reason ?? [];
}

/** The four torrents: a disguised executable, a seederless swarm, a healthy swarm, metadata never obtained. */
function seedCaptures(a: ApiFixture): { fake: string; seederless: string; healthy: string; pending: string } {
  const fakeTorrent = makeTorrent({ name: 'Film.2024.1080p.BluRay', files: [['Film.2024.1080p.avi.exe'], ['readme.txt']] });
  a.repos.torrents.putMetadata(parseTorrentFile(fakeTorrent.buffer), 'upload', T0);
  const clean = makeTorrent({ name: 'Film.2024.1080p.WEB', files: [['Film.mkv'], ['Film.nfo']] });
  a.repos.torrents.putMetadata(parseTorrentFile(clean.buffer), 'upload', T0);
  const seederless = 'b'.repeat(40);
  const healthy = 'c'.repeat(40);
  const pending = 'd'.repeat(40);
  a.repos.torrents.addPending(pending, 'infohash', T0);
  const batch: NewCapture[] = [];
  for (let i = 0; i < 25; i++) {
    batch.push(capture(seederless, i, T0 + i * 60_000));
    batch.push(capture(healthy, i, T0 + i * 60_000, i === 17)); // one seeder among 25
    if (i < 3) batch.push(capture(pending, i, T0 + i * 60_000));
    batch.push(failed(seederless, i, T0 + i * 1000)); // failed attempts are no peers
  }
  // The same peer captured again (a recapture) counts once.
  batch.push(capture(seederless, 0, T0 + 2 * H));
  a.repos.captures.insertMany(batch);
  return { fake: fakeTorrent.infohash, seederless, healthy, pending };
}

describe('evidence from captures', () => {
  it('reports each rule once with its reason, shown in the XML and through SpamVerdicts', async () => {
    let now = T0 + 3 * H;
    api = await startApi({ now: () => now, spam: { listThreshold: 10, evidence: { noSeeder: { minPeers: 20, windowMs: 24 * H }, metadataUnobtainable: { minPeers: 3, afterMs: 24 * H } } } });
    const t = seedCaptures(api);
    const scanner = api.spam.scanner;

    scanner.scanOnce();
    // At once: the disguised executable (weight 11: listed); the swarm rules wait for their windows.
    expect(api.spam.verdicts.verdict(t.fake)).toMatchObject({ count: 11, listed: true, reasons: [{ code: 'disguised-executable' }] });
    expect(api.spam.verdicts.verdict(t.fake)?.reasons[0]?.detail).toBe('file "Film.2024.1080p.avi.exe" is an executable with a double extension (.avi.exe)');
    expect(api.spam.verdicts.verdict(t.seederless)).toBeUndefined();
    expect(api.spam.verdicts.verdict(t.pending)).toBeUndefined();
    expect(scanner.stats.torrentsChecked).toBe(2);
    expect(scanner.stats.capturesRead).toBe(79); // every capture read once, failed ones included

    now = T0 + 25 * H;
    scanner.scanOnce();
    const seederless = api.spam.verdicts.verdict(t.seederless);
    expect(seederless).toMatchObject({ count: 5, listed: false, reasons: [{ code: 'no-seeder' }] });
    expect(seederless?.reasons[0]?.detail).toMatch(/^at least 20 distinct peers captured over 25 h since 2026-12-01T00:00:00\.000Z, none of them a seeder$/);
    expect(api.spam.verdicts.verdict(t.healthy)).toBeUndefined();
    const pending = api.spam.verdicts.verdict(t.pending);
    expect(pending?.reasons.map((r) => r.code)).toEqual(['metadata-unobtainable']);
    expect(pending?.reasons[0]?.detail).toBe('metadata not obtainable from any peer 25 h after the torrent was added (3 peer(s) captured)');

    // Over HTTP, in the XML, with the torrent listed under its infohash while its name is unknown.
    expect(await reasonsOverHttp(api.url, t.fake)).toEqual([
      { '@code': 'disguised-executable', '@at': String(Math.floor((T0 + 3 * H) / 1000)), '#text': 'file "Film.2024.1080p.avi.exe" is an executable with a double extension (.avi.exe)' },
    ]);
    expect((await reasonsOverHttp(api.url, t.seederless)).map((r) => r['@code'])).toEqual(['no-seeder']);
    expect((await apiGet(api.url, '/index.php', { op: 'check', Hash: t.pending })).text).toBe(`${t.pending} --- ${t.pending} --- 5\n`);

    // Once per torrent: another scan, more captures, a removal: nothing fires again.
    api.repos.captures.insertMany([capture(t.seederless, 99, now)]);
    scanner.scanOnce();
    api.spamRepo.remove(t.fake, 'ops', 'checked by hand', 1);
    scanner.scanOnce();
    expect(api.spam.verdicts.verdict(t.fake)).toBeUndefined();
    expect(api.spam.verdicts.verdict(t.seederless)?.count).toBe(5);
    expect(scanner.stats.fired).toEqual({ 'disguised-executable': 1, 'no-seeder': 1, 'metadata-unobtainable': 1 });

    // A person's report on top of the evidence: counts add up, reasons stay.
    api.spamRepo.report({ infohash: t.pending, name: 'Named Later', category: '', reporter: 'p', site: 's', creator: 'p', weight: 1, at: 5 });
    expect(api.spamRepo.byHash(t.pending)).toMatchObject({ name: 'Named Later', count: 6 });
  });

  it('each rule can be switched off', async () => {
    const now = T0 + 48 * H;
    api = await startApi({
      now: () => now,
      spam: { evidence: { disguisedExecutable: { enabled: false }, noSeeder: { enabled: false }, metadataUnobtainable: { enabled: false } } },
    });
    const t = seedCaptures(api);
    api.spam.scanner.scanOnce();
    for (const h of Object.values(t)) expect(api.spam.verdicts.verdict(h)).toBeUndefined();
    expect(api.spam.scanner.stats).toMatchObject({ torrentsChecked: 0, capturesRead: 0, fired: {} });
  });

  it('only the rules switched on fire', async () => {
    const now = T0 + 48 * H;
    api = await startApi({ now: () => now, spam: { evidence: { disguisedExecutable: { enabled: false }, metadataUnobtainable: { enabled: false } } } });
    const t = seedCaptures(api);
    api.spam.scanner.scanOnce();
    expect(api.spam.scanner.stats.fired).toEqual({ 'no-seeder': 1 });
    expect(api.spam.verdicts.verdict(t.seederless)?.reasons.map((r) => r.code)).toEqual(['no-seeder']);
  });

  it('reads in bounded batches and says when it is behind; start() catches up on its own', async () => {
    const now = T0 + 48 * H;
    api = await startApi({ now: () => now, spam: { evidence: { batchSize: 10, scanIntervalMs: 60_000 } } });
    const t = seedCaptures(api);
    const scanner = api.spam.scanner;
    expect(scanner.scanOnce()).toBe(true);
    expect(scanner.stats.capturesRead).toBe(10);
    scanner.start();
    try {
      const deadline = Date.now() + 10_000;
      while (scanner.stats.capturesRead < 79 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    } finally {
      scanner.stop();
    }
    expect(scanner.stats.capturesRead).toBe(79);
    expect(api.spam.verdicts.verdict(t.seederless)?.reasons.map((r) => r.code)).toEqual(['no-seeder']);
    expect(api.spam.verdicts.verdict(t.fake)?.reasons.map((r) => r.code)).toEqual(['disguised-executable']);
  });
});
