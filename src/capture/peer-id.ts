import { randomBytes } from 'node:crypto';
import { VERSION } from '../util/version.js';

/** The `v` we send in the extended handshake. */
export const EXTENDED_VERSION = `capture-daemon/${VERSION}`;

/**
 * Our peer id, Azureus style: `-cD` + one base-62 digit each for major, minor, patch + `0-`
 * (`-cD0100-` for 0.1.0), then 12 random alphanumerics. `cD` is not a known client code (`CD`
 * is Enhanced CTorrent); the extended handshake's `v` says who we are.
 */
export function makePeerId(version: string = VERSION): Uint8Array {
  const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  const digits = version
    .split('.')
    .slice(0, 3)
    .map((p) => B62[Math.min(61, Math.max(0, Number.parseInt(p, 10) || 0))] as string);
  while (digits.length < 3) digits.push('0');
  const random = Array.from(randomBytes(12), (b) => B62[b % 62] as string).join('');
  return Buffer.from(`-cD${digits.join('')}0-${random}`, 'latin1');
}
