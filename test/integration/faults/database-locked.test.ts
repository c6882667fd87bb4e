import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewCapture } from '../../../src/model/capture.js';
import { BatchWriter } from '../../../src/util/batch-writer.js';
import { startApi, type ApiFixture } from '../../helpers/api-fixture.js';
import { holdWriteLock } from '../../helpers/db-locker.js';
import { makeTorrent } from '../../helpers/torrent-fixture.js';
import { parseTorrentFile } from '../../../src/protocol/metainfo.js';

const KEY = 'key-locked-0123456789abcdef';
const IH = 'aa'.repeat(20);
const T2 = makeTorrent();
const IH2 = T2.infohash;

function capture(i: number): NewCapture {
  return { foundAt: 1_700_000_000_000 + i, ip: `10.0.${(i >> 8) & 255}.${i & 255}`, port: 6881, infohash: IH, filters: ['f'], error: 'connect timeout' };
}

describe('another process holds the write lock (BEGIN IMMEDIATE) for 3 s', () => {
  let api: ApiFixture;
  beforeAll(async () => {
    // The default config: database.busyTimeoutMs is what the daemon uses.
    api = await startApi({ apiKeys: [{ name: 'k', key: KEY }], filters: [{ name: 'f', infohashes: [IH] }] });
    api.repos.torrents.putMetadata(parseTorrentFile(T2.buffer), 'upload');
  });
  afterAll(() => api.close());

  it('the event loop, the API and the capture writer keep going; nothing is lost; the lock is reported', async () => {
    // The capture module's writer settings (src/capture/capture-module.ts).
    const writer = new BatchWriter<NewCapture>((b) => api.repos.captures.insertMany(b), {
      maxBatch: 500, maxDelayMs: 200, maxPending: 50_000, retryDelayMs: 1000, maxRetryDelayMs: 30_000, name: 'capture store',
    });
    const loop = monitorEventLoopDelay({ resolution: 10 });
    const locker = await holdWriteLock(api.dbFile, 3000);
    loop.enable();
    const t0 = Date.now();
    let n = 0;
    const adder = setInterval(() => writer.add(capture(n++)), 10);
    const latencies: number[] = [];
    let writeAnswer: { status: number; body: { error: string; message: string }; ms: number } | undefined;
    while (Date.now() - t0 < 2500) {
      const s = performance.now();
      const res = await fetch(`${api.url}/capture/peers/all/?key=${KEY}&filter=f&from=0`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      latencies.push(performance.now() - s);
      if (writeAnswer === undefined) {
        const w0 = performance.now();
        const r = await fetch(`${api.url}/capture/filters/addInfohash/`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `key=${KEY}&filter=f&infohash=${IH2}`,
        });
        writeAnswer = { status: r.status, body: (await r.json()) as { error: string; message: string }, ms: performance.now() - w0 };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    clearInterval(adder);
    loop.disable();
    // While locked: the writer is failing and says why.
    expect(writer.stats()).toMatchObject({ state: 'failing' });
    expect(writer.stats().lastError).toMatch(/database locked by another process/);
    expect(writer.accepting()).toBe(false);
    // A write through the API: 503 with the reason, quickly (before: it waited the 5 s busy timeout).
    expect(writeAnswer).toMatchObject({ status: 503, body: { error: 'STORAGE_UNAVAILABLE' } });
    expect(writeAnswer?.body.message).toMatch(/database locked by another process/);
    expect(writeAnswer?.ms).toBeLessThan(1000);
    // Reads and the event loop: no 5-second stalls (generous bounds for a loaded CI machine).
    expect(Math.max(...latencies)).toBeLessThan(1000);
    expect(loop.max / 1e6).toBeLessThan(1000);

    await locker.released;
    // The writer recovers by itself (next retry ≤ 4 s after the lock is gone); nothing is lost.
    const deadline = Date.now() + 15_000;
    while (writer.stats().pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(writer.stats()).toMatchObject({ state: 'ok', pending: 0, written: n, refused: 0 });
    expect(api.db.prepare('SELECT count(*) AS c FROM captures').get()).toEqual({ c: n });
    expect(api.db.pragma('integrity_check', { simple: true })).toBe('ok');
    writer.close();
  }, 30_000);
});
