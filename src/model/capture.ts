/** GeoIP facts about a peer's address; absent fields are unknown. */
export interface PeerGeo {
  countryCode?: string;
  city?: string;
  isp?: string;
}

/** The result of a successful capture, as the Capture API reports it (dates in epoch ms here). */
export interface CaptureReport {
  date: number;
  totalPiecesInTorrent: number;
  hasPieces: number;
  hasTotal: boolean;
  clientName: string;
  hostIdentifier: string;
  /**
   * Extension: what the capture noticed that the fields above cannot say, in operator words
   * (a metadata error, an unknown piece count, a peer silent after its handshake, bytes left out
   * of the pcap). Absent when there is nothing to add.
   */
  note?: string;
}

/** One capture attempt of one peer: a report, or an error in words an operator understands. */
export interface CaptureRecord extends PeerGeo {
  id: number;
  /** When the peer was found in the DHT (epoch ms). */
  foundAt: number;
  ip: string;
  port: number;
  infohash: string;
  report?: CaptureReport;
  error?: string;
  pcapPath?: string;
  /** How the conversation was carried: tcp, tcp+mse (encrypted, MSE/PE) or utp (BEP 29). Absent on captures stored before migration 16. */
  transport?: CaptureTransport;
}

export type CaptureTransport = 'tcp' | 'tcp+mse' | 'utp';

export type NewCapture = Omit<CaptureRecord, 'id'> & {
  /** Filters the peer matched: it is listed under each. */
  filters: readonly string[];
  /** Outbox rows to write in the same transaction (one per filter and notification target). */
  notify?: ReadonlyArray<{ filter: string; target: 'amqp' | 'email' }>;
};
