/**
 * Message Stream Encryption / Protocol Encryption (MSE/PE, the "Vuze/Azureus" handshake that
 * libtorrent, Transmission, qBittorrent and µTorrent speak): the cryptographic pieces, no I/O.
 *
 *   1 A→B  Ya, PadA                                 Ya = 2^Xa mod P, 96 bytes big-endian
 *   2 B→A  Yb, PadB                                 S = Yb^Xa mod P, 96 bytes
 *   3 A→B  HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
 *          ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
 *   4 B→A  ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload)
 *
 * HASH is SHA-1, SKEY the infohash, VC eight zero bytes, every pad 0..512 random bytes. ENCRYPT
 * is RC4 keyed with HASH('keyA', S, SKEY) (A→B) or HASH('keyB', S, SKEY) (B→A), the first 1024
 * bytes of its keystream discarded. ENCRYPT2 is that same RC4 stream (crypto_select 0x02) or
 * plaintext (0x01, only the handshake was obfuscated).
 *
 * Key pairs: creating a Node DiffieHellman object for this prime costs ~18 ms (OpenSSL checks
 * the prime); setting a random private key on one shared object and computing its public key
 * costs ~0.04 ms. So one object per process, and each handshake keeps only its own private key,
 * set again right before its secret is computed (JavaScript runs the two calls without a gap).
 * The private exponent is 160 bits, the specification's recommendation (128 is its minimum):
 * key pair + secret cost ~83 µs of CPU, against ~60 µs at 128 bits (measured side by side,
 * 2026-12-05: ~1 % of an encrypted first contact's CPU, not worth leaving the recommendation)
 * and ~340 µs with a 768-bit exponent (the prime's length). Hashes are one-shot and random bytes
 * come from a pool: the other work of an initiator's handshake is ~30 µs. The capture's initiator
 * has its DH work done by MseDhPool (mse-dh-pool.ts) on a worker thread, with these same
 * functions there.
 */
import { createDiffieHellman, hash, randomBytes, type DiffieHellman } from 'node:crypto';

/** The 768-bit safe prime of the specification (generator 2). */
export const DH_PRIME_HEX =
  'ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd129024e088a67cc74020bbea63b139b22514a08798e3404ddef9519b3cd3a431b302b0a6df25f14374fe1356d6d51c245e485b576625e7ec6f44c42e9a63a36210000000000090563';
export const DH_PRIME = BigInt(`0x${DH_PRIME_HEX}`);
export const DH_GENERATOR = 2;
/** Ya, Yb and S: 96 bytes, big-endian, left-padded with zeros. */
export const DH_KEY_LENGTH = 96;
/** Private exponent length: 160 bits (the specification asks for at least 128). */
export const PRIVATE_KEY_LENGTH = 20;
export const VC = new Uint8Array(8);
export const MAX_PAD = 512;
/** crypto_provide / crypto_select bits. */
export const CRYPTO_PLAINTEXT = 0x01;
export const CRYPTO_RC4 = 0x02;
export const RC4_DISCARD = 1024;

export type MseMethod = 'rc4' | 'plaintext';

/** RC4 keystream (the first `RC4_DISCARD` bytes dropped). Written out: OpenSSL 3 ships RC4 only in its legacy provider. */
export class Rc4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;

  constructor(key: Uint8Array, discard = RC4_DISCARD) {
    if (key.length === 0 || key.length > 256) throw new RangeError(`RC4 key length ${key.length}`);
    const s = this.s;
    for (let k = 0; k < 256; k++) s[k] = k;
    let j = 0;
    for (let k = 0; k < 256; k++) {
      j = (j + (s[k] as number) + (key[k % key.length] as number)) & 0xff;
      const t = s[k] as number;
      s[k] = s[j] as number;
      s[j] = t;
    }
    this.skip(discard);
  }

  /** Advances the keystream by `n` bytes. */
  skip(n: number): void {
    const s = this.s;
    let { i, j } = this;
    for (let k = 0; k < n; k++) {
      i = (i + 1) & 0xff;
      j = (j + (s[i] as number)) & 0xff;
      const t = s[i] as number;
      s[i] = s[j] as number;
      s[j] = t;
    }
    this.i = i;
    this.j = j;
  }

  /** XORs `data` with the next keystream bytes into a new array (the input is left alone). */
  apply(data: Uint8Array): Uint8Array {
    const out = new Uint8Array(data.length);
    const s = this.s;
    let { i, j } = this;
    for (let k = 0; k < data.length; k++) {
      i = (i + 1) & 0xff;
      const si = s[i] as number;
      j = (j + si) & 0xff;
      const sj = s[j] as number;
      s[i] = sj;
      s[j] = si;
      out[k] = (data[k] as number) ^ (s[(si + sj) & 0xff] as number);
    }
    this.i = i;
    this.j = j;
    return out;
  }
}

/** One-shot SHA-1 (crypto.hash: no Hash object per digest). */
function sha1(...parts: Uint8Array[]): Buffer {
  return hash('sha1', Buffer.concat(parts), 'buffer') as unknown as Buffer;
}

/**
 * Bytes from the CSPRNG, handed out once each from a pool refilled 16 KiB at a time: a
 * randomBytes call costs ~5 µs whatever its size (3.4 ns per byte beyond), and a handshake wants
 * three small draws (the private key, two pads).
 */
const POOL_SIZE = 16 * 1024;
let pool = Buffer.alloc(0);
let poolAt = 0;
export function randomFromPool(n: number): Buffer {
  if (n > POOL_SIZE) return randomBytes(n);
  if (poolAt + n > pool.length) {
    pool = randomBytes(POOL_SIZE);
    poolAt = 0;
  }
  const out = Buffer.from(pool.subarray(poolAt, poolAt + n));
  pool.fill(0, poolAt, poolAt + n);
  poolAt += n;
  return out;
}

const ASCII = (s: string): Buffer => Buffer.from(s, 'latin1');
const REQ1 = ASCII('req1');
const REQ2 = ASCII('req2');
const REQ3 = ASCII('req3');
const KEY_A = ASCII('keyA');
const KEY_B = ASCII('keyB');

/** `b` (a fresh Buffer from OpenSSL, not copied) left-padded with zeros to `length` bytes. */
function leftPad(b: Buffer, length: number): Buffer {
  if (b.length === length) return b;
  if (b.length > length) throw new RangeError(`DH value of ${b.length} bytes`);
  const out = Buffer.alloc(length);
  out.set(b, length - b.length);
  return out;
}

/** 1 and P − 1 as 96-byte big-endian values: a public key must lie strictly between them. */
const ONE = Buffer.alloc(DH_KEY_LENGTH);
ONE[DH_KEY_LENGTH - 1] = 1;
const PRIME_MINUS_ONE = Buffer.from((DH_PRIME - 1n).toString(16).padStart(DH_KEY_LENGTH * 2, '0'), 'hex');

let shared: DiffieHellman | undefined;
function dh(): DiffieHellman {
  shared ??= createDiffieHellman(DH_PRIME_HEX, 'hex', DH_GENERATOR);
  return shared;
}

/** Throws RangeError unless `peerPublic` is a 96-byte Y strictly between 1 and P−1. */
export function checkPeerPublic(peerPublic: Uint8Array): void {
  if (peerPublic.length !== DH_KEY_LENGTH) throw new RangeError(`DH public key of ${peerPublic.length} bytes`);
  if (Buffer.compare(peerPublic, ONE) <= 0 || Buffer.compare(peerPublic, PRIME_MINUS_ONE) >= 0) throw new RangeError('degenerate DH public key');
}

/** Y = 2^X mod P for the private exponent `privateKey`, 96 bytes (on this thread's shared group object). */
export function publicKeyOf(privateKey: Uint8Array): Buffer {
  const group = dh();
  group.setPrivateKey(privateKey);
  return leftPad(group.generateKeys(), DH_KEY_LENGTH);
}

/** S = Y^X mod P, 96 bytes, for a Y already checked (checkPeerPublic). */
export function secretOf(privateKey: Uint8Array, peerPublic: Uint8Array): Buffer {
  const group = dh();
  group.setPrivateKey(privateKey);
  return leftPad(group.computeSecret(peerPublic), DH_KEY_LENGTH);
}

/**
 * One side's DH key pair: a fresh random private exponent on the shared group object. A pair
 * made elsewhere (MseDhPool's thread) comes with its public key, which is then not computed again.
 */
export class MseKeyPair {
  readonly publicKey: Buffer;

  constructor(
    private readonly privateKey: Buffer = randomFromPool(PRIVATE_KEY_LENGTH),
    publicKey?: Buffer,
  ) {
    this.publicKey = publicKey ?? publicKeyOf(privateKey);
  }

  /** The private exponent (MseDhPool hands it to its thread to compute the secret there). */
  get privateExponent(): Buffer {
    return this.privateKey;
  }

  /** S = Y^X mod P, 96 bytes. Throws RangeError on a degenerate Y (0, 1, ≥ P−1). */
  secret(peerPublic: Uint8Array): Buffer {
    checkPeerPublic(peerPublic);
    return secretOf(this.privateKey, peerPublic);
  }
}

/** What both sides derive from S and SKEY (the infohash). */
export interface MseKeys {
  /** HASH('req1', S): the initiator's step-3 marker the responder synchronises on. */
  req1: Buffer;
  /** HASH('req2', SKEY) xor HASH('req3', S): tells the responder which torrent, without naming it. */
  req2xor3: Buffer;
  /** HASH('keyA', S, SKEY): A→B RC4 key. */
  keyA: Buffer;
  /** HASH('keyB', S, SKEY): B→A RC4 key. */
  keyB: Buffer;
}

export function deriveKeys(secret: Uint8Array, skey: Uint8Array): MseKeys {
  const req2 = sha1(REQ2, skey);
  const req3 = sha1(REQ3, secret);
  for (let i = 0; i < req2.length; i++) req2[i] = (req2[i] as number) ^ (req3[i] as number);
  return { req1: sha1(REQ1, secret), req2xor3: req2, keyA: sha1(KEY_A, secret, skey), keyB: sha1(KEY_B, secret, skey) };
}

/** HASH('req1', S): the marker the responder synchronises on (it does not depend on the torrent). */
export function req1Hash(secret: Uint8Array): Buffer {
  return sha1(REQ1, secret);
}

/** HASH('req3', S): the responder xors it off the initiator's HASH('req2', SKEY) xor HASH('req3', S). */
export function req3Hash(secret: Uint8Array): Buffer {
  return sha1(REQ3, secret);
}

/** HASH('req2', SKEY): the responder's lookup key for an infohash. */
export function req2Hash(skey: Uint8Array): Buffer {
  return sha1(REQ2, skey);
}

/** A random pad of 0..max bytes (random content, as the specification asks). */
export function randomPad(max = MAX_PAD): Buffer {
  return randomFromPool(randomFromPool(2).readUInt16BE(0) % (max + 1));
}

/**
 * The plaintext of step 3's encrypted part: VC, crypto_provide, len(PadC), PadC, len(IA).
 * IA itself follows, encrypted with the same stream.
 */
export function step3Plain(provide: number, padC: Uint8Array, iaLength: number): Buffer {
  if (padC.length > MAX_PAD) throw new RangeError(`PadC of ${padC.length} bytes`);
  if (!Number.isInteger(iaLength) || iaLength < 0 || iaLength > 0xffff) throw new RangeError(`IA of ${iaLength} bytes`);
  const out = Buffer.alloc(8 + 4 + 2 + padC.length + 2);
  out.writeUInt32BE(provide >>> 0, 8);
  out.writeUInt16BE(padC.length, 12);
  out.set(padC, 14);
  out.writeUInt16BE(iaLength, 14 + padC.length);
  return out;
}

/** The plaintext of step 4: VC, crypto_select, len(PadD), PadD. */
export function step4Plain(select: number, padD: Uint8Array): Buffer {
  if (padD.length > MAX_PAD) throw new RangeError(`PadD of ${padD.length} bytes`);
  const out = Buffer.alloc(8 + 4 + 2 + padD.length);
  out.writeUInt32BE(select >>> 0, 8);
  out.writeUInt16BE(padD.length, 12);
  out.set(padD, 14);
  return out;
}
