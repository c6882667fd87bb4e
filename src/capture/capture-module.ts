import { isIPv6 } from 'node:net';
import path from 'node:path';
import type { ResolvedConfig } from '../config/load-config.js';
import type { NewCapture } from '../model/capture.js';
import type { DiscoveredPeer } from '../model/peer.js';
import { PcapStore, removeTemporaryPcaps } from '../pcap/pcap-store.js';
import { RecentCaptureCounter } from '../store/recent-capture-counter.js';
import { BatchWriter, type BatchWriterOptions, type BatchWriterStats } from '../util/batch-writer.js';
import type { Logger } from '../util/logger.js';
import { CapturePipeline, type CapturePipelineDeps, type OfferResult } from './capture-pipeline.js';
import { CaptureScheduler, type CaptureSchedulerStats } from './capture-scheduler.js';
import { CaptureOutcomes } from './capture-outcomes.js';
import { PcapRetention } from './pcap-retention.js';
import { EncryptionMemory, captureWithEncryption } from './encrypted-capture.js';
import { captureWithTransport } from './transport-capture.js';
import { loadUtp, utpDial } from './utp-socket.js';
import { PeerValueTrust } from './peer-value-trust.js';
import { CaptureMemoryBudget, type MemoryBudgetStats } from './memory-budget.js';
import { capturePeer, makePeerId, type PeerCaptureInput, type PeerCaptureOutcome } from './peer-capture.js';
import { ReverseDns } from './reverse-dns.js';

/**
 * Capture as the composition root sees it: the pipeline (filters → bounded scheduler → capture of
 * one peer → reverse DNS → pcap) and the batched store writer (one transaction per batch, capture
 * and outbox rows together), with pcap retention.
 */
export interface CaptureModuleDeps {
  filters: CapturePipelineDeps['filters'];
  geo: CapturePipelineDeps['geo'];
  torrents: CapturePipelineDeps['torrents'];
  /** Where captures are written (SqliteCaptureRepository). */
  captures: {
    insertMany(batch: NewCapture[]): void;
    countPerMinuteSince(since: number): Iterable<readonly [number, number]>;
    forgetPcapsFoundBefore(cutoff: number, limit: number): number;
  };
  /** Notification targets of a filter, and a nudge after each stored batch. */
  notify: { targetsOf: CapturePipelineDeps['notifyTargets']; wake(): void };
  dialable: CapturePipelineDeps['dialable'];
  /** The write turn shared with the BTN write thread (store/write-turn.ts: writeTurnOf(db)). */
  writeTurn?: BatchWriterOptions['turn'];
  /** Metrics of each finished capture and each batched write (the ops module's observers). */
  observe?: {
    capture: NonNullable<CapturePipelineDeps['onCaptureDone']>;
    dbWrite(rows: number, durationMs: number): void;
  };
  logger: Logger;
}

export interface CaptureStats {
  scheduler: CaptureSchedulerStats;
  pipeline: Record<string, number>;
  reverseDns: ReturnType<ReverseDns['stats']>;
  store: BatchWriterStats;
  outcomes: ReturnType<CaptureOutcomes['snapshot']>;
  peerValueTrust: ReturnType<PeerValueTrust['stats']>;
  /** The memory budget of in-flight captures: limit, reserved, peak, refusals. */
  memory: MemoryBudgetStats;
}

/** Beside the database: the peers (ip:port) that required or refused encryption in the last 24 h (EncryptionMemory). */
export const ENCRYPTION_MEMORY_FILE = 'encryption-memory.json';

export interface CaptureModuleOptions {
  capture: ResolvedConfig['capture'];
  pcap: ResolvedConfig['pcap'];
  /** At stop, how long running captures may take to finish before they are aborted (default 0: abort at once). */
  drainTimeoutMs?: number;
  /**
   * Directory of the database file: a failing store names it and probes it (read-only? full?);
   * the peers that required or refused encryption are kept there across restarts (ENCRYPTION_MEMORY_FILE).
   */
  databaseDir?: string;
}

export interface CaptureModule {
  /** Offers a discovered peer (from the DHT). */
  offer(peer: DiscoveredPeer): OfferResult | 'phantom' | 'distrusted-node';
  /** A torrent's metadata is wanted (added by bare infohash). */
  wantMetadata(infohash: string): void;
  metadataWanted(): ReadonlySet<string>;
  capturesLastHour(): number;
  queues(): { captureQueue: number; capturesRunning: number; storeBatch: number; metadataWanted: number };
  stats(): CaptureStats;
  /** Whether captures and pcaps can be written now (state, failures, last error). */
  storage(): { captures: BatchWriterStats; pcap: ReturnType<PcapStore['stats']> };
  start(): void;
  stop(): Promise<void>;
}

export function createCaptureModule(deps: CaptureModuleDeps, options: CaptureModuleOptions): CaptureModule {
  const cap = options.capture;
  const log = deps.logger.child({ component: 'capture' });
  const recentCaptures = new RecentCaptureCounter(deps.captures.countPerMinuteSince(Date.now() - 3_600_000));
  const writer = new BatchWriter<NewCapture>(
    (batch) => {
      const t0 = performance.now();
      deps.captures.insertMany(batch);
      deps.observe?.dbWrite(batch.length, performance.now() - t0);
      for (const c of batch) recentCaptures.add(c.foundAt);
      deps.notify.wake();
    },
    // A failing store (disk full, database locked) retries after 1 s, 2 s, … 30 s; intake pauses.
    // While the BTN write thread writes (the turn), a flush waits for it instead: not a failure.
    {
      maxBatch: 500, maxDelayMs: 200, maxPending: 50_000, retryDelayMs: 1000, maxRetryDelayMs: 30_000, name: 'capture store',
      ...(deps.writeTurn ? { turn: deps.writeTurn } : {}),
      ...(options.databaseDir !== undefined ? { dir: options.databaseDir } : {}),
    },
    deps.logger.child({ component: 'store' }),
  );
  const scheduler = new CaptureScheduler(
    {
      concurrency: cap.concurrency,
      perIpConcurrency: cap.perIpConcurrency,
      queueSize: cap.queueSize,
      jobTimeoutMs: cap.totalTimeoutMs + cap.reverseDns.timeoutMs + 5_000,
    },
    (err) => log.warn({ err }, 'capture job failed'),
  );
  const reverseDns = new ReverseDns(cap.reverseDns);
  const pcap = options.pcap;
  const pcapStore = new PcapStore({ dir: pcap.dir, retentionDays: pcap.retentionDays || 36_500, logger: log });
  const retention = new PcapRetention({ captures: deps.captures, files: pcapStore }, { retentionDays: pcap.retentionDays });
  const peerId = makePeerId();
  const outcomes = new CaptureOutcomes();
  // Peers that required or refused encryption, kept across restarts beside the database (written at stop).
  const encryptionMemory = new EncryptionMemory(cap.encryptionMemoryPeers);
  const encryptionMemoryFile = options.databaseDir !== undefined ? path.join(options.databaseDir, ENCRYPTION_MEMORY_FILE) : undefined;
  // uTP (BEP 29) after TCP for peers that do not take TCP (capture.utp: fallback).
  const utp = cap.utp === 'off' ? undefined : utpDial();
  if (cap.utp !== 'off' && utp === undefined) log.warn({ reason: loadUtp().error }, 'capture.utp is on but uTP is not available: TCP only');
  // Suspicious DHT values (byte-swapped ports, nodes whose every value fails): checked before the
  // filters; each queued value's node learns how its capture went.
  const trust = new PeerValueTrust();
  const viaOf = new Map<string, string>();
  const MAX_VIA = 100_000;
  const memory = new CaptureMemoryBudget(cap.memoryBudgetBytes);
  const pipeline = new CapturePipeline(
    {
      filters: deps.filters,
      geo: deps.geo,
      torrents: deps.torrents,
      dialable: deps.dialable,
      capture: async (input, signal) => {
        const once = (attempt: PeerCaptureInput, s: AbortSignal): Promise<PeerCaptureOutcome> =>
          capturePeer(
            attempt,
            {
              connectTimeoutMs: cap.connectTimeoutMs,
              handshakeTimeoutMs: cap.handshakeTimeoutMs,
              idleTimeoutMs: cap.idleTimeoutMs,
              totalTimeoutMs: cap.totalTimeoutMs,
              haveWindowMs: cap.haveWindowMs,
              pieceStateWaitMs: cap.pieceStateWaitMs,
              peerId,
              ...localAddressFor(attempt.ip, cap),
            },
            s,
          );
        const outcome = await captureWithTransport(input, cap.utp, (i, s) => captureWithEncryption(i, cap.encryption, once, s, encryptionMemory), once, utp, signal);
        outcomes.add(outcome);
        const key = `${input.infohash}|${input.ip}|${input.port}`;
        const via = viaOf.get(key);
        if (via !== undefined) {
          viaOf.delete(key);
          trust.outcome({ ip: input.ip, port: input.port, infohash: input.infohash, via }, outcome.ok);
        } else if (outcome.ok) {
          trust.outcome({ ip: input.ip, port: input.port, infohash: input.infohash }, true);
        }
        return outcome;
      },
      reverseDns: (ip, signal) => reverseDns.lookup(ip, signal),
      pcap: pcapStore,
      store: (c) => writer.add(c),
      storePaused: () => !writer.accepting(),
      notifyTargets: (f) => deps.notify.targetsOf(f),
      onMetadata: (ih) => log.info({ infoHash: ih }, 'metadata fetched from peers'),
      ...(deps.observe ? { onCaptureDone: deps.observe.capture } : {}),
      scheduler,
      memory,
      logger: log,
    },
    { recaptureIntervalMs: cap.recaptureIntervalMs, maxRecordedBytes: pcap.maxBytesPerCapture },
  );
  let pcapPrune: NodeJS.Timeout | undefined;

  return {
    offer: (peer) => {
      const decision = trust.check(peer);
      if (decision !== 'ok') return decision;
      const result = pipeline.offer(peer);
      if (peer.via !== undefined && (result === 'queued' || result === 'metadata-queued')) {
        if (viaOf.size >= MAX_VIA) viaOf.delete(viaOf.keys().next().value as string);
        viaOf.set(`${peer.infohash}|${peer.ip}|${peer.port}`, peer.via);
      }
      return result;
    },
    wantMetadata: (ih) => pipeline.wantMetadata(ih),
    metadataWanted: () => pipeline.metadataWanted(),
    capturesLastHour: () => recentCaptures.lastHour(),
    queues: () => ({
      captureQueue: scheduler.stats().queued,
      capturesRunning: scheduler.stats().running,
      storeBatch: writer.stats().pending,
      metadataWanted: pipeline.metadataWanted().size,
    }),
    stats: () => ({
      scheduler: scheduler.stats(),
      pipeline: pipeline.stats(),
      memory: memory.stats(),
      reverseDns: reverseDns.stats(),
      store: writer.stats(),
      outcomes: { ...outcomes.snapshot(), peersRequiringEncryption: encryptionMemory.count('encrypted'), peersRefusingEncryption: encryptionMemory.count('plain'), encryptionMemoryCapacity: encryptionMemory.capacity },
      peerValueTrust: trust.stats(),
    }),
    storage: () => ({ captures: writer.stats(), pcap: pcapStore.stats() }),
    start() {
      if (encryptionMemoryFile !== undefined) {
        try {
          const loaded = encryptionMemory.load(encryptionMemoryFile);
          if (loaded > 0) {
            const [encrypted, plain] = [encryptionMemory.count('encrypted'), encryptionMemory.count('plain')];
            log.info({ peers: loaded, requiringEncryption: encrypted, refusingEncryption: plain, file: encryptionMemoryFile }, 'peers remembered from the last run with the way they took (encrypted or plain)');
          }
        } catch (err) {
          log.warn({ err, file: encryptionMemoryFile }, 'remembered peers (encryption required or refused) not restored (file unreadable): they are learned again');
        }
      }
      // Writes a crash interrupted: removed in the background (only files older than this start).
      const startedAt = Date.now();
      void removeTemporaryPcaps(pcapStore.dir, startedAt).then(
        (n) => n > 0 && log.info({ deleted: n, dir: pcapStore.dir }, 'removed leftover .pcap.tmp files'),
        (err: unknown) => log.warn({ err }, 'could not clean leftover .pcap.tmp files'),
      );
      pcapPrune = setInterval(() => {
        if (pcap.retentionDays > 0) void retention.run().catch((err: unknown) => log.warn({ err }, 'pcap prune failed'));
      }, 3_600_000);
      pcapPrune.unref();
    },
    async stop() {
      clearInterval(pcapPrune);
      // Graceful: running captures finish (bounded), their results are written, then the batch is flushed.
      const t0 = Date.now();
      const drained = await scheduler.drain(options.drainTimeoutMs ?? 0);
      reverseDns.close();
      if (encryptionMemoryFile !== undefined) {
        try {
          encryptionMemory.save(encryptionMemoryFile);
        } catch (err) {
          log.warn({ err, file: encryptionMemoryFile }, 'remembered peers (encryption required or refused) not saved');
        }
      }
      if (!writer.close()) {
        // The store still fails (read-only or full disk): say how many captures go with the process.
        const w = writer.stats();
        log.error({ lost: w.pending, reason: w.lastError ?? 'store failing' }, 'captures could not be written before stopping and are lost');
      }
      log.info({ ...drained, stored: writer.stats().written, durationMs: Date.now() - t0 }, 'capture stopped');
    },
  };
}

/** The configured source address of the peer's family: localAddress (IPv4 or IPv6) or localAddress6. */
export function localAddressFor(ip: string, cap: { localAddress?: string | undefined; localAddress6?: string | undefined }): { localAddress?: string } {
  const v6 = isIPv6(ip);
  if (v6 && cap.localAddress6) return { localAddress: cap.localAddress6 };
  if (cap.localAddress && isIPv6(cap.localAddress) === v6) return { localAddress: cap.localAddress };
  return {};
}
