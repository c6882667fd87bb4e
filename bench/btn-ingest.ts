/**
 * BTN ingest: BATCHES submit_swarm batches of ROWS rows each (default 1,000 × 1,000), as
 * PeerBanHelper sends them (gzip, Transfer-Encoding: chunked, all BTN headers), over real HTTP to
 * the daemon's server running in a child process (bench/btn-ingest-server.ts) on a fresh SQLite
 * file; CONCURRENCY uploads at a time (default 2). The gzip bodies are made before the clock starts
 * (PREGEN=0: while uploads are in flight, as before 2026-12-05 08:40). Meanwhile
 * GET /api/snapshot?page=0&pageSize=100 runs back to back (20 ms apart) and its latency is
 * recorded; the server's RSS and CPU (all threads, and its main thread alone) are sampled every
 * 200 ms. Every row is new (distinct peer IPs), so every one is an insert. WRITE_THREAD=0 writes
 * on the event loop (the store without its write thread: the code before it); DECODE_THREADS=0
 * inflates, parses and normalises the bodies on the event loop (the module without its decode thread).
 * THREAD_CHECKPOINT=1: the write thread checkpoints in its own commits (before 2026-12-05 session 7).
 *
 *   nice node --import tsx bench/btn-ingest.ts        BATCHES=100 for a short run
 *
 * Targets: ≥ 50,000 rows/s stored; snapshot p99 ≤ 50 ms during the run.
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { torrentIdentifier } from '../src/btn/torrent-identifier.js';
import { fmtBytes, fmtInt, fmtMs, header, passMiss, percentile, Rng } from './lib.js';

const gzip = promisify(gzipCb);
const BATCHES = Number(process.env.BATCHES ?? 1000);
const ROWS = Number(process.env.ROWS ?? 1000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 2);
const TARGET_ROWS_PER_S = 50_000;
const TARGET_P99_MS = 50;
const HERE = path.dirname(fileURLToPath(import.meta.url));

header(`btn-ingest: ${fmtInt(BATCHES)} submit_swarm batches × ${fmtInt(ROWS)} rows, gzip + chunked, ${CONCURRENCY} at a time`);

const child = spawn(process.execPath, [...(process.env.CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CPU_PROF}`] : []), '--import', 'tsx', path.join(HERE, 'btn-ingest-server.ts')], { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = createInterface({ input: child.stdout });
let peakRss = 0;
let lastHeap = 0;
let serverCpuUs = 0;
let serverMainCpuUs = 0;
let writer: { calls: number; commits: number; transactionMs: number; maxTransactionMs: number } | undefined;
let threads: Record<string, number> | undefined;
let decoder: { threads: number; calls: number } | null | undefined;
let checkpoint: { mode: string; running: boolean; checkpoints: number; longestDurationMs: number; walFrames: number; fallbacks: number; turnRounds: number; longestTurnMs: number } | undefined;
const ready = new Promise<{ url: string; appId: string; appSecret: string; token: string; dbFile: string }>((resolve) => {
  lines.on('line', (line) => {
    const msg = JSON.parse(line) as Record<string, unknown>;
    if (typeof msg.url === 'string') resolve(msg as never);
    else if (msg.writer) writer = msg.writer as typeof writer;
    else if (msg.threads) threads = msg.threads as typeof threads;
    else if ('decode' in msg) decoder = msg.decode as typeof decoder;
    else if (msg.checkpoint) checkpoint = msg.checkpoint as typeof checkpoint;
    else {
      peakRss = Math.max(peakRss, msg.rss as number);
      lastHeap = msg.heapUsed as number;
      serverCpuUs = msg.cpuUs as number;
      serverMainCpuUs = msg.mainCpuUs as number;
    }
  });
});
const server = await ready;
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY + 2 });
const headers = {
  'User-Agent': 'PeerBanHelper/v9.5.0 (unknown; Linux,6.8,unknown) BTN-Protocol/2.0.1 BTN-Protocol-Version/20',
  'Content-Type': 'application/json',
  'Content-Encoding': 'gzip',
  'Transfer-Encoding': 'chunked',
  'BTN-AppID': server.appId,
  'BTN-AppSecret': server.appSecret,
  'X-BTN-AppID': server.appId,
  'X-BTN-AppSecret': server.appSecret,
  Authentication: `Bearer ${server.appId}@${server.appSecret}`,
};

const torrents = Array.from({ length: 200 }, (_, i) => torrentIdentifier(new Rng(i + 1).hex40()));
const rng = new Rng(42);
let ipCounter = 0;
function batch(now: number): string {
  const swarms = [];
  for (let i = 0; i < ROWS; i++) {
    const n = ipCounter++;
    swarms.push({
      torrent_identifier: rng.pick(torrents),
      torrent_is_private: null,
      torrent_size: 1_000_000 + rng.int(0, 1e9),
      downloader: 'qBittorrent',
      downloader_progress: rng.next(),
      peer_ip: `${11 + (n >>> 24)}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`,
      peer_port: rng.int(1024, 65535),
      peer_id: '-qB4650-\u0000abcdefghij',
      peer_client_name: rng.pick(['qBittorrent/4.6.5', 'Transmission 4.0.5', 'BitComet 2.07', 'Xunlei 0.0.1.2']),
      peer_progress: rng.next(),
      to_peer_traffic: rng.int(1, 1e8),
      to_peer_traffic_offset: 0,
      from_peer_traffic: rng.int(0, 1e8),
      from_peer_traffic_offset: 0,
      first_time_seen: now - 3_600_000,
      last_time_seen: now - rng.int(0, 600_000),
      peer_last_flags: 'D ? I E',
      upload_speed: rng.int(0, 1e6),
      download_speed: rng.int(0, 1e6),
      upload_speed_max: rng.int(0, 1e7),
      download_speed_max: rng.int(0, 1e7),
    });
  }
  return JSON.stringify({ swarms });
}

function post(body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}/ping/syncSwarm`, { method: 'POST', headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    for (let i = 0; i < body.length; i += 65536) req.write(body.subarray(i, i + 65536));
    req.end();
  });
}

// Snapshot poller.
const latencies: number[] = [];
let polling = true;
const poll = async (): Promise<void> => {
  while (polling) {
    const t = performance.now();
    const r = await fetch(`${server.url}/api/snapshot?page=0&pageSize=100`, { headers: { authorization: `Bearer ${server.token}` } });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`snapshot answered ${r.status}`);
    latencies.push(performance.now() - t);
    await new Promise((res) => setTimeout(res, 20));
  }
};

let inserted = 0;
let rawBytes = 0;
let gzBytes = 0;
let next = 0;
let serverMs = 0;
// The gzip bodies are made before the clock starts (PREGEN=0: while uploads are in flight, up to
// AHEAD ready): the clients are other machines, and making a body (~10 ms of CPU) here would take
// the same two cores the server runs on.
const PREGEN = process.env.PREGEN !== '0';
const AHEAD = PREGEN ? BATCHES : Number(process.env.AHEAD ?? CONCURRENCY * 2);
const bodies: Buffer[] = [];
let made = 0;
let wake: (() => void) | undefined;
async function produce(): Promise<void> {
  while (made < BATCHES) {
    if (bodies.length >= AHEAD) {
      await new Promise<void>((r) => (wake = r));
      continue;
    }
    made++;
    const json = batch(Date.now());
    const gz = await gzip(json, { level: 1 });
    rawBytes += json.length;
    gzBytes += gz.length;
    bodies.push(gz);
    await new Promise((r) => setImmediate(r));
  }
}
if (PREGEN) await produce();
const poller = poll();
const t0 = performance.now();
await new Promise((r) => setTimeout(r, 250));
const cpuAtStart = serverCpuUs;
const mainCpuAtStart = serverMainCpuUs;
const producer = PREGEN ? Promise.resolve() : produce();
async function nextBody(): Promise<Buffer> {
  for (;;) {
    const b = bodies.shift();
    if (b) {
      wake?.();
      return b;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
}
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < BATCHES) {
      next++;
      const body = await nextBody();
      const ts = performance.now();
      const r = await post(body);
      serverMs += performance.now() - ts;
      if (r.status !== 200) throw new Error(`submit answered ${r.status}: ${r.text.slice(0, 200)}`);
      inserted += (JSON.parse(r.text) as { data: { inserted: number } }).data.inserted;
    }
  }),
);
await producer;
const elapsed = (performance.now() - t0) / 1000;
polling = false;
await poller;
await new Promise((r) => setTimeout(r, 250));
const serverCpuS = (serverCpuUs - cpuAtStart) / 1e6;
const serverMainCpuS = (serverMainCpuUs - mainCpuAtStart) / 1e6;
const dbBytes = statSync(server.dbFile).size + (() => { try { return statSync(`${server.dbFile}-wal`).size; } catch { return 0; } })();
child.stdin.end();
await new Promise((r) => child.on('exit', r));
agent.destroy();

if (inserted !== BATCHES * ROWS) throw new Error(`expected ${BATCHES * ROWS} rows inserted, got ${inserted}`);
const sorted = [...latencies].sort((a, b) => a - b);
const rate = inserted / elapsed;
const p99 = percentile(sorted, 99);
console.log(`rows stored        ${fmtInt(inserted)} in ${elapsed.toFixed(1)} s = ${fmtInt(rate)} rows/s  (target ≥ ${fmtInt(TARGET_ROWS_PER_S)}: ${passMiss(rate >= TARGET_ROWS_PER_S)})`);
console.log(
  `server CPU         ${serverCpuS.toFixed(1)} s (user+system) = ${fmtMs((serverCpuS * 1000) / BATCHES)} per batch incl. the snapshot requests: ${fmtInt(inserted / serverCpuS)} rows per server CPU-second (what one free core would ingest)`,
);
console.log(
  `  of which         main thread (event loop) ${serverMainCpuS.toFixed(1)} s = ${fmtMs((serverMainCpuS * 1000) / BATCHES)} per batch; other threads (write thread, zlib pool, GC) ${(serverCpuS - serverMainCpuS).toFixed(1)} s`,
);
console.log(`per batch          ${fmtMs(serverMs / BATCHES)} mean request time (JSON ${fmtBytes(rawBytes / BATCHES)}, gzip ${fmtBytes(gzBytes / BATCHES)})`);
console.log(
  `GET /api/snapshot  ${fmtInt(sorted.length)} requests: p50 ${fmtMs(percentile(sorted, 50))}, p95 ${fmtMs(percentile(sorted, 95))}, p99 ${fmtMs(p99)}, max ${fmtMs(sorted[sorted.length - 1] ?? NaN)}  (target p99 ≤ ${TARGET_P99_MS} ms: ${passMiss(p99 <= TARGET_P99_MS)})`,
);
console.log(`server memory      peak RSS ${fmtBytes(peakRss)}, heapUsed at the end ${fmtBytes(lastHeap)}`);
console.log(writer ? `write thread       ${fmtInt(writer.calls)} calls in ${fmtInt(writer.commits)} commits; transactions (BEGIN … COMMIT, wall) ${(writer.transactionMs / 1000).toFixed(1)} s of the ${elapsed.toFixed(1)} s, longest ${fmtMs(writer.maxTransactionMs)}` : 'write thread       none (WRITE_THREAD=0: written on the event loop)');
console.log(decoder ? `decode threads     ${decoder.threads}: ${fmtInt(decoder.calls)} bodies inflated, parsed and normalised off the event loop` : 'decode threads     none (DECODE_THREADS=0: bodies decoded on the event loop)');
console.log(
  checkpoint?.running
    ? `WAL checkpoints    ${fmtInt(checkpoint.checkpoints)} on the checkpoint worker (longest ${fmtMs(checkpoint.longestDurationMs)}; ${fmtInt(checkpoint.turnRounds)} ended with a round in the write turn, longest ${fmtMs(checkpoint.longestTurnMs)}), WAL ${fmtInt(checkpoint.walFrames)} pages at the last, ${checkpoint.fallbacks} fallbacks to SQLite's own`
    : "WAL checkpoints    SQLite's own, in the commits (CHECKPOINT_WORKER=0)",
);
if (threads) console.log(`threads (CPU s)    ${Object.entries(threads).filter(([, ms]) => ms >= 100).sort((a, b) => b[1] - a[1]).map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)}`).join(', ')} (since the server was listening)`);
console.log(`database           ${fmtBytes(dbBytes)} (${fmtBytes(dbBytes / inserted)} per row)`);
