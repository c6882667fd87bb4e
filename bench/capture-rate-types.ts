/** Messages and shapes shared by bench/capture-rate.ts and its two child processes (types only). */

export interface SwarmSpec {
  infohash: string;
  pieceCount: number;
  /** Peers that have everything (have_all or a full bitfield). */
  seeders: number;
  /** Peers with half the torrent that send HAVEs afterwards. */
  partials: number;
  partialHaveIntervalMs: number;
  /** Seeders that require encryption (MSE/PE, RC4 only: a plain handshake is dropped), apart from `seeders`. */
  encryptedSeeders: number;
}

export interface SwarmPeer {
  ip: string;
  port: number;
  kind: 'seeder' | 'partial';
  /** Requires encryption (one of SwarmSpec.encryptedSeeders). */
  encrypted?: boolean;
}

export type SeederReport =
  | { type: 'ready'; peers: SwarmPeer[] }
  | { type: 'stats'; cpuUserUs: number; cpuSystemUs: number; accepted: number; rss: number };

export interface Scenario {
  label: string;
  concurrency: number;
  /** capture.haveWindowMs (daemon default 2000). */
  haveWindowMs: number;
  /** Fraction of partial peers offered (0: seeders only). */
  partialShare: number;
  /** Share of the rotation's seeders that require encryption (0: none, the plain seeders only). */
  encryptedShare?: number;
  /** The daemon's EncryptionMemory (default true); false: every capture a first contact. */
  memory?: boolean;
  durationMs: number;
  warmupMs: number;
}

export interface CapturerJob {
  type: 'run';
  scenario: Scenario;
  infohash: string;
  pieceCount: number;
  peers: SwarmPeer[];
  dbFile: string;
}

export interface CapturerResult {
  type: 'result';
  label: string;
  concurrency: number;
  haveWindowMs: number;
  partialShare: number;
  peersOffered: number;
  /** Distinct peers in the rotation. */
  swarm: number;
  wallMs: number;
  feedMs: number;
  captures: number;
  ok: number;
  failed: number;
  okSeeders: number;
  okPartials: number;
  overallPerS: number;
  steadyPerS: number;
  latencyMeanMs: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
  latencyP99Ms: number;
  seederP50Ms: number;
  partialP50Ms: number;
  peakRss: number;
  endRss: number;
  /** After setup and a full GC, before the first offer. */
  baselineRss: number;
  baselineHeapUsed: number;
  /** heapUsed after the run and a full GC (retained memory). */
  endHeapAfterGc: number;
  rssEachSecond: number[];
  /** At the end of the run, before the final GC; rssAnon/rssFile from /proc/self/status; db file + WAL. */
  endDetail: { heapTotal: number; heapUsed: number; external: number; arrayBuffers: number; rssAnon: number; rssFile: number; dbBytes: number };
  peakHeapUsed: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
  storeWritten: number;
  storeBatches: number;
  storeRefused: number;
  storeSinkMs: number;
  dbCaptures: number;
  dbReports: number;
  dbOutbox: number;
  queueFull: number;
  schedulerTimedOut: number;
  errors: Record<string, number>;
  /** Captures whose plain handshake was dropped and retried encrypted. */
  retries: number;
  /** The MSE DH pool: where the Diffie-Hellman work ran (its thread or inline). */
  dh: { pairsFromThread: number; pairsInline: number; secretsOnThread: number; secretsInline: number; threadFailures: number };
  pipeline: Record<string, number>;
}
