import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { BtnError } from './btn-error.js';

export interface PowOptions {
  enabled: boolean;
  difficultyBits: number;
  ttlMs: number;
  maxSessions: number;
}

export interface PowChallenge {
  id: string;
  challengeBase64: string;
  difficultyBits: number;
  algorithm: 'SHA-256';
  expireAt: number;
}

/** Leading zero bits of `digest`, most significant bit first. */
export function leadingZeroBits(digest: Buffer): number {
  let n = 0;
  for (const byte of digest) {
    if (byte === 0) {
      n += 8;
      continue;
    }
    return n + Math.clz32(byte) - 24;
  }
  return n;
}

/**
 * The optional proof-of-work challenge (spec §2.5): a 16-byte challenge, solved by an 8-byte
 * big-endian nonce with SHA-256(challenge ‖ nonce) having `difficultyBits` leading zero bits.
 * Sessions are single use, expire after `ttlMs`, and at most `maxSessions` are kept (oldest
 * dropped first).
 */
export class PowCaptcha {
  private readonly sessions = new Map<string, { challenge: Buffer; expireAt: number; bits: number }>();

  constructor(
    private readonly options: () => PowOptions,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.options().enabled;
  }

  create(): PowChallenge {
    const o = this.options();
    if (!o.enabled) throw new BtnError('BTN_NOT_FOUND', 'proof-of-work is not enabled on this server');
    const now = this.now();
    for (const [id, s] of this.sessions) {
      if (this.sessions.size < o.maxSessions && s.expireAt > now) break;
      this.sessions.delete(id);
    }
    const id = randomUUID();
    const challenge = randomBytes(16);
    const expireAt = now + o.ttlMs;
    this.sessions.set(id, { challenge, expireAt, bits: o.difficultyBits });
    return { id, challengeBase64: challenge.toString('base64'), difficultyBits: o.difficultyBits, algorithm: 'SHA-256', expireAt };
  }

  /** Checks and consumes a solution; false for unknown, expired, reused or wrong ones. */
  verify(id: string, solutionBase64: string): boolean {
    const s = this.sessions.get(id);
    if (!s) return false;
    if (s.expireAt <= this.now()) {
      this.sessions.delete(id);
      return false;
    }
    const nonce = Buffer.from(solutionBase64, 'base64');
    if (nonce.length !== 8) return false;
    const ok = leadingZeroBits(createHash('sha256').update(s.challenge).update(nonce).digest()) >= s.bits;
    if (ok) this.sessions.delete(id);
    return ok;
  }

  /** Enforced where the config offers `pow_captcha: true` (ip_query), when enabled. */
  require(headers: Record<string, string | string[] | undefined>): void {
    if (!this.enabled) return;
    const id = headers['x-btn-powid'];
    const sol = headers['x-btn-powsolution'];
    if (typeof id !== 'string' || typeof sol !== 'string' || !this.verify(id, sol)) {
      throw new BtnError('BTN_POW_FAILED', 'proof-of-work missing or wrong: fetch a challenge from proof_of_work_captcha.endpoint');
    }
  }

  size(): number {
    return this.sessions.size;
  }
}
