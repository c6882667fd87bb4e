import { AppError } from '../../util/app-error.js';

/** Why an MSE/PE handshake failed; a stable code and the words that end up in a capture's `error`. */
export type MseErrorCode =
  /** The peer answered our DH key with a plaintext BitTorrent handshake (it does not speak MSE). */
  | 'MSE_PLAINTEXT_REPLY'
  /** A DH public key of 0, 1 or ≥ P−1. */
  | 'MSE_BAD_KEY'
  /** The synchronisation marker (ENCRYPT(VC) or HASH('req1', S)) not within pad + marker bytes. */
  | 'MSE_SYNC_NOT_FOUND'
  /** VC did not decrypt to zeros. */
  | 'MSE_BAD_VC'
  /** crypto_select / crypto_provide names no method both sides allow. */
  | 'MSE_NO_COMMON_METHOD'
  /** A pad length above 512. */
  | 'MSE_PAD_TOO_LONG'
  /** HASH('req2', SKEY) names no torrent the responder knows. */
  | 'MSE_UNKNOWN_TORRENT';

const WORDS: Record<MseErrorCode, string> = {
  MSE_PLAINTEXT_REPLY: 'encryption: peer answered in plaintext',
  MSE_BAD_KEY: 'encryption: invalid DH key',
  MSE_SYNC_NOT_FOUND: 'encryption: handshake marker not found',
  MSE_BAD_VC: 'encryption: wrong verification constant',
  MSE_NO_COMMON_METHOD: 'encryption: no common method',
  MSE_PAD_TOO_LONG: 'encryption: padding too long',
  MSE_UNKNOWN_TORRENT: 'encryption: unknown torrent',
};

export class MseError extends AppError {
  declare readonly code: MseErrorCode;

  constructor(code: MseErrorCode, options?: { cause?: unknown }) {
    super(code, WORDS[code], options);
    this.name = 'MseError';
  }
}
