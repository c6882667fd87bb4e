/**
 * BEP 51 (DHT infohash indexing): the `sample_infohashes` response.
 *
 *   r: { id: <20 bytes>, interval: <int 0..21600>, nodes: <compact node info>,
 *        num: <int>, samples: <n × 20 bytes> }  (+ optional nodes6 per BEP 32)
 *
 * Samples are n concatenated 20-byte infohashes starting at offset 0 of the `samples` string.
 * (magnetico once decoded them at the wrong offset and indexed garbage; this module is exact and
 * tested byte for byte.) Pure functions: no I/O.
 */
import bencode from 'bencode';
import {
  type CompactNode,
  NODE_ID_LENGTH,
  decodeCompactNodes,
  encodeCompactNodes,
  addressFamily,
} from './compact.js';

/** BEP 51: "the maximum interval is 6 hours". */
export const MAX_SAMPLE_INTERVAL_SEC = 21_600;
export const INFOHASH_LENGTH = 20;

export interface SamplesResponse {
  /** Responder's node id (20 bytes). */
  id: Uint8Array;
  /** Refresh interval of the responder's sample set, clamped to 0..21600 s. */
  intervalSec: number;
  /** Number of infohashes the responder says it stores (may exceed the samples returned). */
  num: number;
  /** The sampled infohashes: 40-char lowercase hex, in wire order. */
  infohashes: string[];
  /** Closer nodes from `nodes` (IPv4) then `nodes6` (IPv6). */
  nodes: CompactNode[];
  /** Node entries skipped (port 0, trailing partial entry). */
  malformedNodes: number;
}

export type SamplesDecodeResult = { ok: true; value: SamplesResponse } | { ok: false; reason: string };

type Dict = Record<string, unknown>;

function isDict(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

/** Integer from bdecode output (a number, or a bigint for huge values). */
function integer(v: unknown): number | undefined {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  return undefined;
}

function clampInterval(sec: number): number {
  return Math.min(MAX_SAMPLE_INTERVAL_SEC, Math.max(0, sec));
}

/**
 * Decodes the `r` dictionary of a `sample_infohashes` response (as produced by bencode.decode).
 * Rejects a missing/invalid `id`, `interval` or `num`, a missing `samples`, and a `samples`
 * string whose length is not a multiple of 20 (a truncated or shifted sample set is not
 * trusted at all). `interval` is clamped to 0..21600; `nodes`/`nodes6` are optional and decoded
 * leniently (bad entries skipped and counted).
 */
export function decodeSamplesResponse(r: unknown): SamplesDecodeResult {
  if (!isDict(r)) return fail('response is not a dictionary');
  const { id, interval, num, samples, nodes, nodes6 } = r;
  if (!(id instanceof Uint8Array) || id.length !== NODE_ID_LENGTH) return fail('id is not a 20-byte string');
  const intervalInt = integer(interval);
  if (intervalInt === undefined) return fail('interval is missing or not an integer');
  const numInt = integer(num);
  if (numInt === undefined || numInt < 0) return fail('num is missing or not a non-negative integer');
  if (!(samples instanceof Uint8Array)) return fail('samples is missing or not a string');
  if (samples.length % INFOHASH_LENGTH !== 0) {
    return fail(`samples length ${samples.length} is not a multiple of ${INFOHASH_LENGTH}`);
  }
  if (nodes !== undefined && !(nodes instanceof Uint8Array)) return fail('nodes is not a string');
  if (nodes6 !== undefined && !(nodes6 instanceof Uint8Array)) return fail('nodes6 is not a string');

  const hex = Buffer.from(samples.buffer, samples.byteOffset, samples.length).toString('hex');
  const infohashes: string[] = [];
  for (let off = 0; off < hex.length; off += INFOHASH_LENGTH * 2) {
    infohashes.push(hex.slice(off, off + INFOHASH_LENGTH * 2));
  }

  const v4 = nodes ? decodeCompactNodes(nodes, 4) : { nodes: [], malformed: 0 };
  const v6 = nodes6 ? decodeCompactNodes(nodes6, 6) : { nodes: [], malformed: 0 };
  return {
    ok: true,
    value: {
      id: new Uint8Array(id),
      intervalSec: clampInterval(intervalInt),
      num: Math.min(numInt, Number.MAX_SAFE_INTEGER),
      infohashes,
      nodes: [...v4.nodes, ...v6.nodes],
      malformedNodes: v4.malformed + v6.malformed,
    },
  };
}

/**
 * Decodes a whole bencoded KRPC packet that should be a `sample_infohashes` response
 * (`y` = "r"). Malformed bencode and non-response packets are rejected, not thrown.
 */
export function decodeSamplesPacket(packet: Uint8Array): SamplesDecodeResult {
  let msg: unknown;
  try {
    msg = bencode.decode(packet);
  } catch (err) {
    return fail(`not valid bencode: ${(err as Error).message}`);
  }
  if (!isDict(msg)) return fail('packet is not a dictionary');
  const y = msg.y;
  if (!(y instanceof Uint8Array) || Buffer.from(y).toString('latin1') !== 'r') return fail('packet is not a response (y != "r")');
  return decodeSamplesResponse(msg.r);
}

/** The `r` dictionary of a `sample_infohashes` response, ready for bencode.encode. */
export interface SamplesResponseDict {
  id: Buffer;
  interval: number;
  nodes: Buffer;
  nodes6?: Buffer;
  num: number;
  samples: Buffer;
}

/**
 * Builds the `r` dictionary our own responder sends. `nodes` may mix families: IPv4 nodes go
 * to `nodes`, IPv6 ones to `nodes6` (present only when non-empty). `intervalSec` is clamped to
 * 0..21600. Throws RangeError on an id or infohash that is not 20 bytes, or a bad `num`.
 */
export function encodeSamplesResponse(
  id: Uint8Array,
  infohashes: readonly Uint8Array[],
  num: number,
  intervalSec: number,
  nodes: readonly CompactNode[] = [],
): SamplesResponseDict {
  if (id.length !== NODE_ID_LENGTH) throw new RangeError(`id must be ${NODE_ID_LENGTH} bytes, got ${id.length}`);
  for (const ih of infohashes) {
    if (ih.length !== INFOHASH_LENGTH) throw new RangeError(`infohash must be ${INFOHASH_LENGTH} bytes, got ${ih.length}`);
  }
  if (!Number.isSafeInteger(num) || num < 0) throw new RangeError(`num must be a non-negative integer, got ${num}`);
  if (!Number.isFinite(intervalSec)) throw new RangeError(`interval must be finite, got ${intervalSec}`);

  const v4: CompactNode[] = [];
  const v6: CompactNode[] = [];
  for (const n of nodes) (addressFamily(n.ip) === 4 ? v4 : v6).push(n);

  const dict: SamplesResponseDict = {
    id: Buffer.from(id),
    interval: clampInterval(Math.floor(intervalSec)),
    nodes: encodeCompactNodes(v4, 4),
    num,
    samples: Buffer.concat(infohashes),
  };
  if (v6.length > 0) dict.nodes6 = encodeCompactNodes(v6, 6);
  return dict;
}
