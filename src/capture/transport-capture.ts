import type { CaptureErrorCode } from './capture-errors.js';
import type { EncryptedCaptureOutcome } from './encrypted-capture.js';
import type { Dial } from './mse-socket.js';
import type { PeerCaptureInput, PeerCaptureOutcome } from './peer-capture.js';

/**
 * TCP first (plain and encrypted, see encrypted-capture.ts), then uTP (BEP 29) for a peer that
 * does not take TCP (config `capture.utp`):
 * - `off` (default): TCP only;
 * - `fallback`: when the TCP attempts end without a connection (refused, timed out) or with the
 *   connection dropped before the peer's handshake (libtorrent with TCP disabled accepts and
 *   closes), one plain attempt over uTP. Its outcome counts when it captured; when it failed too,
 *   the TCP outcome stands, with `utpTried` saying why uTP did not help.
 * The outcome's `transport` says how the conversation that counted was carried.
 */
export type UtpMode = 'off' | 'fallback';
export const UTP_MODES = ['off', 'fallback'] as const;

/** The transports a capture records (the captures table's `transport`, status, metrics). */
export type Transport = 'tcp' | 'tcp+mse' | 'utp';

export type TransportCaptureOutcome = EncryptedCaptureOutcome & {
  transport: Transport;
  /** uTP was tried after TCP and failed too: its error. */
  utpTried?: { error: string; code?: CaptureErrorCode };
  /** Captured over uTP: how the (last) TCP attempt before it went, and its error. */
  tcpFailed?: { transport: 'tcp' | 'tcp+mse'; error: string; code?: CaptureErrorCode };
};

const NO_TCP: ReadonlySet<CaptureErrorCode> = new Set(['CONNECTION_REFUSED', 'CONNECT_TIMEOUT', 'PEER_CLOSED', 'CONNECTION_RESET']);

/** TCP did not carry a BitTorrent handshake from this peer at all: uTP may. */
export function tcpNotTaken(o: PeerCaptureOutcome): boolean {
  return !o.ok && o.code !== undefined && NO_TCP.has(o.code) && (o.failedIn === 'connecting' || o.failedIn === 'handshaking');
}

export async function captureWithTransport(
  input: PeerCaptureInput,
  mode: UtpMode,
  tcp: (input: PeerCaptureInput, signal: AbortSignal) => Promise<EncryptedCaptureOutcome>,
  plain: (input: PeerCaptureInput, signal: AbortSignal) => Promise<PeerCaptureOutcome>,
  utp: Dial | undefined,
  signal: AbortSignal,
): Promise<TransportCaptureOutcome> {
  const first = await tcp(input, signal);
  const viaTcp: TransportCaptureOutcome = { ...first, transport: first.encryption === 'none' ? 'tcp' : 'tcp+mse' };
  // utp-native speaks uTP over IPv4 only: an IPv6 peer keeps its TCP outcome.
  if (mode === 'off' || utp === undefined || first.ok || !tcpNotTaken(first) || signal.aborted || input.ip.includes(':')) return viaTcp;
  input.recorder?.restart();
  const second = await plain({ ...input, dial: utp }, signal);
  if (input.recorder !== undefined) {
    input.recorder.conversation.note = `uTP (BEP 29): the BitTorrent conversation over uTP, shown as TCP; TCP failed first: ${first.error}`;
  }
  if (second.ok) {
    const tcpFailed = { transport: viaTcp.transport as 'tcp' | 'tcp+mse', error: first.error, ...(first.code ? { code: first.code } : {}) };
    return { ...second, encryption: 'none', transport: 'utp', tcpFailed, ...(first.retried ? { retried: first.retried } : {}) };
  }
  return { ...viaTcp, durationMs: first.durationMs + second.durationMs, utpTried: { error: second.error, ...(second.code ? { code: second.code } : {}) } };
}
