/**
 * Captures per second with 1, 2 and 3 crawlers against one synthetic swarm (issue 14): how the
 * cluster scales, and why where it does not.
 *
 * For each crawler count N (CRAWLERS, default 1,2,3), from scratch: a fresh PostgreSQL database and
 * RabbitMQ prefix; one `ingest` role (the real daemon, `store.url: postgres://…`, host namespace,
 * no DHT), started once the crawlers see each other (it brings the filter: the shared configuration);
 * N crawlers (the real daemon, role crawler), each in its own network namespace (lo + a
 * veth to the host, no default route; test/integration/cluster/netns-crawler.ts) holding a copy of
 * the same swarm: a stock bittorrent-dht node on 127.0.0.2 and PEERS wire-protocol peers on
 * 127.1.x.y, all of one torrent — the same peers seen from N vantage points, as the work split
 * expects (each peer captured by one crawler). Each crawler reaches RabbitMQ through a TCP proxy
 * on its veth's host address (the broker listens on 127.0.0.1 only). The whole swarm is announced
 * before the daemons start, so the first lookup after the filter arrives finds every peer at once:
 * the figure is the crawlers' capture rate, not the announce rate.
 *
 * Measured at the center (captures table, polled every 200 ms): the first round (captures/s from
 * the first capture to the last, time to all PEERS); then the steady state over WINDOW_S, each peer
 * being due again every RECAPTURE_MS (capture.recaptureIntervalMs): captures/s, captures per peer
 * per interval (1.00 = each peer once per interval by one crawler; more = the work split's
 * duplicates; less = not keeping up), CPU of each crawler and of the ingester; per crawler:
 * peers found in the DHT, captured, held for another crawler's claim, skipped as claimed elsewhere,
 * CPU seconds (from /proc, the whole crawler process with its in-namespace swarm); the ingester's CPU.
 *
 *   PEERS=1500 CRAWLERS=1,2,3 TIMEOUT_S=180 node --import tsx bench/crawler-scale.ts   (root: ip netns)
 *
 * Network safety: the crawlers' DHT and BitTorrent traffic stays on 127.x inside their namespaces
 * (netns-crawler.ts refuses to start unless its namespace holds only lo and the veth, with no
 * default route); only AMQP crosses the veth, to the proxy on this machine.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clusterTopology } from '../src/cluster/topology.js';
import { adminRequest } from '../src/daemon/admin-client.js';
import { openPgPool } from '../src/store/pg/pg-pool.js';
import { BROKER, brokerUrl, deleteTopology, queueDepth, uniquePrefix } from '../test/integration/cluster/cluster-helpers.js';
import { canUseNetns, createNetns, startCrawlerIn, startRole, type Netns, type Proc } from '../test/integration/cluster/cluster-processes.js';
import { tempDir } from '../test/helpers/temp-dir.js';
import { startTcpProxy, type TcpProxy } from '../test/helpers/tcp-proxy.js';
import { makeTorrent } from '../test/helpers/torrent-fixture.js';
import { fmtInt, header } from './lib.js';
import { createBenchDb } from './pg-bench-db.js';

const PEERS = Number(process.env.PEERS ?? 1500);
const COUNTS = (process.env.CRAWLERS ?? '1,2,3').split(',').map(Number);
const TIMEOUT_S = Number(process.env.TIMEOUT_S ?? 180);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 200);
/** capture.recaptureIntervalMs: each peer is captured again (by one crawler) this often. */
const RECAPTURE_MS = Number(process.env.RECAPTURE_MS ?? 10_000);
/**
 * A steady-state window after the first round (0: none, the default). Recaptures need more than
 * RECAPTURE_MS: the DHT layer passes a found peer on once per 10 minutes (PeerDedupe), so a
 * window shorter than that sees none.
 */
const WINDOW_S = Number(process.env.WINDOW_S ?? 0);
const PEER_PORT = 7001;
/** Peers announced at once, and the pause between waves (300 one-shot announcers at once lost ~20 % of their announces under load). */
const WAVE = Number(process.env.WAVE ?? 50);
const WAVE_MS = Number(process.env.WAVE_MS ?? 100);
const KEY = 'crawler-scale-bench-key-0123456789';

const peerIps = Array.from({ length: PEERS }, (_, i) => `127.1.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`);
const json = (o: unknown): string => JSON.stringify(o, null, 1);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user + system) of a process and its children that have been waited for (/proc). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const x = f.slice(f.lastIndexOf(')') + 2).split(' ').map(Number);
    return ((x[11] ?? 0) + (x[12] ?? 0) + (x[13] ?? 0) + (x[14] ?? 0)) / 100;
  } catch {
    return NaN;
  }
}

/** The crawler's node process: `ip netns exec` execs it, so the pid is the same. */
const pidOf = (p: Proc): number | undefined => p.child.pid;

interface CrawlerStatus {
  capture?: { pipeline?: Record<string, number> };
  dht?: { stats?: Record<string, unknown> };
  cluster?: { mesh?: Record<string, unknown>; forward?: Record<string, number> };
}

function pick(o: Record<string, unknown> | undefined, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, o?.[k]]));
}

/** What says how the crawler found its peers: lookups, values received, distinct peers, dead table entries. */
function dhtBrief(d: Record<string, unknown> | undefined): Record<string, unknown> {
  const lookups = d?.lookups as Record<string, unknown> | undefined;
  const socket = d?.socket as Record<string, unknown> | undefined;
  return {
    tableNodes: d?.nodes, lookups: lookups?.started, valuesReceived: lookups?.peersFound, peersFound: d?.peersFound, duplicateValues: d?.peersDuplicate,
    queryTimeouts: socket?.timeouts, badNodes: (d?.health as Record<string, unknown> | undefined)?.bad,
  };
}

interface RunResult {
  crawlers: number;
  captured: number;
  distinct: number;
  firstMs: number;
  lastMs: number;
  ratePerS: number;
  allInS: number | null;
  perCrawler: Array<Record<string, unknown>>;
  ingestCpuS: number;
  steady?: { perS: number; perPeerPerInterval: number; crawlerCpu: number[]; ingestCpu: number; machineBusy: number } | undefined;
}

/** Jiffies busy and total across all CPUs (/proc/stat). */
function machineCpu(): { busy: number; total: number } {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

async function runOnce(n: number): Promise<RunResult> {
  const t = tempDir('crawler-scale-');
  const prefix = uniquePrefix();
  const db = await createBenchDb('bench_crawler_scale');
  const cleanup: Array<() => unknown> = [() => t.cleanup(), () => db.drop(), () => deleteTopology(prefix)];
  const torrent = makeTorrent({ pieceCount: 4 });
  const filters = [{ name: 'watch', infohashes: [torrent.infohash], storeTCPDumpFile: false, storeTCPDumpAttempt: false }];
  const amqpCommon = { prefix, connectTimeoutMs: 3000 };
  try {
    const ingestFile = path.join(t.dir, 'ingest.yaml');
    writeFileSync(
      ingestFile,
      json({
        role: 'ingest', dataDir: path.join(t.dir, 'ingest'), log: { level: 'info' },
        store: { url: db.url, poolSize: 4 },
        dht: { enabled: false }, metrics: { enabled: false }, retention: { enabled: false },
        http: { listen: { host: '127.0.0.1', port: 0 } }, apiKeys: [{ name: 'bench', key: KEY }], filters,
        cluster: { nodeId: 'ingest', amqp: { url: brokerUrl(), ...amqpCommon }, sharedConfig: { publishIntervalMs: 1000 } },
      }),
    );
    const subnet = 100 + Math.floor(Math.random() * 150);
    const crawlers: Proc[] = [];
    const sockets: string[] = [];
    for (let i = 1; i <= n; i++) {
      const ns: Netns = createNetns(i, subnet);
      cleanup.push(() => ns.remove());
      const link: TcpProxy = await startTcpProxy(BROKER, { host: ns.hostIp });
      cleanup.push(() => link.close());
      const dataDir = path.join(t.dir, `crawler-${i}`);
      sockets.push(path.join(dataDir, 'admin.sock'));
      const configFile = path.join(t.dir, `crawler-${i}.yaml`);
      writeFileSync(
        configFile,
        json({
          role: 'crawler', dataDir, log: { level: 'warn' }, metrics: { enabled: false },
          dht: { enabled: true, host: '127.0.0.1', port: 6881, bootstrap: ['127.0.0.2:6881'], lookupIntervalMs: 1000, minQueryIntervalPerIpMs: 0 },
          capture: {
            allowedPrivateRanges: ['127.0.0.0/8'], concurrency: CONCURRENCY, recaptureIntervalMs: RECAPTURE_MS, haveWindowMs: 300, pieceStateWaitMs: 1000,
            reverseDns: { enabled: false },
          },
          cluster: {
            nodeId: `crawler-${i}`, amqp: { url: brokerUrl(link.port, ns.hostIp), ...amqpCommon },
            forward: { batchSize: 500, pollIntervalMs: 50 },
            workSplit: { heartbeatIntervalMs: 2000, claimHoldMs: 2000 },
          },
        }),
      );
      const proc = startCrawlerIn(ns.name, {
        configFile, adminSocket: path.join(dataDir, 'admin.sock'), infohash: torrent.infohash, info: torrent.info.toString('hex'),
        shared: peerIps, unique: [], sharedPort: PEER_PORT, uniquePort: PEER_PORT + 1, waveSize: WAVE, waveMs: WAVE_MS, announceFirst: true,
      });
      cleanup.push(() => proc.stop());
      crawlers.push(proc);
    }
    for (const p of crawlers) await p.waitLine((l) => l.event === 'ready', 180_000, 'a crawler ready');
    // The crawlers know each other and have been connected longer than claimHoldMs before any of
    // them can look the torrent up (a peer found earlier is held, not owned: the work split's
    // start-up rule); the filter comes with the center's shared configuration, so the center
    // starts now and every crawler learns the torrent within a publish interval of the others.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const st = await Promise.all(sockets.map((sock) => adminRequest<CrawlerStatus>(sock, 'GET', '/status').catch(() => undefined)));
      if (st.every((x) => ((x?.cluster?.mesh?.liveCrawlers as unknown[] | undefined)?.length ?? 0) === n)) break;
      if (Date.now() > deadline) throw new Error('the crawlers did not see each other within 60 s');
      await sleep(250);
    }
    await sleep(5000);
    const ingest = startRole(ingestFile, 'ingest');
    cleanup.push(() => ingest.stop());
    await ingest.waitLine((l) => l.msg === 'ready', 120_000, 'the ingester ready');

    for (const p of crawlers) await p.waitLine((l) => l.event === 'configured', 180_000, 'a crawler with the shared filter');
    const cpu0 = crawlers.map((p) => cpuSeconds(pidOf(p)));
    const ingestCpu0 = cpuSeconds(ingest.child.pid);

    const pool = await openPgPool(db.url, { max: 1 });
    cleanup.push(() => pool.end());
    const started = Date.now();
    let firstMs = 0;
    let lastMs = 0;
    let captured = 0;
    let allInS: number | null = null;
    let stillSince = Date.now();
    for (;;) {
      await sleep(200);
      const c = Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM captures')).rows[0]?.n ?? 0);
      const now = Date.now();
      if (c > 0 && firstMs === 0) firstMs = now;
      if (c > captured) {
        captured = c;
        lastMs = now;
        stillSince = now;
      }
      if (allInS === null && captured >= PEERS) allInS = (now - started) / 1000;
      // First round done: every peer in, or nothing new for 15 s, or the time limit.
      if (captured >= PEERS || now - stillSince > 15_000 || now - started > TIMEOUT_S * 1000) break;
    }
    // Steady state: every peer is due again each RECAPTURE_MS; captures arriving at the center over
    // WINDOW_S, and the CPU the crawlers and the ingester used meanwhile.
    const countNow = async (): Promise<number> => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM captures')).rows[0]?.n ?? 0);
    const steady = WINDOW_S > 0 ? await measureSteady() : undefined;
    async function measureSteady(): Promise<RunResult['steady'] & object> {
    await sleep(2000);
    const w0 = { at: Date.now(), n: await countNow(), cpu: crawlers.map((p) => cpuSeconds(pidOf(p))), ingest: cpuSeconds(ingest.child.pid), machine: machineCpu() };
    await sleep(WINDOW_S * 1000);
    const w1 = { at: Date.now(), n: await countNow(), cpu: crawlers.map((p) => cpuSeconds(pidOf(p))), ingest: cpuSeconds(ingest.child.pid), machine: machineCpu() };
    const windowS = (w1.at - w0.at) / 1000;
    return {
      perS: (w1.n - w0.n) / windowS,
      perPeerPerInterval: (w1.n - w0.n) / PEERS / (windowS / (RECAPTURE_MS / 1000)),
      crawlerCpu: w1.cpu.map((c, i) => (c - (w0.cpu[i] as number)) / windowS),
      ingestCpu: (w1.ingest - w0.ingest) / windowS,
      machineBusy: (w1.machine.busy - w0.machine.busy) / (w1.machine.total - w0.machine.total),
    };
    }
    for (;;) {
      const depth = await queueDepth(clusterTopology(prefix).ingestQueue);
      if (depth === 0) break;
      await sleep(200);
    }
    const distinct = Number((await pool.query<{ n: string }>('SELECT count(DISTINCT (ip, port)) AS n FROM captures')).rows[0]?.n ?? 0);
    const perCrawlerRows = await pool.query<{ crawler_id: string; n: string; first: string; last: string }>(
      'SELECT crawler_id, count(*) AS n, min(found_at) AS first, max(found_at) AS last FROM captures GROUP BY crawler_id ORDER BY crawler_id',
    );
    const perCrawler: Array<Record<string, unknown>> = [];
    for (let i = 0; i < n; i++) {
      const s = await adminRequest<CrawlerStatus>(sockets[i] as string, 'GET', '/status').catch((e: unknown) => ({ error: String(e) }) as CrawlerStatus);
      const mesh = s.cluster?.mesh ?? {};
      const row = perCrawlerRows.rows.find((r) => r.crawler_id === `crawler-${i + 1}`);
      perCrawler.push({
        crawler: i + 1,
        centerCaptures: Number(row?.n ?? 0),
        cpuS: Number((cpuSeconds(pidOf(crawlers[i] as Proc)) - (cpu0[i] as number)).toFixed(1)),
        pipeline: pick(s.capture?.pipeline, ['queued', 'recent', 'queue-full', 'captureOk', 'captureFailed', 'stored']),
        dht: dhtBrief(s.dht?.stats),
        mesh: { owned: mesh.owned, held: mesh.held, heldViewChanging: mesh.heldViewChanging, takenOver: mesh.takenOver, claimedElsewhere: mesh.claimedElsewhere, live: (mesh.liveCrawlers as unknown[] | undefined)?.length },
      });
    }
    const spanS = Math.max(0.2, (lastMs - firstMs) / 1000);
    return {
      crawlers: n, captured, distinct, firstMs: firstMs - started, lastMs: lastMs - started, ratePerS: captured / spanS, allInS, perCrawler,
      ingestCpuS: cpuSeconds(ingest.child.pid) - ingestCpu0, steady,
    };
  } finally {
    while (cleanup.length) {
      try {
        await cleanup.pop()?.();
      } catch (err) {
        console.warn('cleanup:', err);
      }
    }
  }
}

const reason = canUseNetns();
if (reason) {
  console.log(`crawler-scale: cannot run here (${reason})`);
  process.exit(0);
}
header(`crawler-scale: ${fmtInt(PEERS)} peers of one torrent, crawlers ${COUNTS.join(', ')} (capture.concurrency ${CONCURRENCY}), ${os.cpus().length} cores`);
const results: RunResult[] = [];
for (const n of COUNTS) {
  const load0 = os.loadavg()[0] as number;
  const r = await runOnce(n);
  results.push(r);
  console.log(`\n${n} crawler(s) (load ${load0.toFixed(1)} -> ${(os.loadavg()[0] as number).toFixed(1)}): ${fmtInt(r.captured)} captures of ${fmtInt(r.distinct)} distinct peers (${fmtInt(PEERS)} in the swarm), first after ${(r.firstMs / 1000).toFixed(1)} s, last after ${(r.lastMs / 1000).toFixed(1)} s: ${fmtInt(r.ratePerS)} captures/s; all in ${r.allInS === null ? 'never' : `${r.allInS.toFixed(1)} s`}; ingester CPU ${r.ingestCpuS.toFixed(1)} s`);
  const st = r.steady;
  if (st) console.log(`  steady state over ${WINDOW_S} s (each peer due every ${RECAPTURE_MS / 1000} s): ${fmtInt(st.perS)} captures/s at the center, ${st.perPeerPerInterval.toFixed(2)} captures per peer per interval (1 = each once), crawler CPU ${st.crawlerCpu.map((c) => `${(c * 100).toFixed(0)}%`).join(' + ')} of a core, ingester ${(st.ingestCpu * 100).toFixed(0)}%, machine ${(st.machineBusy * 100).toFixed(0)}% busy`);
  for (const c of r.perCrawler) console.log(`  ${JSON.stringify(c)}`);
}
console.log('\ncrawlers  captures/s  all in    captures  distinct  duplicates  crawler CPU-s  ingester CPU-s');
for (const r of results) {
  const cpu = r.perCrawler.reduce((a, c) => a + Number(c.cpuS), 0);
  console.log(
    `${String(r.crawlers).padStart(8)}  ${fmtInt(r.ratePerS).padStart(10)}  ${(r.allInS === null ? 'never' : `${r.allInS.toFixed(1)} s`).padStart(7)}  ${fmtInt(r.captured).padStart(8)}  ${fmtInt(r.distinct).padStart(8)}  ${fmtInt(r.captured - r.distinct).padStart(10)}  ${cpu.toFixed(1).padStart(13)}  ${r.ingestCpuS.toFixed(1).padStart(14)}`,
  );
}
