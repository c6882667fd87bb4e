import net from 'node:net';
import Wire from 'bittorrent-protocol';
import { clientName } from '../protocol/client-name.js';
import { MAX_INFO_BYTES } from '../protocol/metainfo.js';
import { MAX_MESSAGE_LENGTH, MAX_METADATA_SIZE } from '../protocol/wire-limits.js';
import { errorMessage } from '../util/app-error.js';
import { CaptureError, captureError, invalidInputError, socketError } from './capture-errors.js';
import { captureReport, type Ending } from './capture-report.js';
import { FrameReader, type Frame } from './frame-reader.js';
import type { CaptureSocket } from './mse-socket.js';
import { MetadataFetch, metadataExtension, peerUtMetadataId, type MetadataResult } from './metadata-fetch.js';
import {
  DEFAULT_FRAMES_PER_TURN,
  DEFAULT_PIECE_STATE_WAIT_MS,
  type PeerCaptureInput,
  type PeerCaptureOptions,
  type PeerCaptureOutcome,
} from './peer-capture-types.js';
import { EXTENDED_VERSION } from './peer-id.js';
import { PeerMessages } from './peer-messages.js';

/**
 * The capture of one peer: connect, BEP 3 handshake (advertising BEP 10 and BEP 6), read what
 * the peer says it has (bitfield / have_all / have_none, then HAVEs for a short window),
 * optionally fetch the metadata (BEP 9), and report. Never throws; always closes the socket and
 * clears its timer.
 *
 * Layering: socket → FrameReader (caps message length, drops what the capture cannot use unread,
 * rejects non-BitTorrent streams) → PeerMessages (checks, piece state, flood limits) → Wire.
 * Our handshake is sent at connect (`handshakeBytes`); bittorrent-protocol's Wire, built when the
 * peer's handshake arrives (a dropped attempt costs none), builds what we send after it (the
 * extended handshake with our `m`, ut_metadata messages, fast-extension rejects) and routes
 * ut_metadata messages to our BEP 9 extension; it sees only the handshake, extended and control
 * messages.
 *
 * Fairness: at most `framesPerTurn` messages are parsed per connection per turn of the event
 * loop; then the socket is paused (TCP flow control slows the peer) until the next turn, so a
 * flooding peer cannot starve the DHT socket, the API or the other captures.
 */

export type { PeerCaptureInput, PeerCaptureOptions, PeerCaptureOutcome } from './peer-capture-types.js';
export { DEFAULT_PIECE_STATE_WAIT_MS } from './peer-capture-types.js';
export { EXTENDED_VERSION, makePeerId } from './peer-id.js';

type Phase = 'connecting' | 'handshaking' | 'observing' | 'done';

/** What we advertise (BEP 10 always, as the Wire does; BEP 6; no DHT port). */
const HANDSHAKE_EXTENSIONS = { fast: true, dht: false } as const;
const PROTOCOL = Buffer.from('\u0013BitTorrent protocol', 'latin1');

/** Our BEP 3 handshake, byte for byte what bittorrent-protocol's Wire builds for HANDSHAKE_EXTENSIONS. */
export function handshakeBytes(infohash: Uint8Array, peerId: Uint8Array): Buffer {
  const out = Buffer.alloc(68);
  PROTOCOL.copy(out, 0);
  out[20 + 5] = 0x10; // extension protocol (BEP 10)
  out[20 + 7] = 0x04; // fast extension (BEP 6)
  out.set(infohash, 28);
  out.set(peerId, 48);
  return out;
}

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
  private messages: PeerMessages | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  /** Parsing yielded to the event loop (socket paused) and resumes on the next turn. */
  private yielded = false;

  private readonly totalAt: number;
  private readonly connectAt: number;
  private handshakeAt = Infinity;
  private windowAt = Infinity;
  private metadataAt = Infinity;
  private lastRxAt: number;
  private windowOver = false;
  private pieceStateSeen = false;
  private peerExtended = false;
  private closedByPeer = false;

  private infohashBytes: Buffer | undefined;
  private peerId: Uint8Array | undefined;

  private metadataFetch: MetadataFetch | undefined;
  private metadataResult: MetadataResult | undefined;
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

    // Our handshake goes out now; the Wire (and the metadata fetch) are built only when the peer
    // answers with its own: a dropped or silent attempt costs no Wire (a first plain attempt at a
    // peer that requires encryption, a dead or non-BitTorrent listener).
    this.send(handshakeBytes(this.infohashBytes as Buffer, this.options.peerId));
    this.schedule();
  }

  /**
   * The peer's handshake arrived: the Wire that builds what we send from now on (extended
   * handshake, ut_metadata, fast-extension rejects), told that our handshake is already out.
   */
  private startWire(): Wire {
    const fetch = new MetadataFetch({
      infohash: this.input.infohash.toLowerCase(),
      maxBytes: Math.min(this.options.maxMetadataBytes ?? MAX_METADATA_SIZE, MAX_METADATA_SIZE, MAX_INFO_BYTES),
      send: (payload) => this.sendMetadataMessage(payload),
      onDone: (result) => this.guard(() => this.onMetadataDone(result)),
      ...(this.input.memory !== undefined ? { memory: this.input.memory } : {}),
    });
    this.metadataFetch = fetch;
    const wire = new Wire('tcpOutgoing');
    this.wire = wire;
    // Our extended handshake: `m` (filled by the Wire from use()) and `v`; no metadata_size.
    wire.extendedHandshake = { v: EXTENDED_VERSION };
    wire.use(metadataExtension(fetch));
    // The Wire's first output is the handshake it builds below: the same bytes we sent at connect.
    let handshakeSent = false;
    wire.on('data', (chunk: Uint8Array) => {
      if (!handshakeSent && chunk.length === 68) {
        handshakeSent = true;
        return;
      }
      this.guard(() => this.send(chunk));
    });
    wire.on('extended', (ext) => {
      if (ext === 'handshake') this.guard(() => this.onWireExtendedHandshake());
    });
    wire.on('error', () => undefined);
    wire.handshake(this.infohashBytes as Buffer, this.options.peerId, HANDSHAKE_EXTENSIONS);
    return wire;
  }

  /** Bytes we send: to the socket, exactly as recorded. */
  private send(chunk: Uint8Array): void {
    this.input.recorder?.data('out', chunk);
    this.socket?.write(chunk);
  }

  private onData(chunk: Buffer): void {
    this.input.recorder?.data('in', chunk);
    this.lastRxAt = performance.now();
    this.reader.append(chunk);
    if (!this.yielded) this.drain();
  }

  /** Parses up to framesPerTurn frames; with more waiting, pauses the socket until the next turn. */
  private drain(): void {
    const budget = this.options.framesPerTurn ?? DEFAULT_FRAMES_PER_TURN;
    for (let n = 0; n < budget; n++) {
      if (this.phase === 'done') return;
      const frame = this.reader.next();
      if (frame === undefined) return;
      this.onFrame(frame);
    }
    if (this.phase === 'done' || this.reader.pending === 0) return;
    this.yielded = true;
    this.socket?.pause();
    setImmediate(() =>
      this.guard(() => {
        this.yielded = false;
        this.drain();
        if (!this.yielded && this.phase !== 'done') this.socket?.resume();
      }),
    );
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
    if (this.phase === 'observing' && this.messages?.pieces.announced === true) {
      // Frames already received (waiting for the next turn) still count.
      while (this.phase === 'observing') {
        const frame = this.reader.next();
        if (frame === undefined) break;
        this.onFrame(frame);
      }
      const metadataWords = err.code === 'PEER_CLOSED' ? 'peer closed the connection' : err.message;
      this.metadataFetch?.fail(`metadata: ${metadataWords}`);
      this.finishOk(this.windowOver ? 'window' : 'peer-closed');
      return;
    }
    this.fail(err);
  }

  // ---------------------------------------------------------------------------------------------
  // Frames
  // ---------------------------------------------------------------------------------------------

  private onFrame(frame: Frame): void {
    if (frame.kind === 'handshake') {
      if (!(this.infohashBytes as Buffer).equals(frame.infohash)) throw captureError('WRONG_INFOHASH');
      this.peerId = new Uint8Array(frame.peerId);
      const extended = ((frame.reserved[5] as number) & 0x10) !== 0;
      const fast = ((frame.reserved[7] as number) & 0x04) !== 0;
      this.peerExtended = extended;
      this.messages = new PeerMessages({ fast, extended }, this.input.pieceCount);
      const now = performance.now();
      this.phase = 'observing';
      // Until the peer's first piece-state message, the window is the wait for it.
      this.windowAt = now + this.pieceStateWaitMs;
      this.metadataAt = this.totalAt - Math.min(250, this.options.totalTimeoutMs * 0.1);
      const wire = this.startWire();
      if (this.input.fetchMetadata && !extended) {
        this.metadataFetch?.fail('metadata: peer does not support the extension protocol');
      }
      wire.write(frame.raw);
      this.schedule();
      return;
    }
    const wire = this.wire as Wire;
    const messages = this.messages as PeerMessages;
    const verdict = messages.onFrame(frame, this.knownPieceCount(), this.metadataPending);
    if (verdict.pieceState) this.onPieceState();
    if (verdict.toWire && frame.kind === 'message') wire.write(frame.raw);
    this.checkDone();
  }

  private get pieceStateWaitMs(): number {
    return this.options.pieceStateWaitMs ?? DEFAULT_PIECE_STATE_WAIT_MS;
  }

  /** The first piece-state message starts the HAVE window. */
  private onPieceState(): void {
    if (this.pieceStateSeen || this.windowOver) return;
    this.pieceStateSeen = true;
    this.windowAt = performance.now() + this.options.haveWindowMs;
    this.schedule();
  }

  // ---------------------------------------------------------------------------------------------
  // Metadata
  // ---------------------------------------------------------------------------------------------

  /**
   * Starts the fetch once the Wire has parsed the same extended handshake (its 'extended'
   * event): by then it has sent ours, so our requests follow our `m` on the wire.
   */
  private onWireExtendedHandshake(): void {
    const handshake = this.messages?.extendedHandshake;
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
        return this.finishOk('total');
      }
      if (now >= idleAt) {
        this.metadataFetch?.fail('metadata: idle timeout');
        return this.finishOk(this.windowOver ? 'window' : 'idle');
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
    const messages = this.messages as PeerMessages;
    if (this.windowOver && this.input.fetchMetadata && !messages.extendedSeen) {
      this.metadataFetch?.fail('metadata: no extended handshake from the peer');
    }
    if (this.metadataPending) return;
    const seeder = messages.pieces.isSeeder(this.knownPieceCount());
    if (this.windowOver) this.finishOk('window');
    else if (seeder && (messages.extendedSeen || !this.peerExtended)) this.finishOk('complete');
  }

  private knownPieceCount(): number | undefined {
    return this.metadataResult?.ok === true ? this.metadataResult.metadata.pieceCount : this.input.pieceCount;
  }

  // ---------------------------------------------------------------------------------------------
  // The end
  // ---------------------------------------------------------------------------------------------

  private finishOk(ending: Ending): void {
    if (this.phase !== 'observing') return;
    this.end(
      captureReport({
        messages: this.messages as PeerMessages,
        pieceCount: this.knownPieceCount(),
        peerId: this.peerId as Uint8Array,
        fetchMetadata: this.input.fetchMetadata,
        metadataResult: this.metadataResult,
        ending,
        idleTimeoutMs: this.options.idleTimeoutMs,
        totalTimeoutMs: this.options.totalTimeoutMs,
        pieceStateWaitMs: this.pieceStateWaitMs,
      }),
    );
  }

  fail(err: unknown): void {
    if (this.phase === 'done') return;
    const error = err instanceof CaptureError ? err.message : `internal error: ${errorMessage(err)}`;
    const code = err instanceof CaptureError ? err.code : 'INTERNAL';
    const failedIn = this.phase;
    const named = this.peerId !== undefined ? { clientName: clientName(this.messages?.extendedV, this.peerId) } : {};
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
