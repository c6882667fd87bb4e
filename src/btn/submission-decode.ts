import { gunzipSync, inflateSync } from 'node:zlib';
import { BtnError } from './btn-error.js';
import { banRow, Dropped, historyRow, legacyBanRow, legacyPeerRow, peerIdPrefix, swarmRow, type DropReason } from './normalize.js';
import type { BanRow, HistoryRow, SwarmRow } from './ports.js';
import { bodyTooLarge, parseJson } from './request-body.js';
import { packSwarm, type PackedSwarm } from './swarm-pack.js';

export type SubmissionKind = 'submit_bans' | 'submit_swarm' | 'submit_histories' | 'legacy_submit_peers' | 'legacy_submit_bans';

/** Content-Encoding of a body whose bytes were read but not yet inflated (request-body.ts readRawBody). */
export type BodyEncoding = 'gzip' | 'deflate' | 'identity';

export type DroppedCounts = Partial<Record<DropReason | 'bad_batch', number>>;

/**
 * A submitted batch turned into rows, not yet stored: every row normalised on its own, a bad one
 * dropped and counted with its reason (the batch is still accepted, spec §1.4).
 */
export interface NormalizedSubmission {
  kind: SubmissionKind;
  /** Rows the batch listed (0 for a batch without its list: then `dropped.bad_batch` is 1). */
  received: number;
  dropped: DroppedCounts;
  /** Distinct (client name, 8-character peer id prefix) of the kept rows: client discovery. */
  pairs: Array<readonly [string, string]>;
  /** submit_swarm, legacy submit_peers: the kept rows, in parts of at most `chunkRows` (each part one write). */
  swarm?: Array<readonly SwarmRow[] | PackedSwarm>;
  bans?: BanRow[];
  histories?: HistoryRow[];
}

type Obj = Record<string, unknown>;

/**
 * Inflates a body read whole (gzip or deflate as its Content-Encoding says) and decodes it as UTF-8.
 * The output stops at `maxBytes`: a body that inflates past it (a gzip bomb too) is refused with
 * BTN_BODY_TOO_LARGE without being inflated further; a body that is not what it says, BTN_BAD_BODY.
 */
export function decodeBody(bytes: Uint8Array, encoding: BodyEncoding, maxBytes: number): string {
  if (encoding === 'identity') {
    if (bytes.length > maxBytes) throw bodyTooLarge(maxBytes);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  }
  let out: Buffer;
  try {
    out = encoding === 'gzip' ? gunzipSync(bytes, { maxOutputLength: maxBytes }) : inflateSync(bytes, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') throw bodyTooLarge(maxBytes);
    throw new BtnError('BTN_BAD_BODY', `request body is not valid ${encoding}: ${(err as Error).message}`, { cause: err });
  }
  return out.toString('utf8');
}

/** decodeBody, JSON.parse and normalizeSubmission in one: what the decode thread does with a submission. */
export function decodeSubmission(
  kind: SubmissionKind,
  bytes: Uint8Array,
  encoding: BodyEncoding,
  now: number,
  options: { maxBytes: number; chunkRows: number; pack: boolean },
): NormalizedSubmission {
  return normalizeSubmission(kind, parseJson(decodeBody(bytes, encoding, options.maxBytes)), now, options);
}

/** Turns a parsed submission (`{swarms: […]}`, `{bans: […]}`, `{populate_time, peers: […]}`) into rows. */
export function normalizeSubmission(
  kind: SubmissionKind,
  body: unknown,
  now: number,
  options: { chunkRows: number; pack: boolean },
): NormalizedSubmission {
  const b = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : undefined) as Obj | undefined;
  const listKey = kind === 'submit_swarm' ? 'swarms' : kind === 'submit_bans' || kind === 'legacy_submit_bans' ? 'bans' : 'peers';
  const list = b?.[listKey];
  const dropped: DroppedCounts = {};
  const out: NormalizedSubmission = { kind, received: 0, dropped, pairs: [] };
  if (!Array.isArray(list)) {
    dropped.bad_batch = 1;
    return out;
  }
  out.received = list.length;
  const populate = Number(b?.populate_time);
  const populateTime = Number.isFinite(populate) && populate > 0 ? Math.trunc(populate) : now;
  const pairs = new Map<string, readonly [string, string]>();
  const keep = <T extends { peerClientName: string | null; peerId: string | null }>(rows: T[], v: T | Dropped): void => {
    if (v instanceof Dropped) {
      dropped[v.reason] = (dropped[v.reason] ?? 0) + 1;
      return;
    }
    rows.push(v);
    if (v.peerClientName) {
      const prefix = peerIdPrefix(v.peerId);
      const key = `${v.peerClientName}\u0000${prefix}`;
      if (!pairs.has(key)) pairs.set(key, [v.peerClientName, prefix]);
    }
  };
  switch (kind) {
    case 'submit_bans':
    case 'legacy_submit_bans': {
      const rows: BanRow[] = [];
      for (const v of list) keep(rows, kind === 'submit_bans' ? banRow(v, now) : legacyBanRow(v, populateTime, now));
      out.bans = rows;
      break;
    }
    case 'submit_swarm':
    case 'legacy_submit_peers': {
      const rows: SwarmRow[] = [];
      for (const v of list) keep(rows, kind === 'submit_swarm' ? swarmRow(v, now) : legacyPeerRow(v, populateTime));
      const size = Math.max(1, options.chunkRows);
      const parts: SwarmRow[][] = [];
      for (let i = 0; i < rows.length; i += size) parts.push(rows.length <= size ? rows : rows.slice(i, i + size));
      out.swarm = options.pack ? parts.map(packSwarm) : parts;
      break;
    }
    case 'submit_histories': {
      const rows: HistoryRow[] = [];
      for (const v of list) keep(rows, historyRow(v, now));
      out.histories = rows;
      break;
    }
    default:
      throw new BtnError('BTN_BAD_PARAMETER', `unknown submission kind ${String(kind)}`);
  }
  out.pairs = [...pairs.values()];
  return out;
}
