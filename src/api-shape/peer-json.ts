import { formatApiDate } from '../model/api-date.js';
import type { CaptureRecord } from '../model/capture.js';
import type { CaptureRow } from '../store/capture-repository.js';

export interface PeerJson {
  date: string;
  ip: string;
  port: number;
  infohash: string;
  /** ISO 3166-1 alpha-2; `""` when unknown (always present, as in the seed's shape). */
  countryCode: string;
  /** `""` when unknown. */
  city: string;
  /** `""` when unknown. */
  isp: string;
  /** Only on a successful capture. */
  captureReport?: {
    date: string;
    totalPiecesInTorrent: number;
    hasTotal: boolean;
    hasPieces: number;
    clientName: string;
    hostIdentifier: string;
    /** Extension: what the capture noticed that the fields above cannot say (absent when nothing). */
    note?: string;
  };
  /** Only on a failed attempt (no report). */
  error?: string;
  /** Extension: where to download this capture's pcap (only when one was stored). */
  pcap?: string;
}

/**
 * A capture as one element of the Capture API's `peers` array: the wire shape of the Capture API,
 * shared by the HTTP API, RabbitMQ messages and email digests. Never null: `countryCode`, `city`
 * and `isp` are always present (`""` when unknown); `captureReport` or `error`, whichever applies.
 */
export function toPeerJson(c: CaptureRecord): PeerJson {
  const out: PeerJson = {
    date: formatApiDate(c.foundAt),
    ip: c.ip,
    port: c.port,
    infohash: c.infohash,
    countryCode: c.countryCode ?? '',
    city: c.city ?? '',
    isp: c.isp ?? '',
  };
  if (c.report) {
    out.captureReport = {
      date: formatApiDate(c.report.date),
      totalPiecesInTorrent: c.report.totalPiecesInTorrent,
      hasTotal: c.report.hasTotal,
      hasPieces: c.report.hasPieces,
      clientName: c.report.clientName,
      hostIdentifier: c.report.hostIdentifier,
    };
    if (c.report.note !== undefined) out.captureReport.note = c.report.note;
  } else {
    out.error = c.error ?? 'unknown error';
  }
  if (c.pcapPath !== undefined) out.pcap = `/capture/pcap/?id=${c.id}`;
  return out;
}

/**
 * The peer object of a stored row, straight from the page query's raw row: the same object (same
 * keys in the same order, so the same JSON text) as toPeerJson(captureRowToRecord(r)), without the
 * intermediate record. The peers page itself is written by peerPageJson (peer-page-json.ts), which
 * writes the JSON text of these objects straight into bytes; this function is its reference.
 */
export function rowToPeerJson(r: CaptureRow): PeerJson {
  const out: PeerJson = {
    date: formatApiDate(r[1]),
    ip: r[2],
    port: r[3],
    infohash: r[4],
    countryCode: r[5] ?? '',
    city: r[6] ?? '',
    isp: r[7] ?? '',
  };
  if (r[8] !== null) {
    out.captureReport = {
      date: formatApiDate(r[8]),
      totalPiecesInTorrent: r[9] ?? 0,
      hasTotal: r[11] === 1,
      hasPieces: r[10] ?? 0,
      clientName: r[12] ?? '',
      hostIdentifier: r[13] ?? '',
    };
    if (r[16] !== null) out.captureReport.note = r[16];
  } else {
    out.error = r[14] ?? 'unknown error';
  }
  if (r[15] !== null) out.pcap = `/capture/pcap/?id=${r[0]}`;
  return out;
}
