import { describe, expect, it } from 'vitest';
import { CaptureOutcomes, MAX_CLIENTS, clientFamily, formatOutcomes, outcomeReason } from '../../../src/capture/capture-outcomes.js';
import type { EncryptedCaptureOutcome } from '../../../src/capture/encrypted-capture.js';

const ok = (extra: Partial<Extract<EncryptedCaptureOutcome, { ok: true }>> = {}): EncryptedCaptureOutcome => ({
  ok: true,
  date: 0,
  hasPieces: 1,
  pieceCount: 4,
  hasTotal: false,
  clientName: 'Transmission 3.00',
  peerIdHex: '00'.repeat(20),
  durationMs: 1,
  encryption: 'none',
  ...extra,
});
const fail = (code: string, failedIn: 'connecting' | 'handshaking' | 'observing', extra: Record<string, unknown> = {}): EncryptedCaptureOutcome =>
  ({ ok: false, error: code, code, failedIn, durationMs: 1, encryption: 'none', ...extra }) as EncryptedCaptureOutcome;

describe('outcomeReason', () => {
  it.each([
    [ok(), 'captured'],
    [ok({ encryption: 'mse-rc4', retried: { encryption: 'none', error: 'peer closed the connection', code: 'PEER_CLOSED' } }), 'encryption-required'],
    [ok({ silent: true }), 'choked-and-silent'],
    [fail('CONNECTION_REFUSED', 'connecting'), 'connect-refused'],
    [fail('CONNECT_TIMEOUT', 'connecting'), 'connect-timeout'],
    [fail('HOST_UNREACHABLE', 'connecting'), 'unreachable'],
    [fail('PEER_CLOSED', 'handshaking'), 'dropped-before-handshake'],
    [fail('CONNECTION_RESET', 'observing'), 'reset-after-handshake'],
    [fail('PEER_CLOSED', 'observing'), 'reset-after-handshake'],
    [fail('IDLE_TIMEOUT', 'observing'), 'reset-after-handshake'],
    [fail('HANDSHAKE_TIMEOUT', 'handshaking'), 'handshake-timeout'],
    [fail('ENCRYPTION_HANDSHAKE', 'handshaking', { encryption: 'mse' }), 'encryption-failed'],
    [fail('WRONG_INFOHASH', 'handshaking'), 'wrong-infohash'],
    [fail('BITFIELD_LENGTH', 'observing'), 'protocol-error'],
    [fail('TOTAL_TIMEOUT', 'handshaking'), 'timeout'],
    [fail('ABORTED', 'connecting'), 'aborted'],
    [fail('SOCKET_ERROR', 'connecting'), 'other'],
  ] as const)('%j → %s', (o, reason) => {
    expect(outcomeReason(o)).toBe(reason);
  });
});

describe('clientFamily', () => {
  it.each([
    ['Transmission 3.00', 'Transmission'],
    ['libtorrent/2.0.8.0', 'libtorrent'],
    ['qBittorrent v4.6.5', 'qBittorrent'],
    [undefined, 'unknown'],
    ['', 'unknown'],
    ['\u0000\u0001', 'unknown'],
    ['x'.repeat(100), 'x'.repeat(32)],
  ])('%j → %s', (name, family) => {
    expect(clientFamily(name)).toBe(family);
  });
});

describe('CaptureOutcomes', () => {
  it('counts per reason, per transport (both attempts of a retry) and per client family', () => {
    const s = new CaptureOutcomes();
    s.add(ok());
    s.add(ok({ clientName: 'libtorrent/2.0.8.0', encryption: 'mse-rc4', retried: { encryption: 'none', error: 'x', code: 'PEER_CLOSED' } }));
    s.add(fail('PEER_CLOSED', 'handshaking', { encryption: 'mse', retried: { encryption: 'none', error: 'x' }, error: 'both dropped' }));
    s.add(fail('CONNECTION_REFUSED', 'connecting'));
    s.add(fail('CONNECTION_RESET', 'observing', { clientName: 'Transmission 3.00' }));
    const snap = s.snapshot();
    expect(snap.total).toBe(5);
    expect(snap.byReason).toEqual({ captured: 1, 'encryption-required': 1, 'dropped-before-handshake': 1, 'connect-refused': 1, 'reset-after-handshake': 1 });
    expect(snap.byTransport).toEqual({ tcp: { attempts: 5, captured: 1 }, 'tcp+mse': { attempts: 2, captured: 1 }, utp: { attempts: 0, captured: 0 } });
    expect(snap.encryptedRetries).toEqual({ tried: 2, captured: 1 });
    expect(snap.byClient).toEqual({
      Transmission: { captured: 1, 'reset-after-handshake': 1 },
      libtorrent: { 'encryption-required': 1 },
      unknown: { 'dropped-before-handshake': 1, 'connect-refused': 1 },
    });
    const text = formatOutcomes(snap).join('\n');
    expect(text).toContain('outcomes   5: ');
    expect(text).toContain('tcp+mse 1/2 captured (encrypted retries 1/2)');
    expect(text).toMatch(/Transmission\s+captured 1 · reset-after-handshake 1/);
  });

  it('tracks at most MAX_CLIENTS client families; the rest count as "other"', () => {
    const s = new CaptureOutcomes();
    for (let i = 0; i < MAX_CLIENTS + 10; i++) s.add(ok({ clientName: `Client${i} 1.0` }));
    const snap = s.snapshot();
    expect(Object.keys(snap.byClient)).toHaveLength(MAX_CLIENTS + 1);
    expect(snap.byClient.other).toEqual({ captured: 10 });
  });
});
