/**
 * Child process of bench/capture-rate.ts: the measured capturer. The daemon's pipeline as
 * src/main.ts assembles it — FilterRegistry (SQLite overlay) → CapturePipeline.offer →
 * CaptureScheduler → capturePeer → ReverseDns (disabled) → BatchWriter → SqliteCaptureRepository
 * on a fresh SQLite file — fed with the swarm's peers in rotation for a fixed time, then drained.
 * Reports one CapturerResult over IPC. RSS is sampled every 100 ms in this process.
 *
 * Never run directly: it refuses to start outside the benchmark's network namespace.
 */
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { CapturePipeline } from '../src/capture/capture-pipeline.js';
import { CaptureScheduler } from '../src/capture/capture-scheduler.js';
import { EncryptionMemory, captureWithEncryption } from '../src/capture/encrypted-capture.js';
import { mseDhPool } from '../src/protocol/mse/mse-dh-pool.js';
import { capturePeer, makePeerId, type PeerCaptureOutcome } from '../src/capture/peer-capture.js';
import { ReverseDns } from '../src/capture/reverse-dns.js';
import { configSchema } from '../src/config/config-schema.js';
import { FilterRegistry } from '../src/filter/filter-registry.js';
import type { NewCapture } from '../src/model/capture.js';
import { AddressPolicy } from '../src/protocol/address-policy.js';
import { SqliteCaptureRepository } from '../src/store/capture-repository.js';
import { SqliteFilterOverlayRepository } from '../src/store/filter-overlay-repository.js';
import { openDatabase } from '../src/store/open-database.js';
import { BatchWriter } from '../src/util/batch-writer.js';
import { silentLogger } from '../src/util/logger.js';
import type { CapturerJob, CapturerResult, SwarmPeer } from './capture-rate-types.js';
import { percentile } from './lib.js';

/** Diagnostic: CAPTURE_RATE_SINK=noop drops batches instead of writing them (not a daemon figure). */
const NOOP_SINK = process.env.CAPTURE_RATE_SINK === 'noop';


/** Diagnostic: CAPTURE_RATE_LOCAL_ADDRESS=127.0.0.1 sets capture.localAddress (bind before connect). */
const LOCAL_ADDRESS = process.env.CAPTURE_RATE_LOCAL_ADDRESS || undefined;

/** Started with --expose-gc by the parent; a no-op otherwise. */
function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

if (process.env.CAPTURE_BENCH_IN_NETNS !== '1' || typeof process.send !== 'function') {
  console.error('capture-rate-capturer: run bench/capture-rate.ts instead (this must run inside its network namespace)');
  process.exit(2);
}

/**
 * The peers offered, in rotation: `share` of them partial, the rest seeders, interleaved; with
 * `encryptedShare`, that share of the seeders (the same count in all) are ones requiring encryption.
 */
function rotation(peers: readonly SwarmPeer[], share: number, encryptedShare = 0): SwarmPeer[] {
  const plain = peers.filter((p) => p.kind === 'seeder' && p.encrypted !== true);
  const encrypted = peers.filter((p) => p.encrypted === true);
  const wantEncrypted = Math.min(encrypted.length, Math.round(plain.length * encryptedShare));
  const seeders: SwarmPeer[] = [];
  const everyEnc = wantEncrypted > 0 ? plain.length / wantEncrypted : Infinity;
  for (let i = 0, e = 0, q = 0; i < plain.length; i++) {
    if (e < wantEncrypted && Math.floor((i + 1) / everyEnc) > e) seeders.push(encrypted[e++] as SwarmPeer);
    else seeders.push(plain[q++] as SwarmPeer);
  }
  const partials = peers.filter((p) => p.kind === 'partial');
  const wantPartials = share <= 0 ? 0 : Math.min(partials.length, Math.round((seeders.length * share) / (1 - share)));
  const out: SwarmPeer[] = [];
  const every = wantPartials > 0 ? (seeders.length + wantPartials) / wantPartials : Infinity;
  let s = 0;
  let p = 0;
  for (let i = 0; i < seeders.length + wantPartials; i++) {
    if (p < wantPartials && Math.floor((i + 1) / every) > p) out.push(partials[p++] as SwarmPeer);
    else out.push(seeders[s++] as SwarmPeer);
  }
  return out;
}

async function run(job: CapturerJob): Promise<CapturerResult> {
  const { scenario } = job;
  const config = configSchema.parse({
    filters: [{ name: 'bench', infohashes: [job.infohash], storeTCPDumpAttempt: true, notify: { amqp: true } }],
    capture: {
      concurrency: scenario.concurrency,
      haveWindowMs: scenario.haveWindowMs,
      // The 2,000-odd peers are offered again and again: let every offer through.
      recaptureIntervalMs: 0,
      allowedPrivateRanges: ['127.0.0.0/8'],
      reverseDns: { enabled: false },
    },
  });
  const cap = config.capture;

  for (const f of [job.dbFile, `${job.dbFile}-wal`, `${job.dbFile}-shm`]) rmSync(f, { force: true });
  const db = openDatabase(job.dbFile);
  const captures = new SqliteCaptureRepository(db);
  const overlay = new SqliteFilterOverlayRepository(db);
  const known = { state: 'known' as const, pieceCount: job.pieceCount };
  const unknown = { state: 'unknown' as const };
  const torrents = {
    get: (ih: string) => (ih === job.infohash ? known : unknown),
    putMetadata: () => undefined,
    pendingInfohashes: () => [],
  };
  const filters = new FilterRegistry({ overlay, torrents }, config.filters);
  let sinkMs = 0;
  const writer = new BatchWriter<NewCapture>(
    (batch) => {
      const t = performance.now();
      if (!NOOP_SINK) captures.insertMany(batch);
      sinkMs += performance.now() - t;
    },
    { maxBatch: 500, maxDelayMs: 200, maxPending: 50_000 },
  );
  const schedulerOptions = {
    concurrency: cap.concurrency,
    perIpConcurrency: cap.perIpConcurrency,
    queueSize: cap.queueSize,
    jobTimeoutMs: cap.totalTimeoutMs + cap.reverseDns.timeoutMs + 5_000,
  };
  const scheduler = new CaptureScheduler(schedulerOptions);
  const policy = new AddressPolicy(cap.allowedPrivateRanges);
  const reverseDns = new ReverseDns(cap.reverseDns);
  const peerId = makePeerId();
  const memory = scenario.memory === false ? undefined : new EncryptionMemory(cap.encryptionMemoryPeers);
  /** Captures whose first way (plain) was dropped and retried encrypted. */
  let retries = 0;

  // Per completed capture: when (ms since t0), how long, what.
  const doneAt: number[] = [];
  const latency: number[] = [];
  const seederLatency: number[] = [];
  const partialLatency: number[] = [];
  const errors: Record<string, number> = {};
  const kindOf = new Map(job.peers.map((p) => [`${p.ip}:${p.port}`, p.kind]));
  let okSeeders = 0;
  let okPartials = 0;
  let t0 = 0;

  const pipeline = new CapturePipeline(
    {
      filters,
      geo: () => ({}),
      torrents,
      dialable: (ip, port) => policy.isDialable(ip, port),
      capture: async (input, signal) => {
        const t = performance.now();
        // As capture-module wires it: capture.encryption (prefer-plain) and the daemon's memory.
        const outcome: PeerCaptureOutcome = await captureWithEncryption(
          input,
          cap.encryption,
          (i, s) =>
            capturePeer(
              i,
              {
                connectTimeoutMs: cap.connectTimeoutMs,
                handshakeTimeoutMs: cap.handshakeTimeoutMs,
                idleTimeoutMs: cap.idleTimeoutMs,
                totalTimeoutMs: cap.totalTimeoutMs,
                haveWindowMs: cap.haveWindowMs,
                peerId,
                ...(LOCAL_ADDRESS !== undefined ? { localAddress: LOCAL_ADDRESS } : {}),
              },
              s,
            ),
          signal,
          memory,
        );
        if ((outcome as { retried?: unknown }).retried !== undefined) retries++;
        const now = performance.now();
        doneAt.push(now - t0);
        latency.push(now - t);
        const kind = kindOf.get(`${input.ip}:${input.port}`);
        if (kind === 'partial') partialLatency.push(now - t);
        else seederLatency.push(now - t);
        if (outcome.ok) {
          if (kind === 'partial') okPartials++;
          else okSeeders++;
        } else {
          errors[outcome.error] = (errors[outcome.error] ?? 0) + 1;
        }
        return outcome;
      },
      reverseDns: (ip, signal) => reverseDns.lookup(ip, signal),
      store: (c) => writer.add(c),
      notifyTargets: (f) => (f.notify.amqp ? ['amqp'] : []),
      scheduler,
      logger: silentLogger(),
    },
    { recaptureIntervalMs: cap.recaptureIntervalMs },
  );

  const order = rotation(job.peers, scenario.partialShare, scenario.encryptedShare ?? 0);
  let next = 0;
  let offered = 0;

  // Baseline after imports, database and pipeline setup (a full GC first), then the 100 ms sampler.
  gc();
  const baseline = process.memoryUsage();
  let peakRss = baseline.rss;
  let peakHeap = baseline.heapUsed;
  const rssEachSecond: number[] = [];
  let nextSecond = performance.now() + 1000;
  const sampler = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss > peakRss) peakRss = rss;
    if (performance.now() >= nextSecond) {
      nextSecond += 1000;
      rssEachSecond.push(rss);
      const heap = process.memoryUsage().heapUsed;
      if (heap > peakHeap) peakHeap = heap;
    }
  }, 100);
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();

  // Keep the scheduler's queue topped up to twice the concurrency: the capturer is never starved
  // and never refuses (queue-full) — the figure is what the pipeline can do, not the feeder.
  const target = cap.concurrency * 2;
  const cpu0 = process.cpuUsage();
  t0 = performance.now();
  const feedOnce = (): void => {
    const room = target - scheduler.stats().queued;
    for (let i = 0; i < room; i++) {
      const p = order[next] as SwarmPeer;
      next = (next + 1) % order.length;
      pipeline.offer({ ip: p.ip, port: p.port, infohash: job.infohash, foundAt: Date.now(), source: 'get_peers' });
      offered++;
    }
  };
  feedOnce();
  const feeder = setInterval(feedOnce, 2);
  await new Promise((resolve) => setTimeout(resolve, scenario.durationMs));
  clearInterval(feeder);
  const feedMs = performance.now() - t0;
  await scheduler.idle();
  writer.close();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  eld.disable();
  const endMem = process.memoryUsage();
  const endRss = endMem.rss;
  peakRss = Math.max(peakRss, endRss);
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  const endDetail = {
    heapTotal: endMem.heapTotal,
    heapUsed: endMem.heapUsed,
    external: endMem.external,
    arrayBuffers: endMem.arrayBuffers,
    rssAnon: kib('RssAnon'),
    rssFile: kib('RssFile'),
    dbBytes: 0,
  };
  gc();
  const endHeapAfterGc = process.memoryUsage().heapUsed;

  const count = (sql: string): number => db.prepare(sql).pluck().get() as number;
  const dbCaptures = count('SELECT count(*) FROM captures');
  const dbReports = count('SELECT count(*) FROM captures WHERE report_at IS NOT NULL');
  const dbOutbox = count('SELECT count(*) FROM outbox');
  for (const f of [job.dbFile, `${job.dbFile}-wal`]) endDetail.dbBytes += existsSync(f) ? statSync(f).size : 0;
  db.close();
  for (const f of [job.dbFile, `${job.dbFile}-wal`, `${job.dbFile}-shm`]) rmSync(f, { force: true });

  const steadyEnd = scenario.durationMs;
  const steadyCount = doneAt.filter((t) => t >= scenario.warmupMs && t < steadyEnd).length;
  const sorted = (xs: number[]): Float64Array => Float64Array.from(xs).sort();
  const lat = sorted(latency);
  const stats = scheduler.stats();
  const w = writer.stats();
  return {
    type: 'result',
    label: scenario.label,
    concurrency: scenario.concurrency,
    haveWindowMs: scenario.haveWindowMs,
    partialShare: scenario.partialShare,
    peersOffered: offered,
    swarm: order.length,
    wallMs,
    feedMs,
    captures: latency.length,
    ok: pipeline.counters.captureOk,
    failed: pipeline.counters.captureFailed,
    okSeeders,
    okPartials,
    overallPerS: (latency.length * 1000) / wallMs,
    steadyPerS: (steadyCount * 1000) / (steadyEnd - scenario.warmupMs),
    latencyMeanMs: lat.reduce((a, b) => a + b, 0) / Math.max(1, lat.length),
    latencyP50Ms: percentile(lat, 50),
    latencyP95Ms: percentile(lat, 95),
    latencyP99Ms: percentile(lat, 99),
    seederP50Ms: percentile(sorted(seederLatency), 50),
    partialP50Ms: percentile(sorted(partialLatency), 50),
    peakRss,
    endRss,
    baselineRss: baseline.rss,
    baselineHeapUsed: baseline.heapUsed,
    endHeapAfterGc,
    rssEachSecond,
    endDetail,
    peakHeapUsed: peakHeap,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    eventLoopP99Ms: eld.percentile(99) / 1e6,
    eventLoopMaxMs: eld.max / 1e6,
    storeWritten: w.written,
    storeBatches: w.batches,
    storeRefused: w.refused,
    storeSinkMs: sinkMs,
    dbCaptures,
    dbReports,
    dbOutbox,
    queueFull: pipeline.counters['queue-full'],
    schedulerTimedOut: stats.timedOut,
    errors,
    retries,
    dh: mseDhPool.stats(),
    pipeline: pipeline.stats(),
  };
}

process.once('message', (job: CapturerJob) => {
  run(job).then(
    (result) => {
      process.send?.(result, () => process.exit(0));
    },
    (err: unknown) => {
      console.error('capture-rate-capturer:', err);
      process.exit(1);
    },
  );
});
