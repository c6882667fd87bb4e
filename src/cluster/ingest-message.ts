import { isInfoHash } from '../model/infohash.js';
import type { ForwardedCapture, ForwardedSighting } from './ports.js';

export type ParsedIngestMessage =
  | { ok: true; kind: 'capture'; item: ForwardedCapture }
  | { ok: true; kind: 'sighting'; item: ForwardedSighting }
  | { ok: false; reason: string };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown, max = 1024): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const isPort = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;
const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * Checks one message of the ingest queue (AMQP `type` + JSON body) before it reaches the store: a
 * message that fails here can never be stored and is rejected to the dead queue with the reason,
 * instead of failing its whole batch again and again.
 */
export function parseIngestMessage(type: unknown, body: Buffer): ParsedIngestMessage {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  if (!isObj(v)) return { ok: false, reason: 'body is not a JSON object' };
  if (!isStr(v.uid, 128)) return { ok: false, reason: 'uid missing' };
  if (!isStr(v.crawlerId, 64)) return { ok: false, reason: 'crawlerId missing' };
  if (type === 'sighting') {
    if (!isStr(v.ip, 64) || !isPort(v.port) || !isStr(v.infohash) || !isInfoHash(v.infohash) || !isTime(v.seenAt)) {
      return { ok: false, reason: 'sighting needs ip, port, infohash and seenAt' };
    }
    return { ok: true, kind: 'sighting', item: v as unknown as ForwardedSighting };
  }
  if (type !== 'capture') return { ok: false, reason: `unknown message type ${JSON.stringify(type)}` };
  const c = v.capture;
  if (!isObj(c)) return { ok: false, reason: 'capture missing' };
  if (!isStr(c.ip, 64) || !isPort(c.port) || !isStr(c.infohash) || !isInfoHash(c.infohash) || !isTime(c.foundAt)) {
    return { ok: false, reason: 'capture needs ip, port, infohash and foundAt' };
  }
  if (!Array.isArray(c.filters) || !c.filters.every((f) => isStr(f, 256))) return { ok: false, reason: 'capture filters must be a list of names' };
  const r = c.report;
  if (r !== undefined) {
    if (!isObj(r) || !isTime(r.date) || !Number.isInteger(r.totalPiecesInTorrent) || !Number.isInteger(r.hasPieces) || typeof r.hasTotal !== 'boolean'
      || typeof r.clientName !== 'string' || typeof r.hostIdentifier !== 'string') {
      return { ok: false, reason: 'capture report is malformed' };
    }
  } else if (!isStr(c.error, 10_000)) {
    return { ok: false, reason: 'capture needs a report or an error' };
  }
  return { ok: true, kind: 'capture', item: v as unknown as ForwardedCapture };
}
