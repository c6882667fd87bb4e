/**
 * What the spam list needs from a store, and what it offers other domains (BTN rules read
 * SpamVerdicts). Times are epoch seconds unless a name says ms.
 */

/** A reason an evidence rule gave for reporting a torrent. */
export interface SpamReason {
  /** Stable rule code: disguised-executable | no-seeder | metadata-unobtainable. */
  code: string;
  /** Plain words: which file, how many peers over which window, … */
  detail: string;
  /** When the rule fired (epoch seconds). */
  at: number;
}

/** One listed torrent, as the lists show it. */
export interface SpamEntry {
  /** Keyset key of the list pages (never reused). */
  id: number;
  name: string;
  infohash: string;
  category: string;
  count: number;
  firstReported: number;
  lastReported: number;
  reasons: SpamReason[];
}

export interface NewReport {
  infohash: string;
  name: string;
  category: string;
  /** Identity that counts once per torrent. */
  reporter: string;
  site: string;
  creator: string;
  ip?: string | undefined;
  /** Set for evidence: the rule's code and words. */
  reason?: { code: string; detail: string } | undefined;
  /** How much the report adds to the count (1 for a person). */
  weight: number;
  at: number;
}

export interface ReportResult {
  /** False when this reporter had already reported this torrent (the count did not change). */
  counted: boolean;
  entry: SpamEntry;
}

/** Which torrents a list page holds; pages follow `after` (the last row's cursor) in key order. */
export type ListQuery =
  | { kind: 'above'; threshold: number; after?: number | undefined; limit: number }
  | { kind: 'all'; after?: number | undefined; limit: number }
  /** first_reported in [from, to] (both inclusive); the cursor is (firstReported, id). */
  | { kind: 'range'; from: number; to: number; after?: { at: number; id: number } | undefined; limit: number };

export interface ListPage {
  entries: SpamEntry[];
  /** True when rows follow the last entry. */
  hasMore: boolean;
}

export interface StoredReport {
  reporter: string;
  site: string;
  creator: string;
  ip: string | null;
  name: string;
  category: string;
  reason: string | null;
  detail: string | null;
  weight: number;
  reportedAt: number;
}

export interface Removal {
  id: number;
  infohash: string;
  name: string;
  count: number;
  reports: StoredReport[];
  removedBy: string;
  reason: string;
  removedAt: number;
}

/** The spam list's own tables. */
export interface SpamStore {
  report(r: NewReport): ReportResult;
  byHash(infohash: string): SpamEntry | undefined;
  /** Torrents whose name equals `nameKey` (see nameKey()), at most `limit`. */
  byName(nameKey: string, limit: number): SpamEntry[];
  list(q: ListQuery): ListPage;
  reportsOf(infohash: string): StoredReport[];
  /** Removes the torrent and its reports, keeping both in the audit trail. Undefined if not listed. */
  remove(infohash: string, removedBy: string, reason: string, at: number): Removal | undefined;
  removals(infohash?: string): Removal[];
}

/** A torrent whose metadata is known, as the disguised-executable rule reads it. */
export interface TorrentFiles {
  infohash: string;
  name: string;
  files: Array<{ path: string; length: number }>;
  updatedAt: number;
}

/** What the evidence scanner reads from the capture side, and its own bookkeeping. */
export interface EvidenceStore {
  /** Folds successful captures with id > cursor into per-torrent tallies; returns how many were read. */
  tallyCaptures(limit: number, peerCap: number): number;
  /** Torrents with metadata changed after the cursor (kept by the store), at most `limit`. */
  nextChangedTorrents(limit: number): TorrentFiles[];
  /** Torrents with ≥ minPeers distinct captured peers, none a seeder, first captured at or before `firstBeforeMs`. */
  swarmsWithoutSeeder(minPeers: number, firstBeforeMs: number, limit: number): Array<{ infohash: string; peers: number; firstCaptureAt: number }>;
  /** Torrents still waiting for metadata since at or before `addedBeforeMs`, with ≥ minPeers captured peers. */
  metadataMissing(minPeers: number, addedBeforeMs: number, limit: number): Array<{ infohash: string; peers: number; addedAt: number }>;
  /** Records that `rule` fired for `infohash`; false if it already had. */
  markFired(infohash: string, rule: string, at: number): boolean;
  hasFired(infohash: string, rule: string): boolean;
  /** The torrent's name if its metadata is known. */
  torrentName(infohash: string): string | undefined;
}

/** The spam list as other domains (BTN rules) read it. */
export interface SpamVerdict {
  infohash: string;
  count: number;
  /** count above the list threshold: the default listing shows it. */
  listed: boolean;
  /** Evidence the daemon found itself (empty when only people reported it). */
  reasons: SpamReason[];
}

export interface SpamVerdicts {
  /** The verdict on one torrent, or undefined when nobody and no rule reported it. */
  verdict(infohash: string): SpamVerdict | undefined;
}

/**
 * The API keys as the spam list needs them: `authorize` returns the caller (its name is the
 * reporting site) or throws the API's own key errors (unknown, suspended, not permitted).
 */
export interface SpamAuth {
  authorize(key: unknown, permission: 'spamReport' | 'spamList'): { name: string };
}

/** The lookup key of a name: NFC-normalised, lower-cased (Unicode-aware, not only ASCII). */
export function nameKey(name: string): string {
  return name.normalize('NFC').toLowerCase();
}
