/**
 * kill -9 under load, repeated (issue 9): the long version of test/integration/faults/kill9.test.ts.
 * The real daemon process (node + tsx on the sources), its DHT node on 127.0.0.1 fed with announces
 * of honest seeders (127.61.0.x) and of refused addresses (127.62.x.y), notify.amqp pointed at a
 * closed port (every outbox row stays), the API read every 200 ms; SIGKILL after a random number of
 * new captures shown (10-80), KILLS times. After each kill: integrity_check, every capture the API
 * showed is stored, every capture has its listing and its outbox row; after each restart the API
 * shows them all. Loopback only (announcers, peers and the daemon on 127.x), no bootstrap.
 *
 *   nice -n 10 node --import tsx bench/kill9.ts        KILLS=20 (default)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  apiDateMs, checkDatabase, freePort, listCaptures, peerKey, startAnnouncing, startHonestSeeders, writeLoadConfig,
} from '../test/helpers/capture-load.js';
import { startDaemonChild, until, type DaemonChild } from '../test/helpers/daemon-child.js';
import { makeTorrent } from '../test/helpers/torrent-fixture.js';
import { header } from './lib.js';

const KILLS = Number(process.env.KILLS ?? 20);
header(`kill9: ${KILLS} × SIGKILL under load, checks after each`);
const dir = mkdtempSync(path.join(os.tmpdir(), 'kill9-bench-'));
const t = makeTorrent({ pieceCount: 8 });
const honest = await startHonestSeeders(t, 12);
const dhtPort = await freePort('udp');
const closed = await freePort('tcp');
const { configPath, adminSocket } = writeLoadConfig({ dataDir: dir, dhtPort, infohash: t.infohash, amqpUrl: `amqp://guest:guest@127.0.0.1:${closed}`, pcap: true });
const load = startAnnouncing({ host: '127.0.0.1', port: dhtPort }, t.infohash, honest);
const shown = new Set<string>();
let daemon: DaemonChild | undefined;
let bad = 0;
console.log('round  restart ms  shown  stored  unshown-in-db  lost  integrity  listings  outbox');
try {
  for (let round = 0; round <= KILLS; round++) {
    const t0 = performance.now();
    daemon = await startDaemonChild({ configPath, adminSocket, cwd: dir, readyTimeoutMs: 180_000 });
    const listed = new Set((await listCaptures(daemon.apiUrl, 60_000)).map((p) => peerKey({ ...p, foundAt: apiDateMs(p.date) })));
    const restartMs = performance.now() - t0;
    const missingAfterRestart = [...shown].filter((k) => !listed.has(k)).length;
    if (missingAfterRestart > 0) {
      bad++;
      console.log(`round ${round}: ${missingAfterRestart} captures shown before the kill are missing from the API after the restart`);
    }
    if (round === KILLS) break;
    const target = shown.size + 10 + Math.floor(Math.random() * 70);
    const current = daemon;
    await until(async () => {
      try {
        for (const p of await listCaptures(current.apiUrl)) shown.add(peerKey({ ...p, foundAt: apiDateMs(p.date) }));
      } catch {
        // a slow answer: poll again
      }
      return shown.size >= target;
    }, 300_000, `${target} captures shown`, 200);
    await daemon.kill9();
    daemon = undefined;
    const c = checkDatabase(path.join(dir, 'capture.db'), 1);
    const lost = [...shown].filter((k) => !c.keys.has(k)).length;
    const listings = c.unlisted + c.orphanListings + c.wrongSuccess;
    const outbox = c.outboxMismatch + c.orphanOutbox;
    if (lost > 0 || listings > 0 || outbox > 0 || c.integrity !== 'ok') bad++;
    console.log(
      `${String(round + 1).padStart(5)} ${restartMs.toFixed(0).padStart(11)} ${String(shown.size).padStart(6)} ${String(c.captures).padStart(7)} ${String(c.captures - shown.size).padStart(14)} ${String(lost).padStart(5)} ${c.integrity.padStart(10)} ${(listings === 0 ? 'agree' : `${listings} bad`).padStart(9)} ${(outbox === 0 ? 'agree' : `${outbox} bad`).padStart(7)}`,
    );
  }
} finally {
  await load.stop();
  await daemon?.kill9();
  await Promise.all(honest.map((h) => h.close()));
  rmSync(dir, { recursive: true, force: true });
}
console.log(`\nannounces: ${load.stats.ok} answered, ${load.stats.failed} not (daemon down)`);
console.log(`${bad === 0 ? 'PASS' : 'FAIL'}: ${KILLS} kills, ${shown.size} captures shown, ${bad} round(s) with a loss or a disagreement`);
process.exit(bad === 0 ? 0 : 1);
