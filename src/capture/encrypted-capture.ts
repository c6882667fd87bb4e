import type { CaptureErrorCode } from './capture-errors.js';
import type { EncryptionMemory, RememberedWay } from './encryption-memory.js';
import { MseSocket } from './mse-socket.js';
import type { PeerCaptureInput, PeerCaptureOutcome } from './peer-capture.js';

export { EncryptionMemory } from './encryption-memory.js';

/**
 * Plain or encrypted (MSE/PE), and the retry between them (config `capture.encryption`):
 * - `prefer-plain` (default): a plain handshake first; when the peer drops it (closes or resets
 *   the connection before its handshake: what libtorrent, Transmission and qBittorrent do when
 *   set to require encryption), one encrypted retry;
 * - `prefer-encrypted`: encrypted first; when that is dropped or fails, one plain retry;
 * With an EncryptionMemory, a peer that took only the other way is dialled that way first next time
 * (prefer-plain: peers that required encryption; prefer-encrypted: peers that refused it).
 * - `plain-only`, `encrypted-only`: one attempt, no retry.
 * The outcome says how the conversation that counted was carried (`encryption`) and whether a
 * first attempt was dropped. The pcap recorder keeps only the last attempt's conversation, as
 * decrypted, with a note saying how it was encrypted.
 */
export type EncryptionMode = 'prefer-plain' | 'prefer-encrypted' | 'plain-only' | 'encrypted-only';
export const ENCRYPTION_MODES = ['prefer-plain', 'prefer-encrypted', 'plain-only', 'encrypted-only'] as const;

/**
 * How the conversation was carried: plain TCP, MSE with RC4, MSE with the payload in plaintext,
 * or 'mse' for an encrypted attempt whose MSE handshake did not complete.
 */
export type Encryption = 'none' | 'mse' | 'mse-rc4' | 'mse-plaintext';

export type EncryptedCaptureOutcome = PeerCaptureOutcome & {
  encryption: Encryption;
  /** The first attempt (the other way) was dropped by the peer or failed its handshake. */
  retried?: { encryption: 'none' | 'mse'; error: string; code?: CaptureErrorCode };
};

export type CaptureFn = (input: PeerCaptureInput, signal: AbortSignal) => Promise<PeerCaptureOutcome>;

/** Failures before the peer's handshake that the other way may get past. */
const DROPPED: ReadonlySet<CaptureErrorCode> = new Set(['PEER_CLOSED', 'CONNECTION_RESET', 'ENCRYPTION_HANDSHAKE', 'NOT_BITTORRENT']);

function droppedAtHandshake(o: PeerCaptureOutcome): boolean {
  return !o.ok && o.failedIn === 'handshaking' && o.code !== undefined && DROPPED.has(o.code);
}

export async function captureWithEncryption(
  input: PeerCaptureInput,
  mode: EncryptionMode,
  capture: CaptureFn,
  signal: AbortSignal,
  memory?: EncryptionMemory,
): Promise<EncryptedCaptureOutcome> {
  if (memory !== undefined) {
    // Known to take only the other way: that way first; a drop means it changed its mind, and the
    // mode's own way (the retry) working makes it forgotten.
    const way = memory.wayOf(input.ip, input.port);
    const flipped = mode === 'prefer-plain' && way === 'encrypted' ? 'prefer-encrypted' : mode === 'prefer-encrypted' && way === 'plain' ? 'prefer-plain' : undefined;
    if (flipped !== undefined) {
      const o = await captureOnce(input, flipped, capture, signal);
      // The mode's own way worked after the remembered one was dropped: forgotten. The remembered
      // way worked: confirmed, its TTL starts again (at most hourly; recaptures keep a peer known).
      if (o.ok && o.retried !== undefined) memory.forget(input.ip, input.port);
      else if (o.ok) memory.confirm(input.ip, input.port, way as RememberedWay);
      return o;
    }
  }
  const outcome = await captureOnce(input, mode, capture, signal);
  // The mode's first way was dropped and the other worked: remember which (only the prefer-* modes retry).
  if (memory !== undefined && outcome.ok && outcome.retried !== undefined) {
    memory.remember(input.ip, input.port, Date.now(), outcome.encryption === 'none' ? 'plain' : 'encrypted');
  }
  return outcome;
}

async function captureOnce(
  input: PeerCaptureInput,
  mode: EncryptionMode,
  capture: CaptureFn,
  signal: AbortSignal,
): Promise<EncryptedCaptureOutcome> {
  const encryptedFirst = mode === 'prefer-encrypted' || mode === 'encrypted-only';
  const first = await attempt(input, encryptedFirst, capture, signal);
  const mayRetry = mode === 'prefer-plain' || mode === 'prefer-encrypted';
  if (!mayRetry || first.ok || !droppedAtHandshake(first) || signal.aborted) return first;
  input.recorder?.restart();
  const second = await attempt(input, !encryptedFirst, capture, signal);
  const retried = { encryption: encryptedFirst ? ('mse' as const) : ('none' as const), error: first.error, ...(first.code ? { code: first.code } : {}) };
  if (input.recorder !== undefined && input.recorder.conversation.note !== undefined) {
    input.recorder.conversation.note += `; a first ${encryptedFirst ? 'encrypted' : 'plain'} attempt failed: ${first.error}`;
  }
  if (second.ok) return { ...second, retried };
  return { ...second, error: `${encryptedFirst ? 'encrypted' : 'plain'}: ${first.error}; ${encryptedFirst ? 'plain' : 'encrypted'}: ${second.error}`, retried };
}

async function attempt(input: PeerCaptureInput, encrypted: boolean, capture: CaptureFn, signal: AbortSignal): Promise<EncryptedCaptureOutcome> {
  if (!encrypted) {
    const outcome = await capture({ ...input, dial: undefined }, signal);
    return { ...outcome, encryption: 'none' };
  }
  let socket: MseSocket | undefined;
  const infohash = Buffer.from(input.infohash, 'hex');
  const outcome = await capture(
    {
      ...input,
      dial: (target) => {
        socket = new MseSocket({ ...target, infohash });
        return socket;
      },
    },
    signal,
  );
  const method = socket?.method;
  const encryption: Encryption = method === undefined ? 'mse' : method === 'plaintext' ? 'mse-plaintext' : 'mse-rc4';
  if (input.recorder !== undefined) {
    input.recorder.conversation.note =
      method === undefined
        ? 'MSE/PE handshake attempted (not completed): no BitTorrent bytes exchanged'
        : `MSE/PE (${method === 'rc4' ? 'RC4-drop1024 payload' : 'obfuscated handshake, plaintext payload'}): the BitTorrent conversation as decrypted; the DH key exchange and pads are not shown`;
  }
  return { ...outcome, encryption };
}
