/**
 * Cost of a Prometheus scrape while captures are recorded at 1,000/s: the real metrics registry
 * (createMetrics, with the dashboard's stream metrics) on its real listener, scraped over HTTP once
 * per second, while a writer stores 100 captures every 100 ms with the real store
 * (SqliteCaptureRepository.insertMany: captures, listings, dashboard rollups) and reports each to the
 * metrics observers (capture result, failure reason, duration; batch write latency). The stage
 * counters the scrape reads are large, realistic snapshots: 64 client families × 8 outcome reasons
 * (the cap), both transports, every DHT query type. Measured per scrape: CPU of the collection and
 * serialisation (process.cpuUsage around registry.metrics(), which runs without yielding to timers),
 * its wall time, and the HTTP scrape latency seen by the scraper.
 *
 *   nice -n 10 node --import tsx bench/metrics-scrape.ts        SECONDS=60 (default), RATE=1000
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DhtStats } from '../src/dht/dht-module.js';
import type { NewCapture } from '../src/model/capture.js';
import type { NotifyStatus, TargetStatus } from '../src/notify/types.js';
import { createDashboard } from '../src/ops/dashboard/dashboard-module.js';
import { createMetrics } from '../src/ops/metrics.js';
import { startMetricsServer } from '../src/ops/metrics-server.js';
import type { OpsSources } from '../src/ops/ports.js';
import { SqliteCaptureRepository } from '../src/store/capture-repository.js';
import { openDatabase } from '../src/store/open-database.js';
import { SqliteOpsRepository } from '../src/store/ops-repository.js';
import { silentLogger } from '../src/util/logger.js';
import { fmtBytes, fmtInt, fmtMs, header, percentile, Rng } from './lib.js';

const SECONDS = Number(process.env.SECONDS ?? 60);
const RATE = Number(process.env.RATE ?? 1000);
const TICK_MS = 100;
const REASONS = ['captured', 'encryption-required', 'choked-and-silent', 'connect-refused', 'connect-timeout', 'unreachable', 'handshake-timeout', 'reset-after-handshake'];
const ERRORS = ['connect timeout', 'connection refused', 'connection reset', 'handshake timeout', 'peer closed the connection', 'protocol: bad message', 'idle timeout'];

const target = (): TargetStatus => ({
  enabled: true, backlog: 120, oldestPendingAt: new Date(Date.now() - 4000).toISOString(), parked: 2, lastSuccessAt: null, lastError: null,
  delivered: 1e6, failed: 20, retried: 3, parkedSinceStart: 2, nextRetryAt: null, connected: true, details: {},
});

function sources(): OpsSources {
  const byClient: Record<string, Record<string, number>> = {};
  for (let i = 0; i < 64; i++) byClient[`Client${i}`] = Object.fromEntries(REASONS.map((r, j) => [r, 1000 * i + j]));
  const queries = { ping: 1e5, find_node: 2e6, get_peers: 5e6, announce_peer: 1e4, sample_infohashes: 3e5, other: 12 };
  const dht = {
    enabled: true, nodes: 4200, packetsIn: 9e7, packetsOut: 8e7, krpcPending: 300, krpcPendingHighWater: 900, droppedKrpcPending: 4,
    socket: {
      packetsIn: 9e7, packetsOut: 8e7, bytesIn: 9e9, bytesOut: 7e9, queriesReceived: 3e7, responsesReceived: 5e7, errorsReceived: 1e5,
      queriesSent: 6e7, repliesSent: 2.9e7, timeouts: 9e6, unexpectedReplies: 100, decodeErrors: 5, handlerErrors: 0, sendErrors: 0,
      perIpDelayed: 1e5, droppedQueueFull: 6e3, droppedQueueTimeout: 7e3, droppedReplyBudget: 8e3, droppedDestination: 20, droppedIpv6: 0,
      resolveFailures: 0, lastReplyAt: Date.now(), queued: 110, awaitingReply: 200, queueHighWater: 3000, queriesSentByType: queries,
    },
    responder: { answered: queries, errors: { protocol: 1, badToken: 0, unknownMethod: 2 }, announcesHarvested: 10, seenInfohashes: 3, storedPeers: 4 },
    lookups: { watched: 500, running: 20, urgentQueued: 1, sampledQueued: 130, started: 5e4, completed: 4e4, timedOut: 6e3, failed: 10, peersFound: 7e6, droppedUrgent: 0, droppedSampled: 3, watchedRefreshErrors: 0, invalid: 0 },
    samples: null, table: null, health: { bad: 120, wentBad: 5000, refused: 30000 },
    peersFound: { get_peers: 7e6, announce: 5e4, sample: 2e5, manual: 0 }, peersDuplicate: 9e5, onPeerErrors: 0,
    ipv6: { running: false, node: null }, peersFoundByFamily: { ipv4: 7e6, ipv6: 0 }, ipv4Lookups: { peers: 7e6 },
  } as unknown as DhtStats;
  const notify: NotifyStatus = { outbox: { pending: 240, parked: 4, maxRows: 1e6, overLimit: false }, amqp: target(), email: target() };
  return {
    dht: () => dht,
    capture: () => ({
      scheduler: { queued: 5000, running: 200, started: 1e7, completed: 1e7, failed: 2e6, droppedQueueFull: 1e4, timedOut: 2e5 },
      pipeline: { queued: 1e7, 'metadata-queued': 1e3, unwatched: 5e6, 'no-match': 5e5, recent: 8e6, 'bad-address': 10, 'not-dialable': 20, 'queue-full': 1e4, metadataFetched: 900, pcapFailed: 0 },
      store: { pending: 100, written: 1e7, batches: 1e5, failures: 0, refused: 0, state: 'ok', consecutiveFailures: 0, outages: 0, lastError: null, nextAttemptAt: 0 },
      outcomes: {
        total: 1e7, byReason: Object.fromEntries(REASONS.map((r, i) => [r, 1e6 + i])),
        byTransport: { tcp: { attempts: 9e6, captured: 7e6 }, 'tcp+mse': { attempts: 1e6, captured: 8e5 } },
        byClient, encryptedRetries: { tried: 1e6, captured: 8e5 },
      },
      peerValueTrust: { checked: 1e7, phantoms: 5e4, distrustedDrops: 7e3, nodesDistrusted: 10, nodesTracked: 9000 },
      memory: { limitBytes: 268_435_456, reservedBytes: 120_000_000, peakReservedBytes: 200_000_000, refusedCaptures: 13, refusedGrowths: 14 },
    }) as unknown as ReturnType<OpsSources['capture']>,
    notify: () => notify,
  };
}

async function main(): Promise<void> {
  header(`metrics scrape while recording ${fmtInt(RATE)} captures/s (${SECONDS} s)`);
  const dir = mkdtempSync(path.join(tmpdir(), 'cd-bench-metrics-'));
  const dbFile = path.join(dir, 'capture.db');
  const db = openDatabase(dbFile);
  const repo = new SqliteCaptureRepository(db);
  const ops = new SqliteOpsRepository(db);
  const src = sources();
  const metrics = createMetrics(src, ops, { main: () => 0, wal: () => 0 });
  createDashboard(
    { store: { series: () => [], counts: () => [], torrents: () => [] }, sources: src, keys: () => ({ authorize: () => ({ name: 'b', mayUseFilter: () => true }) }), watchedCount: () => 0, logger: silentLogger() },
    { enabled: true, tickMs: 5000, maxClients: 4, heartbeatMs: 15_000, sessionTtlMs: 3_600_000 },
  ).registerMetrics(metrics.registry);
  // Every route and status the API would have seen.
  for (const route of ['/capture/peers/all/', '/capture/filters/', '/capture/pcap/', '/torrents/state/', '/dashboard/api/summary', '/healthz', '/readyz']) {
    for (const status of [200, 400, 401, 404]) metrics.observe.apiRequest(route, 'GET', status, 3);
  }
  const registry = metrics.registry;
  const collect = registry.metrics.bind(registry);
  const cpuMs: number[] = [];
  const wallMs: number[] = [];
  registry.metrics = async () => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const text = await collect();
    wallMs.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuMs.push((c.user + c.system) / 1000);
    return text;
  };
  const server = await startMetricsServer(registry, { host: '127.0.0.1', port: 0 }, silentLogger());

  const rng = new Rng(3);
  const ihs = Array.from({ length: 500 }, () => rng.hex40());
  let recorded = 0;
  const perTick = Math.round((RATE * TICK_MS) / 1000);
  const writer = setInterval(() => {
    const now = Date.now();
    const batch: NewCapture[] = [];
    for (let i = 0; i < perTick; i++) {
      const c: NewCapture = { foundAt: now - rng.int(0, 2000), ip: `10.0.${rng.int(0, 255)}.${rng.int(1, 254)}`, port: rng.int(1024, 65535), infohash: rng.pick(ihs), filters: ['all'], countryCode: 'DE' };
      if (rng.chance(0.3)) c.error = rng.pick(ERRORS);
      else c.report = { date: now, totalPiecesInTorrent: 100, hasPieces: 50, hasTotal: false, clientName: `Client${rng.int(0, 63)}`, hostIdentifier: '' };
      batch.push(c);
    }
    const t0 = performance.now();
    repo.insertMany(batch, now);
    metrics.observe.dbWrite(batch.length, performance.now() - t0);
    for (const c of batch) metrics.observe.capture({ ok: c.report !== undefined, ...(c.error ? { error: c.error } : {}), durationMs: rng.int(50, 9000), metadataOnly: false });
    recorded += batch.length;
  }, TICK_MS);

  const httpMs: number[] = [];
  let bytes = 0;
  let lastText = '';
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    while (performance.now() - t0 < SECONDS * 1000) {
      await new Promise((r) => setTimeout(r, 1000));
      const s0 = performance.now();
      const res = await fetch(`${server.url}/metrics`);
      const text = await res.text();
      httpMs.push(performance.now() - s0);
      bytes = text.length;
      lastText = text;
      if (res.status !== 200) throw new Error(`scrape: HTTP ${res.status}`);
    }
  } finally {
    clearInterval(writer);
    await server.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const sort = (a: number[]): number[] => [...a].sort((x, y) => x - y);
  const [c, w, h] = [sort(cpuMs), sort(wallMs), sort(httpMs)];
  const series = lastText.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  console.log(`recorded ${fmtInt(recorded)} captures in ${elapsed.toFixed(1)} s (${fmtInt(recorded / elapsed)}/s); ${h.length} scrapes of ${fmtBytes(bytes)} (${fmtInt(series)} series)`);
  console.log(`per scrape: CPU p50 ${fmtMs(percentile(c, 50))}, p99 ${fmtMs(percentile(c, 99))}; collect+serialise wall p50 ${fmtMs(percentile(w, 50))}, p99 ${fmtMs(percentile(w, 99))}; HTTP scrape latency p50 ${fmtMs(percentile(h, 50))}, p99 ${fmtMs(percentile(h, 99))}, max ${fmtMs(h[h.length - 1] as number)}`);
  const total = (cpu.user + cpu.system) / 1000;
  const scrapes = c.reduce((a, b) => a + b, 0);
  console.log(`process CPU over the run: ${fmtInt(total)} ms (${((total / 1000 / elapsed) * 100).toFixed(1)}% of a core), of which scrapes ${fmtInt(scrapes)} ms (${((scrapes / total) * 100).toFixed(1)}%)`);
}

await main();
