/**
 * Child process of bench/hostile-peers.ts: the measured daemon side. The capture pipeline as
 * src/main.ts assembles it (FilterRegistry → CapturePipeline → CaptureScheduler → capturePeer →
 * BatchWriter → SQLite, pcap files on) with the daemon's config defaults, plus the real HTTP API
 * on 127.0.0.1 (the parent measures its latency from outside). Samples RSS every 50 ms and the
 * event-loop delay (perf_hooks monitorEventLoopDelay, 10 ms resolution).
 *
 * Never run directly: it refuses to start outside the benchmark's network namespace.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { CapturePipeline } from '../src/capture/capture-pipeline.js';
import { CaptureScheduler } from '../src/capture/capture-scheduler.js';
import { CaptureMemoryBudget } from '../src/capture/memory-budget.js';
import { capturePeer, makePeerId } from '../src/capture/peer-capture.js';
import { configSchema } from '../src/config/config-schema.js';
import type { NewCapture } from '../src/model/capture.js';
import { PcapStore } from '../src/pcap/pcap-store.js';
import { AddressPolicy } from '../src/protocol/address-policy.js';
import { BatchWriter } from '../src/util/batch-writer.js';
import { silentLogger } from '../src/util/logger.js';
import { startApi } from '../test/helpers/api-fixture.js';
import type { BenchPeer, CapturerJob, CapturerResult } from './hostile-peers-types.js';
import { percentile } from './lib.js';

export const BENCH_KEY = 'hostile-bench-key-0123456789';

if (process.env.CAPTURE_BENCH_IN_NETNS !== '1' || typeof process.send !== 'function') {
  console.error('hostile-peers-capturer: run bench/hostile-peers.ts instead (this must run inside its network namespace)');
  process.exit(2);
}

function dirBytes(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        bytes += statSync(p).size;
        files++;
      }
    }
  };
  try {
    walk(dir);
  } catch {
    // no pcap written
  }
  return { bytes, files };
}

async function run(job: CapturerJob): Promise<CapturerResult> {
  const { scenario } = job;
  const infohashes = [...new Set([...scenario.hostile, ...scenario.honest].map((p) => p.infohash))];
  const filters = [{ name: 'bench', infohashes, storeTCPDumpFile: true, storeTCPDumpAttempt: true }];
  const api = await startApi({ apiKeys: [{ name: 'bench', key: BENCH_KEY }], filters, dbFile: path.join(job.dir, 'capture.db') });
  const config = configSchema.parse({ filters, capture: { recaptureIntervalMs: 0, allowedPrivateRanges: ['127.0.0.0/8'], reverseDns: { enabled: false } } });
  const cap = config.capture;
  const known = { state: 'known' as const, pieceCount: job.pieceCount };
  const unknown = { state: 'unknown' as const };
  const torrents = {
    get: (ih: string) => (ih === job.knownInfohash ? known : unknown),
    putMetadata: () => undefined,
    pendingInfohashes: () => [],
  };
  const writer = new BatchWriter<NewCapture>((batch) => api.repos.captures.insertMany(batch), { maxBatch: 500, maxDelayMs: 200, maxPending: 50_000 });
  const scheduler = new CaptureScheduler({
    concurrency: cap.concurrency,
    perIpConcurrency: cap.perIpConcurrency,
    queueSize: cap.queueSize,
    jobTimeoutMs: cap.totalTimeoutMs + cap.reverseDns.timeoutMs + 5_000,
  });
  const policy = new AddressPolicy(cap.allowedPrivateRanges);
  const pcapDir = path.join(job.dir, 'pcap');
  const pcap = new PcapStore({ dir: pcapDir, retentionDays: 30 });
  const peerId = makePeerId();
  // The daemon's defaults: capture.memoryBudgetBytes, pcap.maxBytesPerCapture.
  const memory = new CaptureMemoryBudget(cap.memoryBudgetBytes);
  const errors: Record<string, number> = {};
  const notes: Record<string, number> = {};
  const running = new Set<string>();
  const honestKeys = new Set(scenario.honest.map((p) => `${p.ip}:${p.port}`));
  const honestOfferedAt = new Map<string, number>();
  const honestDoneMs: number[] = [];
  let captures = 0;

  const pipeline = new CapturePipeline(
    {
      filters: api.registry,
      geo: () => ({}),
      torrents,
      dialable: (ip, port) => policy.isDialable(ip, port),
      capture: async (input, signal) => {
        const key = `${input.ip}:${input.port}`;
        running.add(key);
        try {
          const outcome = await capturePeer(
            input,
            {
              connectTimeoutMs: cap.connectTimeoutMs,
              handshakeTimeoutMs: cap.handshakeTimeoutMs,
              idleTimeoutMs: cap.idleTimeoutMs,
              totalTimeoutMs: cap.totalTimeoutMs,
              haveWindowMs: cap.haveWindowMs,
              pieceStateWaitMs: cap.pieceStateWaitMs,
              peerId,
            },
            signal,
          );
          captures++;
          if (!outcome.ok) errors[outcome.error] = (errors[outcome.error] ?? 0) + 1;
          const offered = honestOfferedAt.get(key);
          if (offered !== undefined && outcome.ok && outcome.hasTotal) honestDoneMs.push(performance.now() - offered);
          return outcome;
        } finally {
          running.delete(key);
        }
      },
      reverseDns: async () => '',
      pcap,
      store: (c) => {
        const note = c.report?.note?.replace(/\d+ bytes/g, 'N bytes');
        if (note !== undefined) notes[note] = (notes[note] ?? 0) + 1;
        return writer.add(c);
      },
      notifyTargets: () => [],
      scheduler,
      memory,
      logger: silentLogger(),
    },
    { recaptureIntervalMs: 0, maxRecordedBytes: config.pcap.maxBytesPerCapture },
  );

  const offer = (p: BenchPeer): void => {
    pipeline.offer({ ip: p.ip, port: p.port, infohash: p.infohash, foundAt: Date.now(), source: 'get_peers' });
  };

  (globalThis as { gc?: () => void }).gc?.();
  const baselineRss = process.memoryUsage.rss();
  let peakRss = baselineRss;
  const sampler = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss > peakRss) peakRss = rss;
  }, 50);
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  process.send?.({ type: 'started', apiUrl: api.url });

  const t0 = performance.now();
  for (const p of scenario.hostile) offer(p);
  let feeder: NodeJS.Timeout | undefined;
  if (scenario.floodMs > 0) {
    // Keep every flooder coming back: re-offer each one whose capture ended, at most once per 2 s
    // (the HAVE window: before the fix each flood capture lasted that long; after it a flood ends
    // in milliseconds, and re-dialling at once would measure a reconnect storm the daemon never
    // makes, its recapture interval being 6 h).
    const lastOffer = new Map<string, number>();
    feeder = setInterval(() => {
      const now = performance.now();
      if (now - t0 > scenario.floodMs) return;
      for (const p of scenario.hostile) {
        const key = `${p.ip}:${p.port}`;
        if (running.has(key) || now - (lastOffer.get(key) ?? -Infinity) < 2_000) continue;
        lastOffer.set(key, now);
        offer(p);
      }
    }, 100);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const p of scenario.honest) {
      honestOfferedAt.set(`${p.ip}:${p.port}`, performance.now());
      offer(p);
    }
    await new Promise((resolve) => setTimeout(resolve, scenario.floodMs - 1000));
    clearInterval(feeder);
  }
  await scheduler.idle();
  writer.close();
  const wallMs = performance.now() - t0;
  clearInterval(sampler);
  eld.disable();
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  const disk = dirBytes(pcapDir);
  await api.close();
  const sorted = Float64Array.from(honestDoneMs).sort();
  void honestKeys;
  return {
    type: 'result',
    label: scenario.label,
    wallMs,
    captures,
    errors,
    notes,
    honestOffered: scenario.honest.length,
    honestWithin30s: honestDoneMs.filter((ms) => ms <= 30_000).length,
    honestP50Ms: percentile(sorted, 50),
    peakRss,
    baselineRss,
    eventLoopMaxMs: eld.max / 1e6,
    eventLoopP99Ms: eld.percentile(99) / 1e6,
    pcapBytes: disk.bytes,
    pcapFiles: disk.files,
    pipeline: pipeline.stats(),
    memory: memory.stats() as unknown as Record<string, number>,
  };
}

process.once('message', (job: CapturerJob) => {
  run(job).then(
    (result) => process.send?.(result, () => process.exit(0)),
    (err: unknown) => {
      console.error('hostile-peers-capturer:', err);
      process.exit(1);
    },
  );
});
