import type { ConversationRecorder } from '../pcap/conversation.js';
import type { CaptureErrorCode } from './capture-errors.js';
import type { Dial } from './mse-socket.js';
import type { TorrentMetadata } from '../protocol/metainfo.js';

/** The options, input and outcome of one peer capture (see peer-capture.ts). */

export interface PeerCaptureOptions {
  connectTimeoutMs: number;
  handshakeTimeoutMs: number;
  /** No byte received for this long: before the handshake an error, after it the end of the observation. */
  idleTimeoutMs: number;
  totalTimeoutMs: number;
  /**
   * How long to keep listening for HAVE messages, counted from the peer's first piece-state
   * message (bitfield, have_all, have_none or HAVE): clients send it at their own pace, often
   * after their extended handshake (Transmission: about 500 ms after the BitTorrent handshake).
   */
  haveWindowMs: number;
  /**
   * How long after the handshake to wait for that first piece-state message; a peer that sends
   * none in this time is reported as having no pieces (BEP 3 lets a peer with no pieces skip the
   * bitfield), with a note. Default 5,000 ms; bounded by the idle and total deadlines.
   */
  pieceStateWaitMs?: number;
  /** Our 20-byte peer id (see `makePeerId`). */
  peerId: Uint8Array;
  localAddress?: string;
  /** Largest metadata we fetch; default and ceiling MAX_METADATA_SIZE (10 MiB). */
  maxMetadataBytes?: number;
  /** Messages parsed per connection per turn of the event loop before it yields (default 256). */
  framesPerTurn?: number;
}

/** Memory beyond the capture's base reservation (the metadata being fetched); false = refused. */
export interface MemoryLease {
  grow(bytes: number): boolean;
}

export interface PeerCaptureInput {
  ip: string;
  port: number;
  /** Infohash, hex. */
  infohash: string;
  /** Unknown when the torrent's metadata is missing. */
  pieceCount?: number;
  fetchMetadata: boolean;
  recorder?: ConversationRecorder;
  /** The daemon's capture memory budget, for the metadata a fetch will hold. */
  memory?: MemoryLease;
  /** Opens the connection (default net.connect); an MseSocket for an encrypted attempt. */
  dial?: Dial;
}

export type PeerCaptureOutcome =
  | {
      ok: true;
      /** Milliseconds since the epoch when the report was made. */
      date: number;
      hasPieces: number;
      pieceCount: number | undefined;
      hasTotal: boolean;
      clientName: string;
      peerIdHex: string;
      extendedVersion?: string;
      metadata?: TorrentMetadata;
      metadataError?: string;
      /** HAVE messages with an index outside the torrent, ignored (present only when > 0). */
      outOfRangeHaves?: number;
      /**
       * What the report's numbers cannot say, in operator words: why the piece count is unknown
       * (the metadata error), a peer that said nothing after its handshake, an idle or timed-out
       * observation. Absent when there is nothing to add.
       */
      notes?: string[];
      /** The peer sent no message at all after its handshake (present only when true). */
      silent?: true;
      durationMs: number;
    }
  | {
      ok: false;
      error: string;
      code?: CaptureErrorCode;
      /** Where it failed: before the TCP connect, before the peer's BitTorrent handshake, or after it. */
      failedIn?: 'connecting' | 'handshaking' | 'observing';
      /** The client's name, when its handshake came before the failure. */
      clientName?: string;
      durationMs: number;
    };

/** How long after the handshake we wait for a peer's first bitfield / have_all / have_none / HAVE. */
export const DEFAULT_PIECE_STATE_WAIT_MS = 5_000;
/** Messages parsed per connection per turn of the event loop. */
export const DEFAULT_FRAMES_PER_TURN = 256;
