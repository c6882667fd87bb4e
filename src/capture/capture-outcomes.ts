import type { EncryptedCaptureOutcome } from './encrypted-capture.js';
import type { Transport, TransportCaptureOutcome } from './transport-capture.js';

/**
 * Why captures end the way they do, counted per reason, per transport and per client family, for
 * `capture-daemon status`. A reason explains rather than repeats the error text:
 * - `captured`: report made, plain TCP; `encryption-required`: captured after the peer dropped our
 *   plain handshake and accepted the encrypted one (or captured encrypted first);
 * - `choked-and-silent`: the peer completed the handshake and then sent nothing (no bitfield, no
 *   extended handshake): reported with 0 pieces, but it told us nothing;
 * - `connect-refused`, `connect-timeout`, `unreachable`: no TCP connection;
 * - `dropped-before-handshake`: closed or reset after our handshake, before its own (with
 *   encryption retried, that is not the reason); `handshake-timeout`;
 * - `reset-after-handshake`: gone after its handshake before telling us its pieces;
 * - `encryption-failed`: the MSE/PE handshake itself failed; `wrong-infohash`; `protocol-error`;
 * - `timeout` (total deadline), `aborted`, `other`.
 * Bounded: at most MAX_CLIENTS client families (the rest count as "other"); names are the
 * peer's own words, cut to 32 characters.
 */
export type OutcomeReason =
  | 'captured'
  | 'encryption-required'
  | 'choked-and-silent'
  | 'connect-refused'
  | 'connect-timeout'
  | 'unreachable'
  | 'dropped-before-handshake'
  | 'handshake-timeout'
  | 'reset-after-handshake'
  | 'encryption-failed'
  | 'wrong-infohash'
  | 'protocol-error'
  | 'timeout'
  | 'aborted'
  | 'other';

export type { Transport } from './transport-capture.js';

const PROTOCOL_ERRORS = new Set([
  'NOT_BITTORRENT', 'MESSAGE_TOO_LONG', 'MALFORMED_MESSAGE', 'EXTENDED_HANDSHAKE', 'FAST_WITHOUT_EXTENSION', 'BITFIELD_LENGTH',
  'BITFIELD_SPARE_BITS',
]);

export function outcomeReason(o: EncryptedCaptureOutcome): OutcomeReason {
  if (o.ok) {
    if (o.silent === true) return 'choked-and-silent';
    return o.encryption === 'none' ? 'captured' : 'encryption-required';
  }
  switch (o.code) {
    case 'CONNECTION_REFUSED':
      return 'connect-refused';
    case 'CONNECT_TIMEOUT':
      return 'connect-timeout';
    case 'HOST_UNREACHABLE':
    case 'NETWORK_UNREACHABLE':
      return 'unreachable';
    case 'PEER_CLOSED':
    case 'CONNECTION_RESET':
      return o.failedIn === 'observing' ? 'reset-after-handshake' : 'dropped-before-handshake';
    case 'HANDSHAKE_TIMEOUT':
      return 'handshake-timeout';
    case 'IDLE_TIMEOUT':
      return o.failedIn === 'observing' ? 'reset-after-handshake' : 'handshake-timeout';
    case 'ENCRYPTION_HANDSHAKE':
      return 'encryption-failed';
    case 'WRONG_INFOHASH':
      return 'wrong-infohash';
    case 'TOTAL_TIMEOUT':
      return 'timeout';
    case 'ABORTED':
      return 'aborted';
    default:
      return o.code !== undefined && PROTOCOL_ERRORS.has(o.code) ? 'protocol-error' : 'other';
  }
}

/** "Transmission 3.00" → "Transmission", "libtorrent/2.0.8.0" → "libtorrent"; unknown → "unknown". */
export function clientFamily(name: string | undefined): string {
  if (name === undefined || name === '') return 'unknown';
  const family = name.split(/[\s/]/, 1)[0]?.replace(/[^\x21-\x7e]/g, '').slice(0, 32) ?? '';
  return family === '' ? 'unknown' : family;
}

export const MAX_CLIENTS = 64;

export interface OutcomeSnapshot {
  total: number;
  byReason: Partial<Record<OutcomeReason, number>>;
  /** utp absent in snapshots from daemons before uTP. */
  byTransport: Record<'tcp' | 'tcp+mse', { attempts: number; captured: number }> & { utp?: { attempts: number; captured: number } };
  /** Transport of the outcome (the attempt that counted) → reason → count; absent from older daemons. */
  byTransportReason?: Partial<Record<Transport, Partial<Record<OutcomeReason, number>>>>;
  /** Client family → reason → count (failures before the peer's handshake count under "unknown"). */
  byClient: Record<string, Partial<Record<OutcomeReason, number>>>;
  /** Plain handshakes dropped that the encrypted retry got past (a subset of encryption-required). */
  encryptedRetries: { tried: number; captured: number };
  /** Peers remembered as requiring encryption (captured encrypted first next time). */
  peersRequiringEncryption?: number;
  /** Peers remembered as refusing encryption (capture.encryption prefer-encrypted: captured plain first next time). */
  peersRefusingEncryption?: number;
  /** Peers the memory holds at most (capture.encryptionMemoryPeers). */
  encryptionMemoryCapacity?: number;
}

export class CaptureOutcomes {
  private total = 0;
  private readonly byReason = new Map<OutcomeReason, number>();
  private readonly byTransport: Record<Transport, { attempts: number; captured: number }> = {
    tcp: { attempts: 0, captured: 0 },
    'tcp+mse': { attempts: 0, captured: 0 },
    utp: { attempts: 0, captured: 0 },
  };
  private readonly byClient = new Map<string, Map<OutcomeReason, number>>();
  private readonly byTransportReason = new Map<Transport, Map<OutcomeReason, number>>();
  private readonly retries = { tried: 0, captured: 0 };

  add(o: EncryptedCaptureOutcome | TransportCaptureOutcome): OutcomeReason {
    const reason = outcomeReason(o);
    this.total++;
    this.byReason.set(reason, (this.byReason.get(reason) ?? 0) + 1);
    const transport: Transport = 'transport' in o ? o.transport : o.encryption === 'none' ? 'tcp' : 'tcp+mse';
    this.byTransport[transport].attempts++;
    if (o.ok) this.byTransport[transport].captured++;
    let perTransport = this.byTransportReason.get(transport);
    if (perTransport === undefined) {
      perTransport = new Map();
      this.byTransportReason.set(transport, perTransport);
    }
    perTransport.set(reason, (perTransport.get(reason) ?? 0) + 1);
    // uTP after TCP: both were attempts (the outcome is the one that counted).
    if ('utpTried' in o && o.utpTried !== undefined) this.byTransport.utp.attempts++;
    if ('tcpFailed' in o && o.tcpFailed !== undefined) this.byTransport[o.tcpFailed.transport].attempts++;
    if (o.retried !== undefined) {
      // The first attempt went the other way.
      this.byTransport[o.retried.encryption === 'none' ? 'tcp' : 'tcp+mse'].attempts++;
      if (o.retried.encryption === 'none' && transport !== 'utp') {
        this.retries.tried++;
        if (o.ok) this.retries.captured++;
      }
    }
    let family = clientFamily(o.clientName);
    if (!this.byClient.has(family) && this.byClient.size >= MAX_CLIENTS) family = 'other';
    let perClient = this.byClient.get(family);
    if (perClient === undefined) {
      perClient = new Map();
      this.byClient.set(family, perClient);
    }
    perClient.set(reason, (perClient.get(reason) ?? 0) + 1);
    return reason;
  }

  snapshot(): OutcomeSnapshot {
    const byClient: OutcomeSnapshot['byClient'] = {};
    for (const [family, m] of this.byClient) byClient[family] = Object.fromEntries(m);
    return {
      total: this.total,
      byReason: Object.fromEntries(this.byReason),
      byTransport: { tcp: { ...this.byTransport.tcp }, 'tcp+mse': { ...this.byTransport['tcp+mse'] }, utp: { ...this.byTransport.utp } },
      byTransportReason: Object.fromEntries([...this.byTransportReason].map(([t, m]) => [t, Object.fromEntries(m)])),
      byClient,
      encryptedRetries: { ...this.retries },
    };
  }
}

/** Lines for `capture-daemon status`. */
export function formatOutcomes(s: OutcomeSnapshot): string[] {
  if (s.total === 0) return ['outcomes   none yet'];
  const sorted = (r: Partial<Record<string, number>>): string =>
    Object.entries(r)
      .sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0))
      .map(([k, v]) => `${k} ${v}`)
      .join(' · ');
  const lines = [
    `outcomes   ${s.total}: ${sorted(s.byReason)}`,
    `transport  tcp ${s.byTransport.tcp.captured}/${s.byTransport.tcp.attempts} captured · tcp+mse ${s.byTransport['tcp+mse'].captured}/${s.byTransport['tcp+mse'].attempts} captured (encrypted retries ${s.encryptedRetries.captured}/${s.encryptedRetries.tried}) · utp ${s.byTransport.utp?.captured ?? 0}/${s.byTransport.utp?.attempts ?? 0} captured` +
      (s.peersRequiringEncryption !== undefined
        ? ` · remembered: ${s.peersRequiringEncryption} require encryption, ${s.peersRefusingEncryption ?? 0} refuse it` +
          (s.encryptionMemoryCapacity !== undefined ? ` (of ${s.encryptionMemoryCapacity} at most)` : '')
        : ''),
  ];
  for (const [transport, reasons] of Object.entries(s.byTransportReason ?? {})) lines.push(`  via ${transport.padEnd(10)} ${sorted(reasons ?? {})}`);
  const clients = Object.entries(s.byClient).sort(
    (a, b) => Object.values(b[1]).reduce((x, y) => x + (y ?? 0), 0) - Object.values(a[1]).reduce((x, y) => x + (y ?? 0), 0),
  );
  for (const [family, reasons] of clients.slice(0, 12)) lines.push(`  ${family.padEnd(14)} ${sorted(reasons)}`);
  if (clients.length > 12) lines.push(`  … ${clients.length - 12} more clients (--json)`);
  return lines;
}
