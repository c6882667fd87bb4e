/**
 * Two writers on one SQLite file: the capture writer (the capture module's BatchWriter on the
 * daemon's connection, database.busyTimeoutMs, default 50 ms) stores RATE captures/s (default
 * 1,000) while BATCHES submit_swarm batches of ROWS rows (default 60 × 1,000, gzip, real HTTP,
 * CONCURRENCY at a time, default 2) arrive back to back and are written by the BTN write thread on
 * its own connection. One process, as in the daemon (the HTTP client's work shares the event loop:
 * a harder case than the daemon's). Counts the capture writer's failed flushes (SQLITE_BUSY) and
 * outages, how long its intake was paused (accepting() false), the delay from a capture to its
 * commit (max, p99), the event loop's worst delay and the thread's longest transaction.
 *
 *   nice node --import tsx bench/btn-capture-lock.ts       BUSY_MS=… RATE=… BATCHES=…
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { torrentIdentifier } from '../src/btn/torrent-identifier.js';
import { configSchema } from '../src/config/config-schema.js';
import type { NewCapture } from '../src/model/capture.js';
import { openBtnStore } from '../src/store/btn-store.js';
import { BtnWriteWorker } from '../src/store/btn-write-worker.js';
import { openSqliteStore } from '../src/store/sqlite-store.js';
import { writeTurnOf } from '../src/store/write-turn.js';
import { BatchWriter } from '../src/util/batch-writer.js';
import { startBtnBenchServer } from './btn-bench-server.js';
import { fmtInt, header, percentile, Rng } from './lib.js';

const gzip = promisify(gzipCb);
const BATCHES = Number(process.env.BATCHES ?? 60);
const ROWS = Number(process.env.ROWS ?? 1000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 2);
const RATE = Number(process.env.RATE ?? 1000);
const BUSY_MS = Number(process.env.BUSY_MS ?? configSchema.parse({}).database.busyTimeoutMs);
const IH = 'aa'.repeat(20);
// TURN=0: the capture writer without the write turn it shares with the BTN thread (before it).
const TURN = process.env.TURN !== '0';

header(`btn-capture-lock: ${fmtInt(RATE)} captures/s while ${fmtInt(BATCHES)} submit_swarm batches × ${fmtInt(ROWS)} rows arrive, ${CONCURRENCY} at a time; busy_timeout ${BUSY_MS} ms; ${TURN ? 'write turn' : 'no write turn (TURN=0)'}`);

const dir = mkdtempSync(path.join(tmpdir(), 'btn-lock-bench-'));
const store = openSqliteStore({ path: path.join(dir, 'capture.db'), busyTimeoutMs: BUSY_MS });
const btnStore = openBtnStore(store.db, { writeThread: true });
const config = configSchema.parse({ btn: { enabled: true, publicUrl: 'http://127.0.0.1' } });
const server = await startBtnBenchServer(store, btnStore, config);
const { url, appId, appSecret } = server;

// The capture module's writer (src/capture/capture-module.ts), delays measured at each commit.
const delays: number[] = [];
const writer = new BatchWriter<NewCapture>(
  (batch) => {
    store.captures.insertMany(batch);
    const now = Date.now();
    for (const c of batch) delays.push(now - c.foundAt);
  },
  {
    maxBatch: 500, maxDelayMs: 200, maxPending: 50_000, retryDelayMs: 1000, maxRetryDelayMs: 30_000, name: 'capture store',
    ...(TURN ? { turn: writeTurnOf(store.db) } : {}),
  },
);

// BTN bodies, made before the clock starts (the clients are other machines).
const torrents = Array.from({ length: 200 }, (_, i) => torrentIdentifier(new Rng(i + 1).hex40()));
const rng = new Rng(42);
let ipCounter = 0;
const bodies: Buffer[] = [];
for (let b = 0; b < BATCHES; b++) {
  const now = Date.now();
  const swarms = [];
  for (let i = 0; i < ROWS; i++) {
    const n = ipCounter++;
    swarms.push({
      torrent_identifier: rng.pick(torrents), torrent_is_private: null, torrent_size: 1_000_000 + rng.int(0, 1e9),
      downloader: 'qBittorrent', downloader_progress: rng.next(),
      peer_ip: `${11 + (n >>> 24)}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`, peer_port: rng.int(1024, 65535),
      peer_id: '-qB4650-\u0000abcdefghij', peer_client_name: rng.pick(['qBittorrent/4.6.5', 'Transmission 4.0.5', 'BitComet 2.07']),
      peer_progress: rng.next(), to_peer_traffic: rng.int(1, 1e8), to_peer_traffic_offset: 0, from_peer_traffic: rng.int(0, 1e8),
      from_peer_traffic_offset: 0, first_time_seen: now - 3_600_000, last_time_seen: now - rng.int(0, 600_000), peer_last_flags: 'D ? I E',
      upload_speed: rng.int(0, 1e6), download_speed: rng.int(0, 1e6), upload_speed_max: rng.int(0, 1e7), download_speed_max: rng.int(0, 1e7),
    });
  }
  bodies.push(await gzip(JSON.stringify({ swarms }), { level: 1 }));
}
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY + 2 });
const headers = {
  'User-Agent': 'PeerBanHelper/v9.5.0 (unknown; Linux,6.8,unknown) BTN-Protocol/2.0.1 BTN-Protocol-Version/20',
  'Content-Type': 'application/json', 'Content-Encoding': 'gzip', 'Transfer-Encoding': 'chunked',
  'BTN-AppID': appId, 'BTN-AppSecret': appSecret, 'X-BTN-AppID': appId, 'X-BTN-AppSecret': appSecret,
  Authentication: `Bearer ${appId}@${appSecret}`,
};
function post(body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/ping/syncSwarm`, { method: 'POST', headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    for (let i = 0; i < body.length; i += 65536) req.write(body.subarray(i, i + 65536));
    req.end();
  });
}

const load0 = loadavg()[0] ?? NaN;
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
let n = 0;
let pausedMs = 0;
let offeredWhilePaused = 0;
let last = performance.now();
const t0 = performance.now();
// 10 ms ticks: RATE/100 captures each (as many as are due, so a late tick catches up).
const adder = setInterval(() => {
  const now = performance.now();
  if (!writer.accepting()) pausedMs += now - last;
  last = now;
  const due = Math.floor(((now - t0) * RATE) / 1000) - n;
  for (let i = 0; i < due; i++, n++) {
    if (!writer.accepting()) offeredWhilePaused++;
    writer.add({ foundAt: Date.now(), ip: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, port: 6881, infohash: IH, filters: ['f'], error: 'connect timeout' });
  }
}, 10);
await new Promise((r) => setTimeout(r, 500));
let next = 0;
let non200 = 0;
const b0 = performance.now();
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < BATCHES) {
      const body = bodies[next++] as Buffer;
      if ((await post(body)) !== 200) non200++;
    }
  }),
);
const btnS = (performance.now() - b0) / 1000;
await new Promise((r) => setTimeout(r, 500));
clearInterval(adder);
loop.disable();
const during = writer.stats();
const deadline = Date.now() + 60_000;
while (writer.stats().pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
const load1 = loadavg()[0] ?? NaN;
const thread = (btnStore.submissions as BtnWriteWorker).status();
const stored = store.db.prepare('SELECT count(*) FROM captures').pluck().get() as number;
const swarm = store.db.prepare('SELECT count(*) FROM btn_swarm').pluck().get() as number;
delays.sort((a, b) => a - b);
console.log(`load               ${load0.toFixed(1)} -> ${load1.toFixed(1)}`);
console.log(`BTN                ${fmtInt(swarm)} rows in ${btnS.toFixed(1)} s (${fmtInt(swarm / btnS)} rows/s), ${non200} answers not 200; thread: ${thread.calls} calls in ${thread.commits} commits, transaction mean ${(thread.transactionMs / Math.max(1, thread.commits)).toFixed(1)} ms, max ${thread.maxTransactionMs.toFixed(1)} ms`);
console.log(`capture writer     ${fmtInt(n)} captures offered, ${fmtInt(stored)} stored; ${during.failures} failed flushes (SQLITE_BUSY) in ${during.outages} outages; ${during.turnWaits} flushes waited for the turn`);
console.log(`intake paused      ${(pausedMs / 1000).toFixed(2)} s of ${((performance.now() - t0) / 1000).toFixed(1)} s; ${fmtInt(offeredWhilePaused)} captures offered while paused (the daemon would have refused their peers)`);
console.log(`capture -> commit  p50 ${percentile(delays, 50)} ms, p99 ${percentile(delays, 99)} ms, max ${delays.at(-1) ?? NaN} ms`);
console.log(`event loop         max delay ${(loop.max / 1e6).toFixed(0)} ms, p99 ${(loop.percentile(99) / 1e6).toFixed(0)} ms`);
writer.close();
await server.close();
await btnStore.close();
agent.destroy();
store.close();
rmSync(dir, { recursive: true, force: true });
if (stored !== n) throw new Error(`captures lost: ${n} offered, ${stored} stored`);
