import { randomUUID } from 'node:crypto';
import { BtnError } from './btn-error.js';
import type { DecodePool } from './decode-pool.js';
import type { DropReason } from './normalize.js';
import type { BtnSubmissionStore, SwarmRow, WriteResult } from './ports.js';
import {
  decodeSubmission,
  normalizeSubmission,
  type BodyEncoding,
  type NormalizedSubmission,
  type SubmissionKind,
} from './submission-decode.js';
import type { PackedSwarm } from './swarm-pack.js';

export type { SubmissionKind } from './submission-decode.js';

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

/** A submission's body as read from the request, not yet inflated nor parsed (request-body.ts readRawBody). */
export interface RawSubmission {
  bytes: Uint8Array;
  encoding: BodyEncoding;
}

/** Known (client name, peer id prefix) pairs: skips the discovery write for pairs already stored. */
const KNOWN_PAIRS_MAX = 100_000;

/**
 * Turns a submitted batch into stored rows: every row is normalised on its own, a bad row is
 * dropped and counted with its reason, and the batch is accepted (a rejected batch would be
 * resent forever, spec §1.4). With a decode pool, a body read from the request is inflated,
 * parsed and normalised on its thread (decode-pool.ts); the event loop only counts and hands the
 * rows to the store.
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
   * @param options.decode the decode thread(s) for bodies read raw (ingestRaw); absent: on the event loop.
   * @param options.maxBodyBytes the decoded size a raw body may reach (BTN_BODY_TOO_LARGE past it).
   */
  constructor(
    private readonly store: BtnSubmissionStore,
    private readonly options: { swarmChunkRows?: number; decode?: DecodePool; maxBodyBytes?: () => number } = {},
  ) {}

  private get chunkRows(): number {
    return Math.max(1, this.options.swarmChunkRows ?? 1000);
  }

  /** A parsed body (JSON value), normalised here, on the calling thread. */
  async ingest(kind: SubmissionKind, app: number, body: unknown, now = Date.now()): Promise<IngestResult> {
    this.stats.batches[kind]++;
    return this.store_(app, normalizeSubmission(kind, body, now, { chunkRows: this.chunkRows, pack: false }), now);
  }

  /** A body as read from the request (still gzip): inflated, parsed and normalised on the decode thread when there is one. */
  async ingestRaw(kind: SubmissionKind, app: number, body: RawSubmission, now = Date.now()): Promise<IngestResult> {
    this.stats.batches[kind]++;
    const options = { maxBytes: this.options.maxBodyBytes?.() ?? 32 * 2 ** 20, chunkRows: this.chunkRows };
    const decoded = this.options.decode
      ? await this.options.decode.decode(kind, body.bytes, body.encoding, now, options)
      : decodeSubmission(kind, body.bytes, body.encoding, now, { ...options, pack: false });
    return this.store_(app, decoded, now);
  }

  private async store_(app: number, s: NormalizedSubmission, now: number): Promise<IngestResult> {
    const submitId = randomUUID();
    for (const [reason, n] of Object.entries(s.dropped) as Array<[DropReason | 'bad_batch', number]>) {
      this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + n;
    }
    if (s.dropped.bad_batch) return { submitId, received: 0, inserted: 0, updated: 0, unchanged: 0, dropped: s.dropped };
    let result: WriteResult;
    if (s.swarm) result = await this.putSwarmParts(app, submitId, s.swarm, now);
    else if (s.bans) result = await this.store.putBans(app, submitId, s.bans, now);
    else if (s.histories) result = await this.store.putHistories(app, s.histories, now);
    else throw new BtnError('BTN_BAD_PARAMETER', `unknown submission kind ${String(s.kind)}`);
    const fresh = s.pairs.filter(([name, prefix]) => !this.knownPairs.has(`${name}\u0000${prefix}`));
    if (fresh.length > 0) {
      await this.store.discover(app, fresh, now);
      if (this.knownPairs.size + fresh.length > KNOWN_PAIRS_MAX) this.knownPairs.clear();
      for (const [name, prefix] of fresh) this.knownPairs.add(`${name}\u0000${prefix}`);
    }
    this.stats.rows.received += s.received;
    this.stats.rows.inserted += result.inserted;
    this.stats.rows.updated += result.updated;
    this.stats.rows.unchanged += result.unchanged;
    return { submitId, received: s.received, ...result, dropped: s.dropped };
  }

  /** Each part its own write; between two, the event loop serves other requests. */
  private async putSwarmParts(app: number, submitId: string, parts: Array<readonly SwarmRow[] | PackedSwarm>, now: number): Promise<WriteResult> {
    const total: WriteResult = { inserted: 0, updated: 0, unchanged: 0 };
    for (let i = 0; i < parts.length; i++) {
      if (i > 0) await new Promise((r) => setImmediate(r));
      const r = await this.store.putSwarm(app, submitId, parts[i] as readonly SwarmRow[] | PackedSwarm, now);
      total.inserted += r.inserted;
      total.updated += r.updated;
      total.unchanged += r.unchanged;
    }
    return total;
  }

  status(): IngestStats {
    return structuredClone(this.stats);
  }
}
