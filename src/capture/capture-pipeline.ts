import type { CompiledFilters } from '../filter/compiled-filters.js';
import type { EffectiveFilter } from '../filter/filter-registry.js';
import { parseIpBytes } from '../filter/ip-bytes.js';
import type { NewCapture, PeerGeo } from '../model/capture.js';
import type { DiscoveredPeer } from '../model/peer.js';
import { ConversationRecorder, DEFAULT_MAX_RECORDED_BYTES, MAX_RECORDED_EVENTS, holdsConversation, type Conversation } from '../pcap/conversation.js';
import { PCAP_WRITE_CHUNK } from '../pcap/pcap-file.js';
import type { TorrentMetadata } from '../protocol/metainfo.js';
import type { Logger } from '../util/logger.js';
import type { CaptureScheduler } from './capture-scheduler.js';
import { READER_BOUND_BYTES } from './frame-reader.js';
import type { CaptureMemoryBudget, MemoryReservation } from './memory-budget.js';
import type { PeerCaptureInput, PeerCaptureOutcome } from './peer-capture.js';
import { KnownPeers } from './known-peers.js';
import { RecentPeers } from './recent-peers.js';

/** Why a discovered peer was not captured (or that it was queued): the pipeline's counters. */
export type OfferResult =
  | 'queued'
  | 'metadata-queued'
  | 'unwatched'
  | 'no-match'
  | 'recent'
  | 'bad-address'
  | 'not-dialable'
  | 'queue-full'
  | 'store-paused';

/** A note on a report whose pcap left bytes out. */
export function pcapSkipNote(recorder: ConversationRecorder): string {
  return `pcap: ${recorder.skippedBytes} bytes after the first ${recorder.keptBytes} not recorded`;
}

/** The ports the pipeline needs; main.ts passes the real adapters, tests pass fakes. */
export interface CapturePipelineDeps {
  filters: { readonly compiled: CompiledFilters; get(name: string): EffectiveFilter | undefined };
  geo(ip: string): PeerGeo;
  torrents: {
    get(infohash: string): { state: 'unknown' | 'pending' | 'known'; pieceCount?: number };
    putMetadata(meta: TorrentMetadata, source: string): void;
    pendingInfohashes(): string[];
  };
  dialable(ip: string, port: number): { ok: true } | { ok: false; reason: string };
  capture(input: PeerCaptureInput, signal: AbortSignal): Promise<PeerCaptureOutcome>;
  reverseDns(ip: string, signal: AbortSignal): Promise<string>;
  pcap?: { write(conv: Conversation, meta: { infohash: string; ip: string; port: number; at: number }): Promise<string> };
  /** Stores one capture (batched, one transaction per batch with its outbox rows); false if refused. */
  store(capture: NewCapture): boolean;
  /** True while the store cannot write (disk full, database locked): no new captures start. */
  storePaused?(): boolean;
  /** Notification targets configured for a filter. */
  notifyTargets(filter: EffectiveFilter): Array<'amqp' | 'email'>;
  /** Metadata was fetched from a peer (BEP 9, verified) and stored. */
  onMetadata?(infohash: string): void;
  /** Every finished capture attempt (metrics: result, failure words, duration); must not throw. */
  onCaptureDone?(done: { ok: boolean; error?: string; durationMs: number; metadataOnly: boolean }): void;
  scheduler: CaptureScheduler;
  /** The daemon-wide memory budget of in-flight captures (none: unbounded, for tests). */
  memory?: CaptureMemoryBudget;
  logger: Logger;
}

export interface CapturePipelineOptions {
  recaptureIntervalMs: number;
  /** Concurrent metadata fetches per torrent whose metadata is still missing. */
  metadataFetchesPerTorrent?: number;
  /** Bytes of a conversation kept for its pcap (`pcap.maxBytesPerCapture`). */
  maxRecordedBytes?: number;
}

/** What one recorded event costs beyond its bytes (the event object and its array's header). */
const EVENT_OVERHEAD_BYTES = 128;

/** What a capture reserves from the memory budget before it connects: its reader, and with a pcap its recording and the writer's buffer. */
export function captureReservation(recording: boolean, maxRecordedBytes: number): number {
  return READER_BOUND_BYTES + (recording ? maxRecordedBytes + MAX_RECORDED_EVENTS * EVENT_OVERHEAD_BYTES + PCAP_WRITE_CHUNK : 0);
}

/**
 * Discovery → filters → capture → store. `offer` is called for every peer the DHT finds: it
 * de-duplicates, matches the compiled filters, and queues a bounded capture job. Peers of torrents
 * whose metadata is missing are also used to fetch it (BEP 9), matched or not. Metadata a capture
 * fetches is stored whenever the torrent was not known yet (a filter listing a bare infohash is
 * the common case), so later captures do not fetch it again. The last peers of each watched
 * torrent are remembered (KnownPeers), so metadata asked for later is fetched from them at once.
 */
export class CapturePipeline {
  private readonly recent: RecentPeers;
  private readonly pendingMetadata = new Set<string>();
  private readonly metadataInFlight = new Map<string, number>();
  private readonly known = new KnownPeers();
  /** Per torrent whose metadata is wanted: known peers already asked since it was wanted ("ip:port"). */
  private readonly metadataTried = new Map<string, Set<string>>();
  readonly counters: Record<
    OfferResult | 'stored' | 'storeRefused' | 'captureOk' | 'captureFailed' | 'metadataFetched' | 'metadataFromKnownPeers' | 'pcapFailed' | 'memoryRefused',
    number
  > = {
    queued: 0,
    'metadata-queued': 0,
    unwatched: 0,
    'no-match': 0,
    recent: 0,
    'bad-address': 0,
    'not-dialable': 0,
    'queue-full': 0,
    'store-paused': 0,
    stored: 0,
    storeRefused: 0,
    captureOk: 0,
    captureFailed: 0,
    metadataFetched: 0,
    metadataFromKnownPeers: 0,
    pcapFailed: 0,
    memoryRefused: 0,
  };

  constructor(
    private readonly deps: CapturePipelineDeps,
    private readonly options: CapturePipelineOptions,
  ) {
    this.recent = new RecentPeers(options.recaptureIntervalMs);
    for (const ih of deps.torrents.pendingInfohashes()) this.pendingMetadata.add(ih);
  }

  /**
   * A torrent whose metadata is wanted (added by infohash, again or for the first time): fetched
   * from the peers already seen (up to `metadataFetchesPerTorrent` at a time, the next one when a
   * fetch fails), and from every peer the DHT finds.
   */
  wantMetadata(infohash: string): void {
    if (this.deps.torrents.get(infohash).state === 'known') return;
    this.pendingMetadata.add(infohash);
    this.metadataTried.delete(infohash);
    this.fetchFromKnownPeers(infohash);
  }

  /** Infohashes whose metadata is still missing (the DHT looks them up too). */
  metadataWanted(): ReadonlySet<string> {
    return this.pendingMetadata;
  }

  offer(peer: DiscoveredPeer): OfferResult {
    const result = this.classify(peer);
    this.counters[result]++;
    return result;
  }

  private classify(peer: DiscoveredPeer): OfferResult {
    const compiled = this.deps.filters.compiled;
    const needsMetadata = this.pendingMetadata.has(peer.infohash);
    if (!compiled.wantsInfohash(peer.infohash) && !needsMetadata) return 'unwatched';
    const bytes = parseIpBytes(peer.ip);
    if (!bytes || peer.port < 1 || peer.port > 65535) return 'bad-address';
    this.known.add(peer.infohash, peer.ip, peer.port);
    const key = RecentPeers.key(peer.ip, peer.port, peer.infohash);
    const geo = this.deps.geo(peer.ip);
    const matched = compiled.match(peer.infohash, bytes, geo.countryCode);
    if (matched.length === 0 && !needsMetadata) return 'no-match';
    if (matched.length === 0) {
      // Only useful for its metadata: a bounded number of fetches per torrent at a time.
      const inFlight = this.metadataInFlight.get(peer.infohash) ?? 0;
      if (inFlight >= (this.options.metadataFetchesPerTorrent ?? 3)) return 'recent';
    }
    // Intake pauses while captures cannot be stored: they would only wait in memory.
    if (this.deps.storePaused?.()) return 'store-paused';
    if (!this.recent.admit(key, peer.foundAt)) return 'recent';
    const dial = this.deps.dialable(peer.ip, peer.port);
    if (!dial.ok) return 'not-dialable';
    // Counted before submit: the scheduler may run (and end) the job synchronously.
    if (matched.length === 0) this.metadataInFlight.set(peer.infohash, (this.metadataInFlight.get(peer.infohash) ?? 0) + 1);
    const accepted = this.deps.scheduler.submit({
      ip: peer.ip,
      run: (signal) => this.captureWithin(peer, geo, matched, signal, key),
    });
    if (!accepted) {
      this.recent.forget(key);
      if (matched.length === 0) this.metadataVisitDone(peer.infohash);
      return 'queue-full';
    }
    if (matched.length === 0) {
      this.triedFor(peer.infohash).add(`${peer.ip}:${peer.port}`);
      return 'metadata-queued';
    }
    return 'queued';
  }

  private triedFor(infohash: string): Set<string> {
    let tried = this.metadataTried.get(infohash);
    if (!tried) this.metadataTried.set(infohash, (tried = new Set()));
    return tried;
  }

  /** Metadata-only visits to known peers not yet asked, within the per-torrent limit. */
  private fetchFromKnownPeers(infohash: string): void {
    const limit = this.options.metadataFetchesPerTorrent ?? 3;
    for (const p of this.known.of(infohash)) {
      if (!this.pendingMetadata.has(infohash) || (this.metadataInFlight.get(infohash) ?? 0) >= limit) return;
      const key = `${p.ip}:${p.port}`;
      if (this.metadataTried.get(infohash)?.has(key) || !this.deps.dialable(p.ip, p.port).ok) continue;
      const visit: DiscoveredPeer = { ip: p.ip, port: p.port, infohash, foundAt: Date.now(), source: 'manual' };
      const geo = this.deps.geo(p.ip);
      const recentKey = RecentPeers.key(p.ip, p.port, infohash);
      // Counted before submit: the scheduler may run (and end) the job synchronously.
      this.metadataInFlight.set(infohash, (this.metadataInFlight.get(infohash) ?? 0) + 1);
      if (!this.deps.scheduler.submit({ ip: p.ip, run: (signal) => this.captureWithin(visit, geo, [], signal, recentKey) })) {
        this.metadataVisitDone(infohash);
        return;
      }
      this.triedFor(infohash).add(key);
      this.counters.metadataFromKnownPeers++;
    }
  }

  /** Stores metadata a capture fetched (verified against the infohash) unless the torrent is known by now. */
  private storeMetadata(infohash: string, metadata: TorrentMetadata): void {
    if (this.deps.torrents.get(infohash).state === 'known') return; // another capture was first
    this.deps.torrents.putMetadata(metadata, 'dht');
    this.pendingMetadata.delete(infohash);
    this.metadataTried.delete(infohash);
    this.known.forget(infohash);
    this.counters.metadataFetched++;
    this.deps.onMetadata?.(infohash);
  }

  /**
   * Runs the capture inside a reservation of the memory budget (held until its pcap is written and
   * it is stored); a capture the budget cannot hold is not started: counted, and the peer may be
   * offered again.
   */
  private async captureWithin(peer: DiscoveredPeer, geo: PeerGeo, matched: readonly string[], signal: AbortSignal, key: string): Promise<void> {
    const filters = matched.map((n) => this.deps.filters.get(n)).filter((f): f is EffectiveFilter => f !== undefined);
    const recording = this.deps.pcap !== undefined && filters.some((f) => f.storeTCPDumpFile);
    const maxRecorded = this.options.maxRecordedBytes ?? DEFAULT_MAX_RECORDED_BYTES;
    let reservation: MemoryReservation | undefined;
    if (this.deps.memory !== undefined) {
      reservation = this.deps.memory.reserve(captureReservation(recording, maxRecorded));
      if (reservation === undefined) {
        this.counters.memoryRefused++;
        this.recent.forget(key);
        if (matched.length === 0) this.metadataVisitDone(peer.infohash);
        return;
      }
    }
    try {
      await this.capture(peer, geo, matched, filters, recording ? maxRecorded : 0, reservation, signal);
    } finally {
      reservation?.release();
    }
  }

  private metadataVisitDone(infohash: string): void {
    const n = (this.metadataInFlight.get(infohash) ?? 1) - 1;
    if (n <= 0) this.metadataInFlight.delete(infohash);
    else this.metadataInFlight.set(infohash, n);
  }

  private async capture(
    peer: DiscoveredPeer,
    geo: PeerGeo,
    matched: readonly string[],
    filters: EffectiveFilter[],
    maxRecorded: number,
    reservation: MemoryReservation | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const torrent = this.deps.torrents.get(peer.infohash);
    const recorder = maxRecorded > 0 ? new ConversationRecorder({ ip: '0.0.0.0', port: 0 }, { ip: peer.ip, port: peer.port }, maxRecorded) : undefined;
    let outcome: PeerCaptureOutcome;
    try {
      outcome = await this.deps.capture(
        {
          ip: peer.ip,
          port: peer.port,
          infohash: peer.infohash,
          pieceCount: torrent.state === 'known' ? torrent.pieceCount : undefined,
          fetchMetadata: torrent.state !== 'known',
          recorder,
          ...(reservation !== undefined ? { memory: reservation } : {}),
        },
        signal,
      );
    } finally {
      if (matched.length === 0) this.metadataVisitDone(peer.infohash);
    }

    if (outcome.ok && outcome.metadata) this.storeMetadata(peer.infohash, outcome.metadata);
    else if (matched.length === 0) this.fetchFromKnownPeers(peer.infohash); // this peer had none: ask the next
    this.deps.onCaptureDone?.({
      ok: outcome.ok,
      ...(outcome.ok ? {} : { error: outcome.error }),
      durationMs: outcome.durationMs,
      metadataOnly: filters.length === 0,
    });
    if (filters.length === 0) return; // metadata-only visit

    if (outcome.ok) this.counters.captureOk++;
    else this.counters.captureFailed++;
    // Failed attempts are listed only under filters that keep them (storeTCPDumpAttempt).
    const listed = outcome.ok ? filters : filters.filter((f) => f.storeTCPDumpAttempt);
    if (listed.length === 0) return;

    const record: NewCapture = {
      foundAt: peer.foundAt,
      ip: peer.ip,
      port: peer.port,
      infohash: peer.infohash,
      ...geo,
      filters: listed.map((f) => f.name),
      notify: listed.flatMap((f) => this.deps.notifyTargets(f).map((target) => ({ filter: f.name, target }))),
    };
    const transport = (outcome as { transport?: unknown }).transport;
    if (transport === 'tcp' || transport === 'tcp+mse' || transport === 'utp') record.transport = transport;
    if (outcome.ok) {
      const hostIdentifier = await this.deps.reverseDns(peer.ip, signal).catch(() => '');
      const notes = [...(outcome.notes ?? [])];
      if (recorder?.truncated === true && listed.some((f) => f.storeTCPDumpFile)) notes.push(pcapSkipNote(recorder));
      record.report = {
        date: outcome.date,
        totalPiecesInTorrent: outcome.pieceCount ?? 0,
        hasPieces: outcome.hasPieces,
        // Never the "seeder" of an unknown number of pieces.
        hasTotal: outcome.hasTotal && (outcome.pieceCount ?? 0) > 0,
        clientName: outcome.clientName,
        hostIdentifier,
        ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
      };
    } else {
      record.error = outcome.error;
    }
    // A pcap only of a conversation: an attempt that exchanged no bytes (refused, timed out) gets none.
    if (recorder && this.deps.pcap && listed.some((f) => f.storeTCPDumpFile) && holdsConversation(recorder.conversation)) {
      try {
        record.pcapPath = await this.deps.pcap.write(recorder.conversation, {
          infohash: peer.infohash,
          ip: peer.ip,
          port: peer.port,
          at: peer.foundAt,
        });
      } catch (err) {
        this.counters.pcapFailed++;
        // The pcap store logs a failing disk once per state change; per capture only at debug.
        this.deps.logger.debug({ err, peer: `${peer.ip}:${peer.port}` }, 'could not write pcap');
      }
    }
    if (this.deps.store(record)) this.counters.stored++;
    else this.counters.storeRefused++;
  }

  stats(): Record<string, number> {
    return { ...this.counters, recentPeers: this.recent.size, metadataWanted: this.pendingMetadata.size, knownPeerTorrents: this.known.size };
  }
}
