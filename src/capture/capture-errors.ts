import { AppError } from '../util/app-error.js';

/**
 * Why a capture failed: a stable code for counters and logs, and the operator words that go
 * into the capture report's `error`. A misbehaving peer is expected, so none of these is thrown
 * out of the capture: they end it with `{ ok: false, error: message }`.
 */
export type CaptureErrorCode =
  | 'INVALID_INPUT'
  | 'CONNECT_TIMEOUT'
  | 'CONNECTION_REFUSED'
  | 'CONNECTION_RESET'
  | 'HOST_UNREACHABLE'
  | 'NETWORK_UNREACHABLE'
  | 'LOCAL_ADDRESS_UNAVAILABLE'
  | 'SOCKET_ERROR'
  | 'HANDSHAKE_TIMEOUT'
  | 'WRONG_INFOHASH'
  | 'NOT_BITTORRENT'
  | 'PEER_CLOSED'
  | 'IDLE_TIMEOUT'
  | 'TOTAL_TIMEOUT'
  | 'ABORTED'
  | 'MESSAGE_TOO_LONG'
  | 'MALFORMED_MESSAGE'
  | 'EXTENDED_HANDSHAKE'
  | 'FAST_WITHOUT_EXTENSION'
  | 'BITFIELD_LENGTH'
  | 'BITFIELD_SPARE_BITS'
  /** The MSE/PE handshake failed (the words say how). */
  | 'ENCRYPTION_HANDSHAKE'
  | 'HAVE_FLOOD'
  | 'FLOOD'
  | 'INTERNAL';

export class CaptureError extends AppError {
  declare readonly code: CaptureErrorCode;

  constructor(code: CaptureErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'CaptureError';
  }
}

/** The fixed-wording errors. */
const WORDS = {
  CONNECT_TIMEOUT: 'connect timeout',
  CONNECTION_REFUSED: 'connection refused',
  CONNECTION_RESET: 'connection reset',
  HOST_UNREACHABLE: 'host unreachable',
  NETWORK_UNREACHABLE: 'network unreachable',
  LOCAL_ADDRESS_UNAVAILABLE: 'local address not available',
  HANDSHAKE_TIMEOUT: 'handshake timeout',
  WRONG_INFOHASH: 'handshake: wrong infohash',
  NOT_BITTORRENT: 'handshake: not BitTorrent',
  PEER_CLOSED: 'peer closed the connection',
  IDLE_TIMEOUT: 'idle timeout',
  TOTAL_TIMEOUT: 'total timeout',
  ABORTED: 'aborted',
  MESSAGE_TOO_LONG: 'protocol: message too long',
  BITFIELD_SPARE_BITS: 'bitfield: spare bits set',
} as const satisfies Partial<Record<CaptureErrorCode, string>>;

/**
 * The fixed-wording error of `code`, without a stack trace: these are what peers do (close, reset,
 * time out), each becomes its outcome's words and no one reads where it was raised; capturing the
 * stack cost ~8 µs each, ~2-5 % of a failed attempt (the dropped plain attempt before an encrypted
 * retry, and most dials on the real network).
 */
export function captureError(code: keyof typeof WORDS, options?: { cause?: unknown }): CaptureError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new CaptureError(code, WORDS[code], options);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export function bitfieldLengthError(pieceCount: number): CaptureError {
  return new CaptureError('BITFIELD_LENGTH', `bitfield: wrong length for ${pieceCount} pieces`);
}

/** More HAVE messages than the torrent has pieces (each piece can be announced once). */
export function haveFloodError(haves: number, pieces: number, known: boolean): CaptureError {
  const of = known ? `${pieces} pieces` : `at most ${pieces} pieces (piece count unknown)`;
  return new CaptureError('HAVE_FLOOD', `protocol: HAVE flood (${haves} HAVE messages for ${of})`);
}

/** More bytes of messages the capture never asked for and cannot use than a capture accepts. */
export function floodError(name: string, bytes: number): CaptureError {
  return new CaptureError('FLOOD', `protocol: flood of ${name} messages the capture never asked for (${bytes} bytes)`);
}

/** A bitfield longer than any torrent within the metadata cap can need, while the piece count is unknown. */
export function bitfieldTooLongError(bytes: number): CaptureError {
  return new CaptureError('BITFIELD_LENGTH', `bitfield: ${bytes} bytes, longer than any torrent's`);
}

export function malformedMessageError(name: string): CaptureError {
  return new CaptureError('MALFORMED_MESSAGE', `protocol: malformed ${name} message`);
}

export function fastWithoutExtensionError(name: string): CaptureError {
  return new CaptureError('FAST_WITHOUT_EXTENSION', `protocol: ${name} without the fast extension`);
}

export function extendedHandshakeError(what: 'too long' | 'invalid'): CaptureError {
  return new CaptureError('EXTENDED_HANDSHAKE', `protocol: extended handshake ${what}`);
}

export function invalidInputError(what: string): CaptureError {
  return new CaptureError('INVALID_INPUT', `invalid capture input: ${what}`);
}

/** Socket-level errors by errno code; anything else keeps its code in the words. */
const SOCKET_CODES: Record<string, keyof typeof WORDS> = {
  ECONNREFUSED: 'CONNECTION_REFUSED',
  ECONNRESET: 'CONNECTION_RESET',
  EPIPE: 'CONNECTION_RESET',
  ECONNABORTED: 'CONNECTION_RESET',
  EHOSTUNREACH: 'HOST_UNREACHABLE',
  EHOSTDOWN: 'HOST_UNREACHABLE',
  ENETUNREACH: 'NETWORK_UNREACHABLE',
  ENETDOWN: 'NETWORK_UNREACHABLE',
  ETIMEDOUT: 'CONNECT_TIMEOUT',
  EADDRNOTAVAIL: 'LOCAL_ADDRESS_UNAVAILABLE',
};

export function socketError(err: unknown): CaptureError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const known = code === undefined ? undefined : SOCKET_CODES[code];
  if (known !== undefined) return captureError(known, { cause: err });
  return new CaptureError('SOCKET_ERROR', `socket error: ${code ?? 'unknown'}`, { cause: err });
}
