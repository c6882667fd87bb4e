import net from 'node:net';
import Wire from 'bittorrent-protocol';
import type { ConversationRecorder } from '../pcap/conversation.js';
import { clientName, sanitizeClientVersion } from '../protocol/client-name.js';
import { MAX_INFO_BYTES, type TorrentMetadata } from '../protocol/metainfo.js';
import { MAX_EXTENDED_HANDSHAKE, MAX_MESSAGE_LENGTH, MAX_METADATA_SIZE } from '../protocol/wire-limits.js';
import { errorMessage } from '../util/app-error.js';
import { decodeDictPrefix, own, type BencodeDict } from '../protocol/bencode-check.js';
import {
  CaptureError,
  type CaptureErrorCode,
  captureError,
  extendedHandshakeError,
  fastWithoutExtensionError,
  invalidInputError,
  socketError,
} from './capture-errors.js';
import { FrameReader, checkMessage, type Frame } from './frame-reader.js';
import type { CaptureSocket, Dial } from './mse-socket.js';
import { MetadataFetch, metadataExtension, peerUtMetadataId, type MetadataResult } from './metadata-fetch.js';
import { EXTENDED_VERSION } from './peer-id.js';
import { PeerPieces } from './peer-pieces.js';

/**
 * The capture of one peer: connect, BEP 3 handshake (advertising BEP 10 and BEP 6), read what
 * the peer says it has (bitfield / have_all / have_none, then HAVEs for a short window),
 * optionally fetch the metadata (BEP 9), and report. Never throws; always closes the socket and
 * clears its timer.
 *
 * Layering: socket → FrameReader (caps message length, rejects non-BitTorrent streams) → checks
 * here (handshake infohash, message sizes, bitfield, extended handshake bencode) → Wire.
 * bittorrent-protocol's Wire builds what we send (handshake reserved bits, the extended
 * handshake with our `m`, ut_metadata messages, fast-extension rejects) and routes ut_metadata
 * messages to our BEP 9 extension; the peer's piece state is taken from the checked frames
 * directly, synchronously, so a report never misses a message the Wire has not processed yet
 * (it parses a microtask later).
 */

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
   * bitfield). Default 5,000 ms; bounded by the idle and total deadlines.
   */
  pieceStateWaitMs?: number;
  /** Our 20-byte peer id (see `makePeerId`). */
  peerId: Uint8Array;
  localAddress?: string;
  /** Largest metadata we fetch; default and ceiling MAX_METADATA_SIZE (10 MiB). */
  maxMetadataBytes?: number;
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

export { EXTENDED_VERSION, makePeerId } from './peer-id.js';

/** How long after the handshake we wait for a peer's first bitfield / have_all / have_none / HAVE. */
export const DEFAULT_PIECE_STATE_WAIT_MS = 5_000;

type Phase = 'connecting' | 'handshaking' | 'observing' | 'done';

/** Captures one peer. Resolves with the outcome; never rejects. */
export function capturePeer(input: PeerCaptureInput, options: PeerCaptureOptions, signal?: AbortSignal): Promise<PeerCaptureOutcome> {
  return new Promise((resolve) => {
    const capture = new PeerCapture(input, options, signal, resolve);
    try {
      capture.start();
    } catch (err) {
      capture.fail(err);
    }
  });
}

class PeerCapture {
  private readonly t0 = performance.now();
  private phase: Phase = 'connecting';
  private socket: CaptureSocket | undefined;
  private wire: Wire | undefined;
  private readonly reader = new FrameReader(MAX_MESSAGE_LENGTH);
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  private readonly totalAt: number;
  private readonly connectAt: number;
  private handshakeAt = Infinity;
  private windowAt = Infinity;
  private metadataAt = Infinity;
  private lastRxAt: number;
  private windowOver = false;
  private pieceStateSeen = false;
  private closedByPeer = false;
  /** Messages (not keep-alives) received after the peer's handshake. */
  private messagesSeen = 0;

  private infohashBytes: Buffer | undefined;
  private peerId: Uint8Array | undefined;
  private peerFast = false;
  private peerExtended = false;
  private extendedSeen = false;
  private extendedV: string | undefined;

  /** What the peer told us it has. */
  private readonly pieces: PeerPieces;

  private metadataFetch: MetadataFetch | undefined;
  private metadataResult: MetadataResult | undefined;
  /** The peer's first extended handshake (checked), and its ut_metadata id. */
  private peerHandshake: BencodeDict | undefined;
  private utMetadataId: number | undefined;

  constructor(
    private readonly input: PeerCaptureInput,
    private readonly options: PeerCaptureOptions,
    private readonly signal: AbortSignal | undefined,
    private readonly resolve: (outcome: PeerCaptureOutcome) => void,
  ) {
    this.totalAt = this.t0 + options.totalTimeoutMs;
    this.connectAt = this.t0 + options.connectTimeoutMs;
    this.lastRxAt = this.t0;
    this.pieces = new PeerPieces(input.pieceCount);
  }

  start(): void {
    const { input, options } = this;
    if (!/^[0-9a-fA-F]{40}$/.test(input.infohash)) throw invalidInputError('infohash must be 40 hex digits');
    if (!(options.peerId instanceof Uint8Array) || options.peerId.length !== 20) throw invalidInputError('peerId must be 20 bytes');
    if (!Number.isInteger(input.port) || input.port < 1 || input.port > 65535) throw invalidInputError(`port ${input.port}`);
    if (net.isIP(input.ip) === 0) throw invalidInputError(`ip ${input.ip}`);
    if (input.pieceCount !== undefined && !(Number.isSafeInteger(input.pieceCount) && input.pieceCount > 0)) {
      throw invalidInputError(`pieceCount ${input.pieceCount}`);
    }
    this.infohashBytes = Buffer.from(input.infohash, 'hex');
    if (this.signal?.aborted) throw captureError('ABORTED');
    this.signal?.addEventListener('abort', this.onAbort);

    const target = { host: input.ip, port: input.port, localAddress: options.localAddress };
    const socket: CaptureSocket = input.dial !== undefined ? input.dial(target) : net.connect(target);
    this.socket = socket;
    socket.on('connect', () => this.guard(() => this.onConnect()));
    socket.on('data', (chunk: Buffer) => this.guard(() => this.onData(chunk)));
    socket.on('end', () => this.guard(() => this.onEnd()));
    socket.on('error', (err) => this.guard(() => this.onSocketError(err)));
    socket.on('close', () => this.guard(() => this.onPeerGone(captureError('PEER_CLOSED'))));
    this.schedule();
  }

  /** Runs an event handler; anything it throws ends the capture instead of escaping. */
  private guard(fn: () => void): void {
    if (this.phase === 'done') return;
    try {
      fn();
    } catch (err) {
      this.fail(err);
    }
  }

  private readonly onAbort = (): void => this.guard(() => this.fail(captureError('ABORTED')));

  // ---------------------------------------------------------------------------------------------
  // Socket events
  // ---------------------------------------------------------------------------------------------

  private onConnect(): void {
    const socket = this.socket as CaptureSocket;
    const now = performance.now();
    this.phase = 'handshaking';
    this.handshakeAt = now + this.options.handshakeTimeoutMs;
    this.lastRxAt = now;
    socket.setNoDelay(true);
    const recorder = this.input.recorder;
    if (recorder !== undefined) {
      const local = recorder.conversation.local;
      if (local.port === 0 && socket.localPort !== undefined) {
        recorder.conversation.local = { ip: socket.localAddress ?? local.ip, port: socket.localPort };
      }
      recorder.connect();
    }

    const fetch = new MetadataFetch({
      infohash: this.input.infohash.toLowerCase(),
      maxBytes: Math.min(this.options.maxMetadataBytes ?? MAX_METADATA_SIZE, MAX_METADATA_SIZE, MAX_INFO_BYTES),
      send: (payload) => this.sendMetadataMessage(payload),
      onDone: (result) => this.guard(() => this.onMetadataDone(result)),
    });
    this.metadataFetch = fetch;
    const wire = new Wire('tcpOutgoing');
    this.wire = wire;
    // Our extended handshake: `m` (filled by the Wire from use()) and `v`; no metadata_size.
    wire.extendedHandshake = { v: EXTENDED_VERSION };
    wire.use(metadataExtension(fetch));
    wire.on('data', (chunk) => this.guard(() => this.send(chunk)));
    wire.on('extended', (ext) => {
      if (ext === 'handshake') this.guard(() => this.onWireExtendedHandshake());
    });
    wire.on('error', () => undefined);
    wire.handshake(this.infohashBytes as Buffer, this.options.peerId, { fast: true, dht: false });
    this.schedule();
  }

  /** Bytes the Wire produced: to the socket, exactly as recorded. */
  private send(chunk: Uint8Array): void {
    this.input.recorder?.data('out', chunk);
    this.socket?.write(chunk);
  }

  private onData(chunk: Buffer): void {
    this.input.recorder?.data('in', chunk);
    this.lastRxAt = performance.now();
    for (const frame of this.reader.push(chunk)) {
      if (this.phase === 'done') return;
      this.onFrame(frame);
    }
  }

  private onEnd(): void {
    this.closedByPeer = true;
    this.input.recorder?.fin('in');
    this.onPeerGone(captureError('PEER_CLOSED'));
  }

  private onSocketError(err: Error): void {
    const mapped = err instanceof CaptureError ? err : socketError(err);
    if (mapped.code === 'CONNECTION_RESET' || mapped.code === 'CONNECTION_REFUSED') {
      this.closedByPeer = true;
      this.input.recorder?.reset('in');
    }
    this.onPeerGone(mapped);
  }

  /**
   * The connection ended from the peer's side (or failed). After the handshake, a peer that
   * already told us its pieces gets its report; otherwise the capture fails with `err`.
   */
  private onPeerGone(err: CaptureError): void {
    if (this.phase === 'observing' && this.pieces.announced) {
      const metadataWords = err.code === 'PEER_CLOSED' ? 'peer closed the connection' : err.message;
      this.metadataFetch?.fail(`metadata: ${metadataWords}`);
      this.finishOk();
      return;
    }
    this.fail(err);
  }

  // ---------------------------------------------------------------------------------------------
  // Frames
  // ---------------------------------------------------------------------------------------------

  private onFrame(frame: Frame): void {
    const wire = this.wire as Wire;
    if (frame.kind === 'handshake') {
      if (!(this.infohashBytes as Buffer).equals(frame.infohash)) throw captureError('WRONG_INFOHASH');
      this.peerId = new Uint8Array(frame.peerId);
      this.peerExtended = ((frame.reserved[5] as number) & 0x10) !== 0;
      this.peerFast = ((frame.reserved[7] as number) & 0x04) !== 0;
      const now = performance.now();
      this.phase = 'observing';
      // Until the peer's first piece-state message, the window is the wait for it.
      this.windowAt = now + (this.options.pieceStateWaitMs ?? DEFAULT_PIECE_STATE_WAIT_MS);
      this.metadataAt = this.totalAt - Math.min(250, this.options.totalTimeoutMs * 0.1);
      if (this.input.fetchMetadata && !this.peerExtended) {
        this.metadataFetch?.fail('metadata: peer does not support the extension protocol');
      }
      wire.write(frame.raw);
      this.schedule();
      return;
    }
    if (frame.id === -1) return; // keep-alive: nothing to learn, nothing for the Wire to do
    this.messagesSeen++;
    const spec = checkMessage(frame.id, frame.payload.length);
    if (spec === undefined) return; // unknown message: ignored, as BEP 3 intends
    if (spec.fast && !this.peerFast) {
      // The Wire destroys itself on these (BEP 6: MUST close). Piece state without the
      // extension is a violation we report; the rest we drop.
      if (frame.id === 14 || frame.id === 15) throw fastWithoutExtensionError(spec.name);
      return;
    }
    if (frame.id === 4 || frame.id === 5 || frame.id === 14 || frame.id === 15) this.onPieceState();
    switch (frame.id) {
      case 4:
        this.pieces.onHave(Buffer.from(frame.payload).readUInt32BE(0));
        break;
      case 5:
        this.pieces.onBitfield(frame.payload);
        break;
      case 14:
        this.pieces.onHaveAll();
        break;
      case 15:
        this.pieces.onHaveNone();
        break;
      case 20:
        if (frame.payload[0] === 0) this.onExtendedHandshake(frame.payload.subarray(1));
        break;
    }
    wire.write(frame.raw);
    this.checkDone();
  }

  /** The first piece-state message starts the HAVE window. */
  private onPieceState(): void {
    if (this.pieceStateSeen || this.windowOver) return;
    this.pieceStateSeen = true;
    this.windowAt = performance.now() + this.options.haveWindowMs;
    this.schedule();
  }

  private onExtendedHandshake(body: Uint8Array): void {
    if (body.length > MAX_EXTENDED_HANDSHAKE) throw extendedHandshakeError('too long');
    const decoded = decodeDictPrefix(body);
    if (decoded === undefined) throw extendedHandshakeError('invalid');
    const handshake = decoded.dict;
    const v = own(handshake, 'v');
    if (v instanceof Uint8Array) this.extendedV = Buffer.from(v).toString('utf8');
    if (this.extendedSeen) return; // a later handshake may update `v`; the fetch starts once
    this.extendedSeen = true;
    this.peerHandshake = handshake;
  }

  // ---------------------------------------------------------------------------------------------
  // Metadata
  // ---------------------------------------------------------------------------------------------

  /**
   * Starts the fetch once the Wire has parsed the same extended handshake (its 'extended'
   * event): by then it has sent ours, so our requests follow our `m` on the wire.
   */
  private onWireExtendedHandshake(): void {
    const handshake = this.peerHandshake;
    if (handshake === undefined || !this.input.fetchMetadata || this.metadataFetch?.started !== false) return;
    this.utMetadataId = peerUtMetadataId(handshake);
    this.metadataFetch.start(handshake);
  }

  private sendMetadataMessage(payload: Uint8Array): void {
    if (this.phase === 'done' || this.wire === undefined || this.utMetadataId === undefined) return;
    this.wire.extended(this.utMetadataId, payload);
  }

  private onMetadataDone(result: MetadataResult): void {
    this.metadataResult = result;
    this.checkDone();
  }

  private get metadataPending(): boolean {
    return this.input.fetchMetadata && this.metadataResult === undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Deadlines: one timer, armed for the nearest one; idle is checked lazily when it fires.
  // ---------------------------------------------------------------------------------------------

  private nextDeadline(): number {
    const idleAt = this.lastRxAt + this.options.idleTimeoutMs;
    switch (this.phase) {
      case 'connecting':
        return Math.min(this.totalAt, this.connectAt);
      case 'handshaking':
        return Math.min(this.totalAt, this.handshakeAt, idleAt);
      case 'observing':
        return Math.min(
          this.totalAt,
          idleAt,
          this.windowOver ? Infinity : this.windowAt,
          this.metadataPending ? this.metadataAt : Infinity,
        );
      default:
        return Infinity;
    }
  }

  private schedule(): void {
    if (this.phase === 'done') return;
    const at = this.nextDeadline();
    if (at === this.timerAt && this.timer !== undefined) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.guard(() => this.onTimer()), Math.max(1, Math.ceil(at - performance.now())));
  }

  private onTimer(): void {
    this.timer = undefined;
    const now = performance.now();
    const idleAt = this.lastRxAt + this.options.idleTimeoutMs;
    if (this.phase === 'connecting') {
      if (now >= Math.min(this.connectAt, this.totalAt)) {
        throw captureError(this.connectAt <= this.totalAt ? 'CONNECT_TIMEOUT' : 'TOTAL_TIMEOUT');
      }
    } else if (this.phase === 'handshaking') {
      const first = Math.min(this.totalAt, this.handshakeAt, idleAt);
      if (now >= first) {
        if (first === this.handshakeAt) throw captureError('HANDSHAKE_TIMEOUT');
        throw captureError(first === this.totalAt ? 'TOTAL_TIMEOUT' : 'IDLE_TIMEOUT');
      }
    } else if (this.phase === 'observing') {
      if (now >= this.totalAt) {
        this.metadataFetch?.fail('metadata: timeout');
        return this.finishOk();
      }
      if (now >= idleAt) {
        this.metadataFetch?.fail('metadata: idle timeout');
        return this.finishOk();
      }
      if (this.metadataPending && now >= this.metadataAt) this.metadataFetch?.fail('metadata: timeout');
      if (!this.windowOver && now >= this.windowAt) this.windowOver = true;
      this.checkDone();
    }
    this.schedule();
  }

  /** After the window (or early, for a seeder we have heard everything from), report. */
  private checkDone(): void {
    if (this.phase !== 'observing') return;
    if (this.windowOver && this.input.fetchMetadata && !this.extendedSeen) {
      this.metadataFetch?.fail('metadata: no extended handshake from the peer');
    }
    if (this.metadataPending) return;
    const seeder = this.pieces.isSeeder(this.knownPieceCount());
    if (this.windowOver || (seeder && (this.extendedSeen || !this.peerExtended))) this.finishOk();
  }

  private knownPieceCount(): number | undefined {
    return this.metadataResult?.ok === true ? this.metadataResult.metadata.pieceCount : this.input.pieceCount;
  }

  // ---------------------------------------------------------------------------------------------
  // The end
  // ---------------------------------------------------------------------------------------------

  private finishOk(): void {
    if (this.phase !== 'observing') return;
    const pieceCount = this.knownPieceCount();
    const { hasPieces, hasTotal, outOfRangeHaves } = this.pieces.summary(pieceCount);
    const peerId = this.peerId as Uint8Array;
    const metadata = this.metadataResult?.ok === true ? this.metadataResult.metadata : undefined;
    const metadataError = this.metadataResult?.ok === false ? this.metadataResult.error : undefined;
    const extendedVersion = sanitizeClientVersion(this.extendedV);
    this.end({
      ok: true,
      date: Date.now(),
      hasPieces,
      pieceCount,
      hasTotal,
      clientName: clientName(this.extendedV, peerId),
      peerIdHex: Buffer.from(peerId).toString('hex'),
      ...(extendedVersion !== undefined ? { extendedVersion } : {}),
      ...(metadata !== undefined ? { metadata } : {}),
      ...(metadataError !== undefined && this.input.fetchMetadata ? { metadataError } : {}),
      ...(outOfRangeHaves > 0 ? { outOfRangeHaves } : {}),
      ...(this.messagesSeen === 0 ? { silent: true as const } : {}),
      durationMs: 0,
    });
  }

  fail(err: unknown): void {
    if (this.phase === 'done') return;
    const error = err instanceof CaptureError ? err.message : `internal error: ${errorMessage(err)}`;
    const code = err instanceof CaptureError ? err.code : 'INTERNAL';
    const failedIn = this.phase;
    const named = this.peerId !== undefined ? { clientName: clientName(this.extendedV, this.peerId) } : {};
    this.end({ ok: false, error, code, failedIn, ...named, durationMs: 0 });
  }

  private end(outcome: PeerCaptureOutcome): void {
    if (this.phase === 'done') return;
    const wasConnected = this.phase !== 'connecting';
    this.phase = 'done';
    clearTimeout(this.timer);
    this.timer = undefined;
    this.signal?.removeEventListener('abort', this.onAbort);
    try {
      this.wire?.destroy();
    } catch {
      // the Wire is discarded either way
    }
    if (this.socket !== undefined) {
      // We close: a FIN once connected; an attempt we give up on has no frames, only a reset.
      if (!this.closedByPeer) {
        if (wasConnected) this.input.recorder?.fin('out');
        else this.input.recorder?.reset('out');
      }
      this.socket.destroy();
    }
    outcome.durationMs = Math.round(performance.now() - this.t0);
    this.resolve(outcome);
  }
}
