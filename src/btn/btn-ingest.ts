import { randomUUID } from 'node:crypto';
import { BtnError } from './btn-error.js';
import {
  Dropped,
  banRow,
  historyRow,
  legacyBanRow,
  legacyPeerRow,
  peerIdPrefix,
  swarmRow,
  type DropReason,
} from './normalize.js';
import type { BtnSubmissionStore, SwarmRow, WriteResult } from './ports.js';

export type SubmissionKind = 'submit_bans' | 'submit_swarm' | 'submit_histories' | 'legacy_submit_peers' | 'legacy_submit_bans';

export interface IngestResult extends WriteResult {
  submitId: string;
  received: number;
  dropped: Partial<Record<DropReason | 'bad_batch', number>>;
}

export interface IngestStats {
  batches: Record<SubmissionKind, number>;
  rows: { received: number; inserted: number; updated: number; unchanged: number };
  dropped: Partial<Record<DropReason | 'bad_batch', number>>;
}

type Obj = Record<string, unknown>;

/** Known (client name, peer id prefix) pairs: skips the discovery write for pairs already stored. */
const KNOWN_PAIRS_MAX = 100_000;

/**
 * Turns a submitted batch into stored rows: every row is normalised on its own, a bad row is
 * dropped and counted with its reason, and the batch is accepted (a rejected batch would be
 * resent forever, spec §1.4).
 */
export class BtnIngest {
  private readonly stats: IngestStats = {
    batches: { submit_bans: 0, submit_swarm: 0, submit_histories: 0, legacy_submit_peers: 0, legacy_submit_bans: 0 },
    rows: { received: 0, inserted: 0, updated: 0, unchanged: 0 },
    dropped: {},
  };
  private readonly knownPairs = new Set<string>();

  /**
   * @param options.swarmChunkRows swarm rows written per transaction: between two, the event loop
   *   serves other requests (a 1,000-row batch would block it for one long transaction). A batch is
   *   then stored in parts; a resent batch changes nothing, so a batch cut short is safe to resend.
   */
  constructor(
    private readonly store: BtnSubmissionStore,
    private readonly options: { swarmChunkRows?: number } = {},
  ) {}

  private async putSwarmInChunks(app: number, submitId: string, rows: SwarmRow[], now: number): Promise<WriteResult> {
    const size = Math.max(1, this.options.swarmChunkRows ?? 1000);
    if (rows.length <= size) return await this.store.putSwarm(app, submitId, rows, now);
    const total: WriteResult = { inserted: 0, updated: 0, unchanged: 0 };
    for (let i = 0; i < rows.length; i += size) {
      if (i > 0) await new Promise((r) => setImmediate(r));
      const r = await this.store.putSwarm(app, submitId, rows.slice(i, i + size), now);
      total.inserted += r.inserted;
      total.updated += r.updated;
      total.unchanged += r.unchanged;
    }
    return total;
  }

  async ingest(kind: SubmissionKind, app: number, body: unknown, now = Date.now()): Promise<IngestResult> {
    const b = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : undefined) as Obj | undefined;
    const listKey = kind === 'submit_swarm' ? 'swarms' : kind === 'submit_bans' || kind === 'legacy_submit_bans' ? 'bans' : 'peers';
    const list = b?.[listKey];
    const submitId = randomUUID();
    const dropped: IngestResult['dropped'] = {};
    const drop = (reason: DropReason | 'bad_batch', n = 1): void => {
      dropped[reason] = (dropped[reason] ?? 0) + n;
      this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + n;
    };
    this.stats.batches[kind]++;
    if (!Array.isArray(list)) {
      drop('bad_batch');
      return { submitId, received: 0, inserted: 0, updated: 0, unchanged: 0, dropped };
    }
    const populate = Number(b?.populate_time);
    const populateTime = Number.isFinite(populate) && populate > 0 ? Math.trunc(populate) : now;
    const pairs = new Map<string, readonly [string, string]>();
    const keep = <T extends { peerClientName: string | null; peerId: string | null }>(rows: T[], v: T | Dropped): void => {
      if (v instanceof Dropped) return drop(v.reason);
      rows.push(v);
      if (v.peerClientName) {
        const pair = [v.peerClientName, peerIdPrefix(v.peerId)] as const;
        const key = `${pair[0]}\u0000${pair[1]}`;
        if (!this.knownPairs.has(key)) pairs.set(key, pair);
      }
    };
    let result: WriteResult;
    switch (kind) {
      case 'submit_bans':
      case 'legacy_submit_bans': {
        const rows: Parameters<BtnSubmissionStore['putBans']>[2][number][] = [];
        for (const v of list) keep(rows, kind === 'submit_bans' ? banRow(v, now) : legacyBanRow(v, populateTime, now));
        result = await this.store.putBans(app, submitId, rows, now);
        break;
      }
      case 'submit_swarm':
      case 'legacy_submit_peers': {
        const rows: SwarmRow[] = [];
        for (const v of list) keep(rows, kind === 'submit_swarm' ? swarmRow(v, now) : legacyPeerRow(v, populateTime));
        result = await this.putSwarmInChunks(app, submitId, rows, now);
        break;
      }
      case 'submit_histories': {
        const rows: Parameters<BtnSubmissionStore['putHistories']>[1][number][] = [];
        for (const v of list) keep(rows, historyRow(v, now));
        result = await this.store.putHistories(app, rows, now);
        break;
      }
      default:
        throw new BtnError('BTN_BAD_PARAMETER', `unknown submission kind ${String(kind)}`);
    }
    if (pairs.size > 0) {
      await this.store.discover(app, [...pairs.values()], now);
      if (this.knownPairs.size + pairs.size > KNOWN_PAIRS_MAX) this.knownPairs.clear();
      for (const k of pairs.keys()) this.knownPairs.add(k);
    }
    this.stats.rows.received += list.length;
    this.stats.rows.inserted += result.inserted;
    this.stats.rows.updated += result.updated;
    this.stats.rows.unchanged += result.unchanged;
    return { submitId, received: list.length, ...result, dropped };
  }

  status(): IngestStats {
    return structuredClone(this.stats);
  }
}
