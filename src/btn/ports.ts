/** What the BTN domain needs from the store (implemented in src/store/btn-*-repository.ts). */
import type { PackedSwarm } from './swarm-pack.js';

export interface BtnApp {
  /** Internal row id (the `id` of the query API). */
  ref: number;
  appId: string;
  comment: string;
  owner: string | null;
  installationId: string | null;
  createdAt: number;
  lastSeenAt: number | null;
  bannedAt: number | null;
  bannedReason: string | null;
}

export interface BtnAppWithSecret extends BtnApp {
  secretSha256: Buffer;
}

export interface NewBtnApp {
  appId: string;
  secretSha256: Buffer;
  comment: string;
  owner: string | null;
  installationId?: string | null;
}

export interface BtnAppStore {
  create(app: NewBtnApp, now?: number): BtnApp;
  /** An app that is not deleted. */
  find(appId: string): BtnAppWithSecret | undefined;
  findByInstallation(installationId: string): BtnAppWithSecret | undefined;
  /** Apps not deleted, of one owner or (undefined) all, newest first. */
  list(owner?: string): BtnApp[];
  countOwned(owner: string): number;
  setComment(appId: string, comment: string): boolean;
  setSecret(appId: string, secretSha256: Buffer): boolean;
  ban(appId: string, reason: string, now?: number): boolean;
  unban(appId: string): boolean;
  delete(appId: string, now?: number): boolean;
  touch(refs: ReadonlyMap<number, number>): void;
}

/** A submitted ban (modern §3.1 or legacy §4.2), normalised. */
export interface BanRow {
  banAt: number;
  peerIp: string;
  peerPort: number;
  peerId: string | null;
  peerClientName: string | null;
  peerProgress: number;
  peerFlag: string | null;
  torrentIdentifier: string;
  torrentSize: number;
  torrentPrivate: boolean;
  fromPeerTraffic: number;
  toPeerTraffic: number;
  downloaderProgress: number;
  module: string;
  rule: string;
  description: string;
  structuredData: string;
  btnBan: boolean;
  banUniqueId: string | null;
}

/** A submit_swarm row (§3.2) or a legacy submit_peers snapshot (§4.1, downloader ''), normalised. */
export interface SwarmRow {
  downloader: string;
  torrentIdentifier: string;
  torrentSize: number;
  torrentPrivate: boolean;
  peerIp: string;
  peerPort: number;
  peerId: string | null;
  peerClientName: string | null;
  peerProgress: number;
  downloaderProgress: number;
  fromPeerTraffic: number;
  fromPeerTrafficOffset: number;
  fromPeerSpeed: number;
  fromPeerSpeedMax: number;
  toPeerTraffic: number;
  toPeerTrafficOffset: number;
  toPeerSpeed: number;
  toPeerSpeedMax: number;
  flags: string;
  firstSeen: number;
  lastSeen: number;
}

/** A submit_histories row (§3.3), normalised. */
export interface HistoryRow {
  torrentIdentifier: string;
  torrentSize: number;
  peerIp: string;
  peerId: string;
  peerClientName: string;
  downloaded: number;
  downloadedOffset: number;
  uploaded: number;
  uploadedOffset: number;
  firstSeen: number;
  lastSeen: number;
  peerFlag: string | null;
}

export interface WriteResult {
  /** New rows. */
  inserted: number;
  /** Existing rows that took newer data. */
  updated: number;
  /** Rows already stored as they are (a resent batch). */
  unchanged: number;
}

/**
 * Where submissions are written. Each call is one batch, committed when it returns (or when its
 * promise resolves: the SQLite adapter may write on a worker thread, several batches per commit).
 */
export interface BtnSubmissionStore {
  putBans(app: number, submitId: string, rows: readonly BanRow[], now: number): WriteResult | Promise<WriteResult>;
  /** `rows` may come packed (swarm-pack.ts: how the decode thread hands them over, ready for the write thread). */
  putSwarm(app: number, submitId: string, rows: readonly SwarmRow[] | PackedSwarm, now: number): WriteResult | Promise<WriteResult>;
  putHistories(app: number, rows: readonly HistoryRow[], now: number): WriteResult | Promise<WriteResult>;
  putHeartbeat(app: number, ifaddr: string, externalIp: string, now: number): void | Promise<void>;
  /** Client discovery from submissions: (client name, 8-char peer id prefix). */
  discover(app: number, pairs: ReadonlyArray<readonly [string, string]>, now: number): void | Promise<void>;
}

export type StringCompare =
  | 'CONTAINS'
  | 'NOT_CONTAINS'
  | 'EQUALS'
  | 'NOT_EQUALS'
  | 'STARTS_WITH'
  | 'NOT_STARTS_WITH'
  | 'ENDS_WITH'
  | 'NOT_ENDS_WITH';
export type NumberCompare = 'LESS_THAN' | 'LESS_THAN_EQUAL' | 'GREATER_THAN' | 'GREATER_THAN_EQUAL' | 'EQUAL';

export interface Condition {
  /** A field name of the query API (camelCase); the store maps it onto a column. */
  field: string;
  method: StringCompare | NumberCompare;
  value: string | number | boolean;
}

export interface ListQuery {
  page: number;
  pageSize: number;
  conditions: Condition[];
  /** Conditions joined with OR instead of AND. */
  or: boolean;
  /** Time range on the listing's own time (ms, inclusive). */
  timeFrom?: number;
  timeTo?: number;
  sortBy: string[];
  sortOrder: 'ASC' | 'DESC';
}

export interface Page<T> {
  page: number;
  size: number;
  total: number;
  results: T[];
}

export interface SnapshotItem {
  id: number;
  appId: string;
  submitId: string;
  peerIp: string;
  peerPort: number;
  peerId: string | null;
  peerClientName: string | null;
  torrent: { id: number; identifier: string; size: number; privateTorrent: boolean };
  fromPeerTraffic: number;
  fromPeerTrafficSpeed: number;
  toPeerTraffic: number;
  toPeerTrafficSpeed: number;
  peerProgress: number;
  downloaderProgress: number;
  flags: string | null;
}

export interface BanItem extends SnapshotItem {
  banAt: number;
  btnBan: boolean;
  module: string;
  rule: string;
  description: string;
  banUniqueId: string | null;
  structuredData: string;
}

export interface DiscoveryItem {
  hash: number;
  clientName: string;
  peerId: string;
  foundAt: number;
  source: 'btn' | 'capture';
}

export interface SwarmRecord {
  torrent: string;
  peerIp: string;
  peerPort: number;
  peerId: string | null;
  peerClientName: string | null;
  peerProgress: number;
  fromPeerTraffic: number;
  toPeerTraffic: number;
  fromPeerTrafficOffset: number;
  toPeerTrafficOffset: number;
  flags: string;
  firstSeen: number;
  lastSeen: number;
  userProgress: number;
}

/** An IP that several applications banned: a generated denylist entry. */
export interface BannedIp {
  ip: string;
  reporters: number;
  bans: number;
  lastBanAt: number;
  topModule: string;
}

export interface BtnQueryStore {
  snapshots(q: ListQuery): Page<SnapshotItem>;
  bans(q: ListQuery): Page<BanItem>;
  discoveries(q: ListQuery): Page<DiscoveryItem>;
  /** IPs banned by at least `minReporters` apps since `since`, most reporters first. */
  bannedIps(since: number, minReporters: number, limit: number): BannedIp[];
  /** Evidence about one peer IP or one torrent (BTN identifier), newest first, `limit` each. */
  bansOf(by: { ip?: string; torrentIdentifier?: string }, limit: number): BanItem[];
  swarmsOf(by: { ip?: string; torrentIdentifier?: string }, limit: number): SwarmRecord[];
  countsOf(by: { ip?: string; torrentIdentifier?: string }): { bans: number; swarms: number; torrents: number; toPeerTraffic: number; fromPeerTraffic: number };
}

/** The daemon's own captures of a peer, as the BTN peer query shows them. */
export interface CapturedPeer {
  id: number;
  foundAt: number;
  ip: string;
  port: number;
  infohash: string;
  torrentIdentifier?: string;
  clientName: string | null;
  hasPieces: number | null;
  totalPieces: number | null;
  error: string | null;
}

export interface CaptureEvidence {
  byIp(ip: string, limit: number): CapturedPeer[];
  byInfohash(infohash: string, limit: number): CapturedPeer[];
}

/** A query-API user kept in the database (made by the CLI or by an OAuth2 login). */
export interface StoredBtnUser {
  name: string;
  role: 'admin' | 'user';
  maxApps: number;
  /** scrypt hash (see passwords.ts), null for OAuth2-only users. */
  password: string | null;
  provider: string | null;
  subject: string | null;
  nickname: string | null;
  avatar: string | null;
  email: string | null;
  createdAt: number;
  lastSeenAt: number | null;
}

export interface NewStoredBtnUser {
  name: string;
  role: 'admin' | 'user';
  maxApps: number;
  password?: string | null;
  provider?: string | null;
  subject?: string | null;
  nickname?: string | null;
  avatar?: string | null;
  email?: string | null;
}

/** Users and their login sessions (sessions are keyed by the SHA-256 of their token). */
export interface BtnUserStore {
  /** False when the name is taken. */
  add(user: NewStoredBtnUser, now?: number): boolean;
  find(name: string): StoredBtnUser | undefined;
  findBySubject(provider: string, subject: string): StoredBtnUser | undefined;
  list(): StoredBtnUser[];
  /** Also ends the user's sessions. */
  remove(name: string): boolean;
  /** Sets the password hash and ends the user's sessions. */
  setPassword(name: string, password: string): boolean;
  updateProfile(name: string, profile: { nickname: string | null; avatar: string | null; email: string | null }, now?: number): void;
  createSession(tokenSha256: Buffer, userName: string, now: number, expiresAt: number): void;
  /** The session's user name if the session exists and has not expired. */
  sessionUser(tokenSha256: Buffer, now: number): string | undefined;
  endSession(tokenSha256: Buffer): void;
  /** Deletes expired sessions; returns how many. */
  purgeSessions(now: number, limit: number): number;
}

/** A torrent on the spam list (src/spam/), as the BTN rules read it. */
export interface SpamListed {
  infohash: string;
  name: string;
  count: number;
  /** Codes and words of the evidence rules that reported it (empty: only people did). */
  reasons: Array<{ code: string; detail: string }>;
}

/** The spam list as a rule source (adapted from the spam list's service in src/daemon/spam-rule-source.ts). */
export interface SpamListSource {
  /** Listed torrents (above the list threshold), at most `limit`; empty when the spam list is off. */
  listed(limit: number): SpamListed[];
}
