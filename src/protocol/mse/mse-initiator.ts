import {
  CRYPTO_PLAINTEXT,
  CRYPTO_RC4,
  DH_KEY_LENGTH,
  MAX_PAD,
  MseKeyPair,
  Rc4,
  VC,
  checkPeerPublic,
  deriveKeys,
  randomPad,
  step3Plain,
  type MseMethod,
} from './mse-crypto.js';
import { MseError } from './mse-error.js';

/**
 * The initiating (connecting) side of MSE/PE as a byte-level state machine, no I/O: feed it what
 * the socket receives, send what it returns. Plaintext written before the handshake ends (our
 * BitTorrent handshake) travels as step 3's IA, so encryption costs one round trip, not two.
 *
 * Bounds: Yb is 96 bytes; ENCRYPT(VC) must start within PadB's 512 bytes after it (so at most
 * 96 + 512 + 8 bytes are buffered before the marker); PadD ≤ 512. Deadlines belong to the caller.
 */
export interface MseInitiatorOptions {
  /** SKEY: the torrent's 20-byte infohash. */
  infohash: Uint8Array;
  /** crypto_provide bits (default RC4 | plaintext: the peer picks, a peer requiring encryption picks RC4). */
  provide?: number;
  /** Where start() takes its key pair (default: made inline; MseSocket: MseDhPool's pairs made ahead). */
  keySource?: () => MseKeyPair;
  /**
   * The caller computes S itself (MseDhPool, off the event loop): when Yb has arrived, receive()
   * returns it as `peerPublic` (checked) and waits until withSecret(S) is called.
   */
  deferSecret?: boolean;
  /** Tests: fixed key pair and pads. */
  keyPair?: MseKeyPair;
  padA?: Uint8Array;
  padC?: Uint8Array;
}

type State = 'idle' | 'await-yb' | 'await-secret' | 'await-vc' | 'await-select' | 'await-padd' | 'done';

export interface MseOutput {
  /** Bytes to send to the peer now (maybe empty). */
  send: Uint8Array;
  /** Decrypted payload received (maybe empty). */
  plain: Uint8Array;
  /** With deferSecret: the peer's Yb (checked), for the caller to compute S with `keyPair` and pass to withSecret. */
  peerPublic?: Uint8Array;
}

const EMPTY = new Uint8Array(0);
const PLAINTEXT_HANDSHAKE = Buffer.from('\u0013BitTorrent protocol', 'latin1');
const MAX_IA = 0xffff;

export class MseInitiator {
  private state: State = 'idle';
  /** Made in start(): a dial that never connects (refused, timed out) costs no DH key pair (~0.05 ms). */
  private keyPair: MseKeyPair | undefined;
  private readonly provide: number;
  private encrypt: Rc4 | undefined;
  private decrypt: Rc4 | undefined;
  private vcPattern: Buffer | undefined;
  private inBuf: Buffer = Buffer.alloc(0);
  /** Plaintext written before it can be sent (before step 3, or before crypto_select is known). */
  private pendingOut: Uint8Array[] = [];
  private padDLength = 0;
  /** The method the peer selected, once known. */
  method: MseMethod | undefined;

  constructor(private readonly options: MseInitiatorOptions) {
    if (options.infohash.length !== 20) throw new RangeError('infohash must be 20 bytes');
    this.provide = options.provide ?? CRYPTO_RC4 | CRYPTO_PLAINTEXT;
    if ((this.provide & (CRYPTO_RC4 | CRYPTO_PLAINTEXT)) === 0) throw new RangeError(`crypto_provide ${this.provide}`);
    this.keyPair = options.keyPair;
  }

  get done(): boolean {
    return this.state === 'done';
  }

  /** Step 1: Ya and PadA. */
  start(): Uint8Array {
    if (this.state !== 'idle') throw new Error('MSE handshake already started');
    this.state = 'await-yb';
    const padA = this.options.padA ?? randomPad();
    if (padA.length > MAX_PAD) throw new RangeError(`PadA of ${padA.length} bytes`);
    this.keyPair ??= this.options.keySource?.() ?? new MseKeyPair();
    return Buffer.concat([this.keyPair.publicKey, padA]);
  }

  /** The key pair of this handshake (after start()). */
  get ownKeyPair(): MseKeyPair | undefined {
    return this.keyPair;
  }

  /** With deferSecret: S computed for the Yb that receive() returned; goes on with what arrived meanwhile. */
  withSecret(secret: Buffer): MseOutput {
    if (this.state !== 'await-secret') throw new Error('MSE handshake is not waiting for its secret');
    const send = this.step3(secret);
    this.keyPair = undefined;
    const out = this.inBuf.length > 0 ? this.receive(EMPTY) : { send: EMPTY, plain: EMPTY };
    return { send: out.send.length === 0 ? send : Buffer.concat([send, out.send]), plain: out.plain };
  }

  /** Plaintext to send: returns what goes on the wire now (empty while it waits for the handshake). */
  write(plain: Uint8Array): Uint8Array {
    if (this.state !== 'done') {
      this.pendingOut.push(Uint8Array.from(plain));
      return EMPTY;
    }
    return this.method === 'rc4' ? (this.encrypt as Rc4).apply(plain) : plain;
  }

  /** Bytes from the peer. Throws MseError when the peer's side of the handshake is wrong. */
  receive(chunk: Uint8Array): MseOutput {
    if (this.state === 'done') return { send: EMPTY, plain: this.method === 'rc4' ? (this.decrypt as Rc4).apply(chunk) : chunk };
    if (this.state === 'idle') throw new Error('MSE handshake not started');
    if (chunk.length > 0) this.inBuf = this.inBuf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.inBuf, chunk]);
    if (this.state === 'await-secret') {
      // Before our step 3 a peer sends at most PadB after Yb.
      if (this.inBuf.length >= MAX_PAD + VC.length) throw new MseError('MSE_SYNC_NOT_FOUND');
      return { send: EMPTY, plain: EMPTY };
    }
    let send: Uint8Array = EMPTY;
    if (this.state === 'await-yb') {
      const head = Math.min(this.inBuf.length, PLAINTEXT_HANDSHAKE.length);
      if (head >= 2 && this.inBuf.subarray(0, head).equals(PLAINTEXT_HANDSHAKE.subarray(0, head))) {
        if (head === PLAINTEXT_HANDSHAKE.length) throw new MseError('MSE_PLAINTEXT_REPLY');
        return { send, plain: EMPTY };
      }
      if (this.inBuf.length < DH_KEY_LENGTH) return { send, plain: EMPTY };
      const yb = this.inBuf.subarray(0, DH_KEY_LENGTH);
      this.inBuf = this.inBuf.subarray(DH_KEY_LENGTH);
      if (this.options.deferSecret === true) {
        try {
          checkPeerPublic(yb);
        } catch (err) {
          throw new MseError('MSE_BAD_KEY', { cause: err });
        }
        this.state = 'await-secret';
        if (this.inBuf.length >= MAX_PAD + VC.length) throw new MseError('MSE_SYNC_NOT_FOUND');
        return { send, plain: EMPTY, peerPublic: Buffer.from(yb) };
      }
      send = this.onYb(yb);
    }
    if (this.state === 'await-vc') {
      const at = this.inBuf.indexOf(this.vcPattern as Buffer);
      if (at > MAX_PAD) throw new MseError('MSE_SYNC_NOT_FOUND');
      if (at < 0) {
        if (this.inBuf.length >= MAX_PAD + VC.length) throw new MseError('MSE_SYNC_NOT_FOUND');
        return { send, plain: EMPTY };
      }
      this.inBuf = this.inBuf.subarray(at + VC.length);
      this.state = 'await-select';
    }
    if (this.state === 'await-select') {
      if (this.inBuf.length < 6) return { send, plain: EMPTY };
      const head = Buffer.from((this.decrypt as Rc4).apply(this.inBuf.subarray(0, 6)));
      this.inBuf = this.inBuf.subarray(6);
      const select = head.readUInt32BE(0);
      if (select === CRYPTO_RC4 && (this.provide & CRYPTO_RC4) !== 0) this.method = 'rc4';
      else if (select === CRYPTO_PLAINTEXT && (this.provide & CRYPTO_PLAINTEXT) !== 0) this.method = 'plaintext';
      else throw new MseError('MSE_NO_COMMON_METHOD');
      this.padDLength = head.readUInt16BE(4);
      if (this.padDLength > MAX_PAD) throw new MseError('MSE_PAD_TOO_LONG');
      this.state = 'await-padd';
    }
    if (this.state === 'await-padd') {
      if (this.inBuf.length < this.padDLength) return { send, plain: EMPTY };
      (this.decrypt as Rc4).skip(this.padDLength);
      const rest = this.inBuf.subarray(this.padDLength);
      this.inBuf = Buffer.alloc(0);
      this.state = 'done';
      // Plaintext held back until the method was known goes out now.
      const held = Buffer.concat(this.pendingOut);
      this.pendingOut = [];
      const out = held.length > 0 ? this.write(held) : EMPTY;
      send = send.length === 0 ? out : Buffer.concat([send, out]);
      const plain = rest.length === 0 ? EMPTY : this.method === 'rc4' ? (this.decrypt as Rc4).apply(rest) : new Uint8Array(rest);
      return { send, plain };
    }
    return { send, plain: EMPTY };
  }

  /** Yb arrived: S, then step 3. */
  private onYb(yb: Uint8Array): Uint8Array {
    let secret: Buffer;
    try {
      secret = (this.keyPair as MseKeyPair).secret(yb);
    } catch (err) {
      throw new MseError('MSE_BAD_KEY', { cause: err });
    }
    return this.step3(secret);
  }

  /** S known: derive the keys and build step 3 (with the plaintext written so far as IA). */
  private step3(secret: Buffer): Uint8Array {
    const keys = deriveKeys(secret, this.options.infohash);
    this.encrypt = new Rc4(keys.keyA);
    this.decrypt = new Rc4(keys.keyB);
    // B's stream starts with ENCRYPT(VC): the first 8 keystream bytes are the marker to find.
    this.vcPattern = Buffer.from(this.decrypt.apply(VC));
    let ia: Buffer = Buffer.concat(this.pendingOut);
    this.pendingOut = [];
    if (ia.length > MAX_IA) {
      this.pendingOut = [ia.subarray(MAX_IA)];
      ia = ia.subarray(0, MAX_IA);
    }
    const padC = this.options.padC ?? randomPad();
    const head = this.encrypt.apply(step3Plain(this.provide, padC, ia.length));
    const iaEnc = this.encrypt.apply(ia);
    this.state = 'await-vc';
    return Buffer.concat([keys.req1, keys.req2xor3, head, iaEnc]);
  }
}
