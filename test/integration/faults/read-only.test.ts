import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiDateMs, checkDatabase, freePort, LOAD_KEY, listCaptures, peerKey, startAnnouncing, startHonestSeeders, writeLoadConfig,
} from '../../helpers/capture-load.js';
import { startDaemonChild, until, type DaemonChild } from '../../helpers/daemon-child.js';
import { ext4Unavailable, inExt4Namespace, makeExt4Image, triggerReadOnly } from '../../helpers/mount-namespace.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { makeTorrent } from '../../helpers/torrent-fixture.js';
import type { WirePeerServer } from '../../helpers/wire-peer-server.js';

/**
 * The data dir turns read-only while the daemon runs under capture load (issue 9, faults): its data
 * dir is an ext4 image mounted with errors=remount-ro in a private mount namespace, and the test
 * makes the kernel remount it read-only mid-run (trigger_fs_error), as a failing disk does. (tmpfs
 * cannot be remounted read-only while SQLite holds its files open for writing: EBUSY; and an ext4
 * remounted read-only on an error cannot go back to read-write without an fsck: the repair is
 * stop, fsck, mount, start.) With `database.synchronous: full`:
 * - while read-only: the API answers reads, a write answers 503 naming the read-only file system,
 *   `status` says `read-only file system or file: <data dir>` (not SQLite's "disk I/O error"),
 *   intake pauses, the captures waiting are kept and counted, one error line in the log;
 * - at stop: the captures that could not be written are counted in an error line;
 * - after the repair: integrity ok and every capture the API had shown is in the database.
 */
interface StoreStats {
  pending: number;
  refused: number;
  state: string;
  lastError: string | null;
  failures: number;
}
type Status = { capture: { store: StoreStats; pipeline: Record<string, number> }; storage?: unknown };

let dir: string;
let cleanup: () => void;
let honest: WirePeerServer[] = [];
let daemon: DaemonChild | undefined;

beforeAll(() => {
  ({ dir, cleanup } = tempDir('read-only-'));
});
afterAll(async () => {
  await daemon?.kill9();
  await Promise.all(honest.map((h) => h.close()));
  cleanup();
});

describe.skipIf(ext4Unavailable !== undefined)(`data dir read-only while running${ext4Unavailable ? ` (skipped: ${ext4Unavailable})` : ''}`, () => {
  it('answers the API, names the read-only data dir, pauses intake; what the API showed is on disk after the repair', { timeout: 240_000 }, async () => {
    const t = makeTorrent({ pieceCount: 8 });
    honest = await startHonestSeeders(t, 6);
    const image = path.join(dir, 'disk.img');
    const mnt = path.join(dir, 'data');
    makeExt4Image(image, 64);
    const dhtPort = await freePort('udp');
    const { configPath, adminSocket } = writeLoadConfig({
      dataDir: mnt, configDir: dir, dhtPort, infohash: t.infohash, pcap: true, extra: 'database: { synchronous: full }',
    });
    daemon = await startDaemonChild({ configPath, adminSocket, cwd: dir, wrap: (argv) => inExt4Namespace(image, mnt, argv) });
    const d = daemon;
    const status = (): Promise<Status> => d.status<Status>();
    const load = startAnnouncing({ host: '127.0.0.1', port: dhtPort }, t.infohash, honest);
    const shown = new Set<string>();
    const see = async (): Promise<number> => {
      const all = await listCaptures(d.apiUrl, 30_000);
      for (const p of all) shown.add(peerKey({ ...p, foundAt: apiDateMs(p.date) }));
      return all.length;
    };
    try {
      await until(async () => (await see()) >= 20, 60_000, '20 captures before the fault', 200);
      triggerReadOnly(image);

      await until(async () => (await status()).capture.store.state === 'failing', 60_000, 'store failing');
      // The API still answers reads while the disk is read-only, and intake pauses.
      let reads = 0;
      await until(async () => {
        await see();
        reads++;
        const paused = (await status()).capture.pipeline['store-paused'] ?? 0;
        return paused > 0 && reads >= 5;
      }, 60_000, 'intake paused, the API read 5 times', 300);
      const s = await status();
      expect(s.capture.store.lastError).toMatch(new RegExp(`^read-only file system or file: ${mnt} \\(disk I/O error\\)`));
      expect(s.capture.store.pending).toBeGreaterThan(0);
      expect(s.capture.store.refused).toBe(0);
      // A write through the API says what is wrong.
      const add = await fetch(`${d.apiUrl}/torrents/addInfohash/`, { method: 'POST', body: new URLSearchParams({ key: LOAD_KEY, infohash: 'cd'.repeat(20) }) });
      expect(add.status).toBe(503);
      expect(await add.json()).toEqual({ error: 'STORAGE_UNAVAILABLE', message: 'read-only file system or file: the change was not saved, try again later' });
      // One line when the store starts failing, not one per capture or per retry.
      const errors = d.lines.filter((l) => l.level === 'error').map((l) => [l.msg, l.store, l.reason]);
      expect(errors).toEqual([['writes failing: retrying with backoff', 'capture store', s.capture.store.lastError]]);
    } finally {
      await load.stop();
    }
    d.child.kill('SIGTERM');
    expect(await d.exited).toBe(0);
    daemon = undefined;
    expect(d.lines.some((l) => l.level === 'error' && l.msg === 'captures could not be written before stopping and are lost' && Number(l.lost) > 0 && /^read-only file system/.test(String(l.reason)))).toBe(true);

    // The repair (the namespace went with the daemon): fsck the image, then read what it holds.
    const fsck = spawnSync('e2fsck', ['-fy', image], { encoding: 'utf8' });
    expect(fsck.status ?? 99, fsck.stdout).toBeLessThanOrEqual(1);
    const copy = spawnSync('sh', ['-c', `m=$(mktemp -d) && mount -o loop,ro '${image}' "$m" && cp "$m"/capture.db* '${dir}/'; r=$?; umount "$m"; rmdir "$m"; exit $r`], { encoding: 'utf8' });
    expect(copy.status, copy.stderr).toBe(0);
    const c = checkDatabase(path.join(dir, 'capture.db'), null);
    expect(c.integrity).toBe('ok');
    expect([...shown].filter((k) => !c.keys.has(k)), 'captures the API showed, not on disk after the repair').toEqual([]);
    expect(c.unlisted + c.orphanListings + c.wrongSuccess).toBe(0);
  });
});
