/**
 * Captures per second with 1, 2 and 3 crawlers against one synthetic swarm (issue 14): how the
 * cluster scales, and why where it does not.
 *
 * For each crawler count N (CRAWLERS, default 1,2,3), from scratch: a fresh PostgreSQL database and
 * RabbitMQ prefix; one `ingest` role (the real daemon, `store.url: postgres://…`, host namespace,
 * no DHT); N crawlers (the real daemon, role crawler), each in its own network namespace (lo + a
 * veth to the host, no default route; test/integration/cluster/netns-crawler.ts) holding a copy of
 * the same swarm: a stock bittorrent-dht node on 127.0.0.2 and PEERS wire-protocol peers on
 * 127.1.x.y, all of one torrent — the same peers seen from N vantage points, as the work split
 * expects (each peer captured by one crawler). Each crawler reaches RabbitMQ through a TCP proxy
 * on its veth's host address (the broker listens on 127.0.0.1 only). The peers are announced to
 * the DHT node once every crawler has the shared filter, in one wave.
 *
 * Measured at the center (captures table, polled every 200 ms): captures/s from the first capture
 * to the last; time to all PEERS; peers captured twice (the work split's duplicates); per crawler:
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
    const ingest = startRole(ingestFile, 'ingest');
    cleanup.push(() => ingest.stop());
    await ingest.waitLine((l) => l.msg === 'ready', 120_000, 'the ingester ready');

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
            allowedPrivateRanges: ['127.0.0.0/8'], concurrency: CONCURRENCY, recaptureIntervalMs: 3_600_000, haveWindowMs: 300, pieceStateWaitMs: 1000,
            reverseDns: { enabled: false },
          },
          cluster: {
            nodeId: `crawler-${i}`, amqp: { url: brokerUrl(link.port, ns.hostIp), ...amqpCommon },
            forward: { batchSize: 500, pollIntervalMs: 50 },
            workSplit: { heartbeatIntervalMs: 500, claimHoldMs: 2000 },
          },
        }),
      );
      const proc = startCrawlerIn(ns.name, {
        configFile, adminSocket: path.join(dataDir, 'admin.sock'), infohash: torrent.infohash, info: torrent.info.toString('hex'),
        shared: peerIps, unique: [], sharedPort: PEER_PORT, uniquePort: PEER_PORT + 1, waveSize: WAVE, waveMs: WAVE_MS,
      });
      cleanup.push(() => proc.stop());
      crawlers.push(proc);
    }
    for (const p of crawlers) await p.waitLine((l) => l.event === 'ready', 180_000, 'a crawler ready');
    for (const p of crawlers) await p.waitLine((l) => l.event === 'announced', 180_000, 'a crawler announcing its swarm');
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
      // Done: every peer in, or nothing new for 15 s (with the queue drained), or the time limit.
      const depth = await queueDepth(clusterTopology(prefix).ingestQueue);
      if ((captured >= PEERS && now - stillSince > 3000 && depth === 0) || (now - stillSince > 15_000 && depth === 0) || now - started > TIMEOUT_S * 1000) break;
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
        mesh: { owned: mesh.owned, held: mesh.held, takenOver: mesh.takenOver, claimedElsewhere: mesh.claimedElsewhere, live: (mesh.liveCrawlers as unknown[] | undefined)?.length },
      });
    }
    const spanS = Math.max(0.2, (lastMs - firstMs) / 1000);
    return {
      crawlers: n, captured, distinct, firstMs: firstMs - started, lastMs: lastMs - started, ratePerS: captured / spanS, allInS, perCrawler,
      ingestCpuS: cpuSeconds(ingest.child.pid) - ingestCpu0,
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
  for (const c of r.perCrawler) console.log(`  ${JSON.stringify(c)}`);
}
console.log('\ncrawlers  captures/s  captures  distinct  duplicates');
for (const r of results) console.log(`${String(r.crawlers).padStart(8)}  ${fmtInt(r.ratePerS).padStart(10)}  ${fmtInt(r.captured).padStart(8)}  ${fmtInt(r.distinct).padStart(8)}  ${fmtInt(r.captured - r.distinct).padStart(10)}`);
