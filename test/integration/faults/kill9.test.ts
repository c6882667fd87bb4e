import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiDateMs, checkDatabase, freePort, listCaptures, peerKey, startAnnouncing, startHonestSeeders, writeLoadConfig,
} from '../../helpers/capture-load.js';
import { startDaemonChild, until, type DaemonChild } from '../../helpers/daemon-child.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { makeTorrent } from '../../helpers/torrent-fixture.js';
import type { WirePeerServer } from '../../helpers/wire-peer-server.js';

/**
 * kill -9 under load, repeated (issue 9, the suite): the real daemon process, its DHT node on
 * 127.0.0.1 fed with announces of honest seeders and of refused addresses (loopback only), the API
 * read every 200 ms like a client reads it; SIGKILL once the API has shown new captures, three
 * times. After each kill: every capture the API had shown is in the database, each capture has its
 * listing and its outbox row (the broker is unreachable, so every row stays), nothing dangles, and
 * `PRAGMA integrity_check` says ok; after each restart the API shows them all again.
 * The longer run is bench/kill9.ts.
 */
const KILLS = 3;
const NEW_PER_ROUND = 25;

let dir: string;
let cleanup: () => void;
let honest: WirePeerServer[] = [];
let daemon: DaemonChild | undefined;

beforeAll(() => {
  ({ dir, cleanup } = tempDir('kill9-'));
});
afterAll(async () => {
  await daemon?.kill9();
  await Promise.all(honest.map((h) => h.close()));
  cleanup();
});

describe('kill -9 under load, repeated', () => {
  it(`loses no capture the API showed, and leaves captures, listings and outbox rows agreeing (${KILLS} kills)`, { timeout: 300_000 }, async () => {
    const t = makeTorrent({ pieceCount: 8 });
    honest = await startHonestSeeders(t, 12);
    const dhtPort = await freePort('udp');
    // notify.amqp at a port where nothing listens: every outbox row stays until the test ends.
    const closed = await freePort('tcp');
    const { configPath, adminSocket } = writeLoadConfig({ dataDir: dir, dhtPort, infohash: t.infohash, amqpUrl: `amqp://guest:guest@127.0.0.1:${closed}`, pcap: true });
    const dbFile = path.join(dir, 'capture.db');

    const shown = new Set<string>();
    const load = startAnnouncing({ host: '127.0.0.1', port: dhtPort }, t.infohash, honest);
    let polls = 0;
    let pollFailures = 0;
    const rounds: Array<{ shownBefore: number; stored: number; reports: number }> = [];
    try {
      for (let round = 0; round <= KILLS; round++) {
        daemon = await startDaemonChild({ configPath, adminSocket, cwd: dir });
        // After a restart, the API shows every capture shown before the kill.
        const listed = new Set((await listCaptures(daemon.apiUrl, 30_000)).map((p) => peerKey({ ...p, foundAt: apiDateMs(p.date) })));
        const missing = [...shown].filter((k) => !listed.has(k));
        expect(missing, `round ${round}: captures shown before the kill, missing from the API after the restart`).toEqual([]);
        if (round === KILLS) break;

        // Poll like a client until the API has shown NEW_PER_ROUND more captures, then kill -9 mid-load.
        const target = shown.size + NEW_PER_ROUND;
        let reports = 0;
        const current = daemon;
        await until(async () => {
          polls++;
          try {
            for (const p of await listCaptures(current.apiUrl)) {
              shown.add(peerKey({ ...p, foundAt: apiDateMs(p.date) }));
              if (p.captureReport) reports++;
            }
          } catch {
            pollFailures++;
          }
          return shown.size >= target;
        }, 120_000, `${target} captures shown by the API`, 200);
        const shownBefore = shown.size;
        await daemon.kill9();
        daemon = undefined;

        const c = checkDatabase(dbFile, 1);
        rounds.push({ shownBefore, stored: c.captures, reports });
        expect(c.integrity).toBe('ok');
        expect([...shown].filter((k) => !c.keys.has(k)), `round ${round}: shown by the API, not in the database after kill -9`).toEqual([]);
        expect(c.captures).toBeGreaterThanOrEqual(shown.size);
        expect({ unlisted: c.unlisted, orphanListings: c.orphanListings, wrongSuccess: c.wrongSuccess }).toEqual({ unlisted: 0, orphanListings: 0, wrongSuccess: 0 });
        expect({ outboxMismatch: c.outboxMismatch, orphanOutbox: c.orphanOutbox }).toEqual({ outboxMismatch: 0, orphanOutbox: 0 });
        expect(c.outboxRows).toBe(c.captures);
      }
    } finally {
      await load.stop();
    }
    // The load was real: captures of honest seeders (reports) and refused addresses (errors) in every round.
    expect(rounds).toHaveLength(KILLS);
    expect(rounds.every((r) => r.reports > 0)).toBe(true);
    expect(polls).toBeGreaterThan(KILLS);
    expect(pollFailures).toBeLessThan(polls);
  });
});
