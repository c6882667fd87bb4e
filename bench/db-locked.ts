/**
 * A database locked by another process (BEGIN IMMEDIATE held HOLD_MS, default 10 s) while captures
 * arrive (100/s through the capture module's BatchWriter) and the API is read every 50 ms: worst
 * event-loop delay, API read latency, the answer to an API write, and whether every capture was
 * stored afterwards.
 *
 *   nice node --import tsx bench/db-locked.ts              # the daemon's default busy timeout
 *   BUSY_MS=5000 nice node --import tsx bench/db-locked.ts  # the busy timeout before issue 9
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { NewCapture } from '../src/model/capture.js';
import { parseTorrentFile } from '../src/protocol/metainfo.js';
import { BatchWriter } from '../src/util/batch-writer.js';
import { startApi } from '../test/helpers/api-fixture.js';
import { holdWriteLock } from '../test/helpers/db-locker.js';
import { makeTorrent } from '../test/helpers/torrent-fixture.js';
import { percentile } from './lib.js';

const HOLD_MS = Number(process.env.HOLD_MS ?? 10_000);
const KEY = 'bench-key-0123456789abcdef';
const IH = 'aa'.repeat(20);
const busy = process.env.BUSY_MS;
const api = await startApi({
  apiKeys: [{ name: 'k', key: KEY }],
  filters: [{ name: 'f', infohashes: [IH] }],
  ...(busy !== undefined ? { database: { busyTimeoutMs: Number(busy) } } : {}),
});
const t2 = makeTorrent();
api.repos.torrents.putMetadata(parseTorrentFile(t2.buffer), 'upload');
const retry = Number(process.env.RETRY_MS ?? 1000);
const writer = new BatchWriter<NewCapture>((b) => api.repos.captures.insertMany(b), {
  maxBatch: 500, maxDelayMs: 200, maxPending: 50_000, retryDelayMs: retry, maxRetryDelayMs: 30_000, name: 'capture store',
});
console.log(`db-locked: lock held ${HOLD_MS} ms by another process; busy_timeout ${api.db.pragma('busy_timeout', { simple: true })} ms; load ${(await import('node:os')).loadavg()[0]?.toFixed(1)}`);

const loop = monitorEventLoopDelay({ resolution: 10 });
const locker = await holdWriteLock(api.dbFile, HOLD_MS);
loop.enable();
const t0 = Date.now();
let n = 0;
const adder = setInterval(() => writer.add({ foundAt: Date.now(), ip: `10.0.${(n >> 8) & 255}.${n++ & 255}`, port: 6881, infohash: IH, filters: ['f'], error: 'x' }), 10);
const lat: number[] = [];
const writes: string[] = [];
while (Date.now() - t0 < HOLD_MS) {
  const s = performance.now();
  await (await fetch(`${api.url}/capture/peers/all/?key=${KEY}&filter=f&from=0`)).arrayBuffer();
  lat.push(performance.now() - s);
  if (writes.length < 3) {
    const w0 = performance.now();
    const r = await fetch(`${api.url}/capture/filters/addInfohash/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `key=${KEY}&filter=f&infohash=${t2.infohash}` });
    writes.push(`${r.status} ${((await r.json()) as { error?: string }).error ?? 'ok'} in ${(performance.now() - w0).toFixed(0)} ms`);
  }
  await new Promise((r) => setTimeout(r, 50));
}
clearInterval(adder);
loop.disable();
const during = writer.stats();
await locker.released;
const deadline = Date.now() + 60_000;
while (writer.stats().pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
lat.sort((a, b) => a - b);
console.log(`  event loop: max ${(loop.max / 1e6).toFixed(0)} ms, p99 ${(loop.percentile(99) / 1e6).toFixed(0)} ms`);
console.log(`  API reads (${lat.length}): p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms, max ${(lat.at(-1) ?? 0).toFixed(0)} ms`);
console.log(`  API writes: ${writes.join('; ')}`);
console.log(`  writer during the lock: ${during.failures} failed flushes, state ${during.state}, ${during.pending} waiting`);
const stored = (api.db.prepare('SELECT count(*) AS c FROM captures').get() as { c: number }).c;
console.log(`  after: ${stored} of ${n} captures stored, writer ${writer.stats().state}, integrity ${String(api.db.pragma('integrity_check', { simple: true }))}`);
writer.close();
await api.close();
