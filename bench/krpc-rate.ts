/**
 * KRPC queries answered per second: our DhtNode (BudgetedSocket + KrpcResponder over bittorrent-dht)
 * against a bare UDP echo server, and the stock bittorrent-dht node, in the same run. A load
 * generator in a child process (its own event loop) keeps a window of queries outstanding against
 * each target on loopback for DURATION_MS, alternating ping and get_peers (random infohashes, so the
 * responder also grows its BEP 51 "seen" set, up to its bound). Targets are measured in interleaved
 * rounds (echo, ours, stock) after a warm-up, and the median of the rounds is reported: the machine
 * is shared, single runs are noisy. Our node's budget is raised out of the way
 * (maxPacketsPerSecond 1e6): this measures what the code can answer, not the budget.
 * RSS and heap of this process (where the nodes live) are taken before and after to show memory flat.
 *
 *   node --expose-gc --import tsx bench/krpc-rate.ts        (DURATION_MS=5000 ROUNDS=3 WINDOW=128)
 *
 * Everything binds 127.0.60.x; nothing leaves loopback.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import DHT from 'bittorrent-dht';
import bencode from 'bencode';
import { DhtNode } from '../src/dht/dht-node.js';
import { silentLogger } from '../src/util/logger.js';
import { fmtBytes, fmtInt, header, passMiss, tryGc } from './lib.js';

const DURATION_MS = Number(process.env.DURATION_MS ?? 5000);
const WINDOW = Number(process.env.WINDOW ?? 128);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const WARMUP_MS = 1000;
const TARGET_RATIO = 0.5;

interface LoadResult {
  sent: number;
  answered: number;
  ms: number;
  p50us: number;
  p99us: number;
}

// ------------------------------------------------------------------ load generator (child process)
async function loadgen(host: string, port: number, durationMs: number): Promise<LoadResult> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.60.50', () => r()));
  const id = randomBytes(20);
  const outstanding = new Map<number, number>(); // tid → sent at (hrtime µs)
  const lat: number[] = [];
  let tid = 0;
  let sent = 0;
  let answered = 0;
  let running = true;
  const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
  const sendOne = (): void => {
    tid = tid >= 65535 ? 1 : tid + 1;
    const t = Buffer.alloc(2);
    t.writeUInt16BE(tid);
    const msg = sent % 2 === 0
      ? { t, y: 'q', q: 'ping', a: { id } }
      : { t, y: 'q', q: 'get_peers', a: { id, info_hash: randomBytes(20) } };
    outstanding.set(tid, nowUs());
    sent++;
    sock.send(bencode.encode(msg), port, host);
  };
  sock.on('message', (buf) => {
    if (buf.length < 10) return;
    // The transaction id: find "1:t2:" and read the 2 bytes after it (echo and KRPC replies alike).
    const i = buf.indexOf('1:t2:');
    if (i < 0) return;
    const t = buf.readUInt16BE(i + 5);
    const at = outstanding.get(t);
    if (at === undefined) return;
    outstanding.delete(t);
    answered++;
    if (lat.length < 200_000) lat.push(nowUs() - at);
    if (running) sendOne();
  });
  const start = Date.now();
  for (let i = 0; i < WINDOW; i++) sendOne();
  // Refill the window for lost packets (a budget drop or a full socket buffer).
  const refill = setInterval(() => {
    const cutoff = nowUs() - 200_000;
    for (const [t, at] of outstanding) {
      if (at < cutoff) {
        outstanding.delete(t);
        if (running) sendOne();
      }
    }
  }, 50);
  await new Promise((r) => setTimeout(r, durationMs));
  running = false;
  const ms = Date.now() - start;
  clearInterval(refill);
  await new Promise((r) => setTimeout(r, 100));
  sock.close();
  lat.sort((a, b) => a - b);
  return { sent, answered, ms, p50us: lat[Math.floor(lat.length / 2)] ?? NaN, p99us: lat[Math.floor(lat.length * 0.99)] ?? NaN };
}

if (process.argv[2] === 'loadgen') {
  process.on('message', (m: { host: string; port: number; durationMs: number }) => {
    void loadgen(m.host, m.port, m.durationMs).then((r) => {
      process.send!(r);
      process.exit(0);
    });
  });
} else {
  await main();
}

function runLoad(host: string, port: number, durationMs = DURATION_MS): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['loadgen'], { execArgv: process.execArgv.filter((a) => a !== '--expose-gc') });
    child.once('message', (r) => resolve(r as LoadResult));
    child.once('error', reject);
    child.send({ host, port, durationMs });
  });
}

function mem(): { rss: number; heap: number } {
  tryGc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

function rate(r: LoadResult): number {
  return r.answered / (r.ms / 1000);
}

function line(name: string, runs: LoadResult[]): number {
  const rates = runs.map(rate);
  const med = [...rates].sort((a, b) => a - b)[Math.floor(rates.length / 2)]!;
  const best = runs[rates.indexOf(med)]!;
  console.log(
    `${name.padEnd(24)} median ${fmtInt(med).padStart(7)} answers/s  (rounds: ${rates.map((x) => fmtInt(x)).join(', ')};` +
      ` median round: ${fmtInt(best.answered)} of ${fmtInt(best.sent)} answered, p50 ${best.p50us} µs, p99 ${best.p99us} µs)`,
  );
  return med;
}

async function main(): Promise<void> {
  header(`KRPC answer rate: our node vs bare UDP echo vs stock bittorrent-dht (${ROUNDS} rounds × ${DURATION_MS} ms, window ${WINDOW})`);

  // Bare UDP echo.
  const echo = dgram.createSocket('udp4');
  await new Promise<void>((r) => echo.bind(0, '127.0.60.1', () => r()));
  echo.on('message', (buf, rinfo) => echo.send(buf, rinfo.port, rinfo.address));

  // Our node, with a small routing table so get_peers replies carry nodes.
  const node = new DhtNode(
    { logger: silentLogger() },
    {
      host: '127.0.60.2', port: 0, bootstrap: [], maxPacketsPerSecond: 1_000_000, minQueryIntervalPerIpMs: 0,
      maxPendingQueries: 1024, allowDestination: (ip) => ip.startsWith('127.'),
    },
  );
  await node.start();
  node.addNodes(Array.from({ length: 8 }, (_, i) => ({ host: `127.0.61.${i + 1}`, port: 6881, id: randomBytes(20) })));

  // Stock bittorrent-dht (k-rpc-socket + its own responder), bootstrap off.
  const stock = new DHT({ bootstrap: false, host: false });
  await new Promise<void>((r) => stock.listen(0, '127.0.60.3', () => r()));
  stock.addNode({ host: '127.0.61.9', port: 6881, id: randomBytes(20) });

  const targets = [
    { name: 'bare UDP echo', host: '127.0.60.1', port: echo.address().port, runs: [] as LoadResult[] },
    { name: 'our DhtNode', host: '127.0.60.2', port: node.address().port, runs: [] as LoadResult[] },
    { name: 'stock bittorrent-dht', host: '127.0.60.3', port: stock.address().port, runs: [] as LoadResult[] },
  ];
  const before = mem();
  for (const t of targets) await runLoad(t.host, t.port, WARMUP_MS);
  const afterWarmup = mem();
  const perRound: Array<{ rss: number; heap: number }> = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of targets) t.runs.push(await runLoad(t.host, t.port));
    perRound.push(mem());
  }
  const after = mem();
  const [rEcho, rOurs, rStock] = targets.map((t) => line(t.name, t.runs)) as [number, number, number];

  const s = node.stats();
  console.log(
    `\nour node: answered ping ${fmtInt(s.responder.answered.ping)}, get_peers ${fmtInt(s.responder.answered.get_peers)};` +
      ` packets in ${fmtInt(s.socket.packetsIn)}, out ${fmtInt(s.socket.packetsOut)}, reply-budget drops ${fmtInt(s.socket.droppedReplyBudget)};` +
      ` seen-infohash set ${fmtInt(s.responder.seenInfohashes)} (bounded at 10,000)`,
  );
  const ratio = rOurs / rEcho;
  console.log(`ratio our node / echo: ${(ratio * 100).toFixed(1)} %  (target ≥ ${TARGET_RATIO * 100} %)  ${passMiss(ratio >= TARGET_RATIO)}`);
  console.log(`ratio stock / echo:    ${((rStock / rEcho) * 100).toFixed(1)} %`);
  console.log(
    `memory (this process, after GC): start rss ${fmtBytes(before.rss)} heap ${fmtBytes(before.heap)};` +
      ` after warm-up rss ${fmtBytes(afterWarmup.rss)} heap ${fmtBytes(afterWarmup.heap)};` +
      ` after ${ROUNDS} rounds (${fmtInt(s.responder.answered.ping + s.responder.answered.get_peers)} queries answered)` +
      ` rss ${fmtBytes(after.rss)} heap ${fmtBytes(after.heap)} (heap delta since warm-up ${fmtBytes(after.heap - afterWarmup.heap)})`,
  );
  console.log(`  after each round: ${perRound.map((m, i) => `#${i + 1} rss ${fmtBytes(m.rss)} heap ${fmtBytes(m.heap)}`).join('; ')}`);
  await node.stop();
  await new Promise<void>((r) => stock.destroy(() => r()));
  echo.close();
}
