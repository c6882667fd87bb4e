import { AppError } from '../util/app-error.js';

/** A torrent info hash: always 40 lowercase hex characters. */
export type InfoHash = string & { readonly __brand: 'InfoHash' };

const HEX40 = /^[0-9a-fA-F]{40}$/;

export function isInfoHash(value: unknown): value is string {
  return typeof value === 'string' && HEX40.test(value);
}

/** Normalises a user-supplied infohash (hex, any case) or returns undefined. */
export function parseInfoHash(value: unknown): InfoHash | undefined {
  return isInfoHash(value) ? (value.toLowerCase() as InfoHash) : undefined;
}

/** A value that is not 40 hexadecimal characters where an infohash is required (the empty string included). */
export class InvalidInfoHashError extends AppError {
  declare readonly code: 'INVALID_INFOHASH';

  constructor() {
    super('INVALID_INFOHASH', 'infohash must be 40 hexadecimal characters');
    this.name = 'InvalidInfoHashError';
  }
}

/** Like parseInfoHash, but throws InvalidInfoHashError (the Capture API's INVALID_INFOHASH). */
export function requireInfoHash(value: unknown): InfoHash {
  const ih = parseInfoHash(value);
  if (!ih) throw new InvalidInfoHashError();
  return ih;
}
