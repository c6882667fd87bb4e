/** Messages shared by bench/hostile-peers.ts and its two child processes (types only). */
import type { HostileMode } from '../test/helpers/hostile-peer.js';

export interface BenchPeer {
  ip: string;
  port: number;
  infohash: string;
  kind: HostileMode | 'honest';
}

export type SwarmMessage =
  | { type: 'ready'; peers: BenchPeer[]; knownInfohash: string; unknownInfohash: string; pieceCount: number }
  | { type: 'stats'; cpuMs: number; rss: number };

export interface Scenario {
  label: string;
  /** Hostile peers offered (each on its own address). */
  hostile: BenchPeer[];
  /** Honest seeders offered 1 s into the run (mixed scenarios). */
  honest: BenchPeer[];
  /** Mixed scenarios: keep every hostile peer under capture for this long (re-offered as each capture ends). */
  floodMs: number;
}

export interface CapturerJob {
  type: 'run';
  scenario: Scenario;
  knownInfohash: string;
  pieceCount: number;
  dir: string;
}

export interface CapturerResult {
  type: 'result';
  label: string;
  wallMs: number;
  captures: number;
  errors: Record<string, number>;
  notes: Record<string, number>;
  honestOffered: number;
  honestWithin30s: number;
  honestP50Ms: number;
  peakRss: number;
  baselineRss: number;
  eventLoopMaxMs: number;
  eventLoopP99Ms: number;
  pcapBytes: number;
  pcapFiles: number;
  pipeline: Record<string, number>;
  /** The capture memory budget's counters (reserved, peak, refused). */
  memory?: Record<string, number>;
}
