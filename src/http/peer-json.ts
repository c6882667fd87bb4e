import { formatApiDate } from '../model/api-date.js';
import type { CaptureRecord } from '../model/capture.js';

export interface PeerJson {
  date: string;
  ip: string;
  port: number;
  infohash: string;
  countryCode?: string;
  city?: string;
  isp?: string;
  captureReport?: {
    date: string;
    totalPiecesInTorrent: number;
    hasTotal: boolean;
    hasPieces: number;
    clientName: string;
    hostIdentifier: string;
  };
  error?: string;
  /** Extension: where to download this capture's pcap (only when one was stored). */
  pcap?: string;
}

/** A capture as one element of the Capture API's `peers` array (absent fields left out, never null). */
export function toPeerJson(c: CaptureRecord): PeerJson {
  const out: PeerJson = { date: formatApiDate(c.foundAt), ip: c.ip, port: c.port, infohash: c.infohash };
  if (c.countryCode !== undefined) out.countryCode = c.countryCode;
  if (c.city !== undefined) out.city = c.city;
  if (c.isp !== undefined) out.isp = c.isp;
  if (c.report) {
    out.captureReport = {
      date: formatApiDate(c.report.date),
      totalPiecesInTorrent: c.report.totalPiecesInTorrent,
      hasTotal: c.report.hasTotal,
      hasPieces: c.report.hasPieces,
      clientName: c.report.clientName,
      hostIdentifier: c.report.hostIdentifier,
    };
  } else {
    out.error = c.error ?? 'unknown error';
  }
  if (c.pcapPath !== undefined) out.pcap = `/capture/pcap/?id=${c.id}`;
  return out;
}
