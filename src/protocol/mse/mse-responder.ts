import {
  CRYPTO_PLAINTEXT,
  CRYPTO_RC4,
  DH_KEY_LENGTH,
  MAX_PAD,
  MseKeyPair,
  Rc4,
  VC,
  deriveKeys,
  randomPad,
  req1Hash,
  req2Hash,
  req3Hash,
  step4Plain,
  type MseKeys,
  type MseMethod,
} from './mse-crypto.js';
import { MseError } from './mse-error.js';
import type { MseOutput } from './mse-initiator.js';

/**
 * The accepting side of MSE/PE, no I/O. The daemon only connects; this side serves the tests'
 * and benchmarks' synthetic peers that require encryption, and checks the initiator against a
 * second, independent reading of the specification.
 *
 * A plaintext BitTorrent handshake as the first bytes is reported (`plaintextHandshake`), not
 * decrypted: the caller decides whether it accepts unencrypted peers.
 */
export interface MseResponderOptions {
  /** The infohashes this side serves (20 bytes each). */
  infohashes: Uint8Array[];
  /** Methods accepted (default RC4 only: a peer that "requires encryption"). */
  accept?: number;
  keyPair?: MseKeyPair;
  padB?: Uint8Array;
  padD?: Uint8Array;
}

type State = 'await-ya' | 'await-req1' | 'await-skey' | 'await-provide' | 'await-padc' | 'await-ia' | 'done';

const EMPTY = new Uint8Array(0);
const PLAINTEXT_HANDSHAKE = Buffer.from('\u0013BitTorrent protocol', 'latin1');

export class MseResponder {
  private state: State = 'await-ya';
  /** Made when Ya arrives: a connection that opens with a plaintext handshake (dropped) costs no DH work. */
  private keyPair: MseKeyPair | undefined;
  /** HASH('req1', S) and HASH('req3', S), once S is known. */
  private req1: Buffer | undefined;
  private req3: Buffer | undefined;
  private readonly accept: number;
  private readonly byReq2 = new Map<string, Uint8Array>();
  private secret: Buffer | undefined;
  private keys: MseKeys | undefined;
  private encrypt: Rc4 | undefined;
  private decrypt: Rc4 | undefined;
  private inBuf: Buffer = Buffer.alloc(0);
  private select = 0;
  private padCLength = 0;
  private iaLength = 0;
  /** The first bytes were a plaintext BitTorrent handshake. */
  plaintextHandshake = false;
  method: MseMethod | undefined;
  /** The torrent the initiator asked for, once known. */
  infohash: Uint8Array | undefined;

  constructor(private readonly options: MseResponderOptions) {
    this.accept = options.accept ?? CRYPTO_RC4;
    this.keyPair = options.keyPair;
    for (const ih of options.infohashes) this.byReq2.set(req2Hash(ih).toString('hex'), ih);
  }

  get done(): boolean {
    return this.state === 'done';
  }

  write(plain: Uint8Array): Uint8Array {
    if (this.state !== 'done') throw new Error('MSE handshake not done');
    return this.method === 'rc4' ? (this.encrypt as Rc4).apply(plain) : plain;
  }

  receive(chunk: Uint8Array): MseOutput {
    if (this.state === 'done') return { send: EMPTY, plain: this.method === 'rc4' ? (this.decrypt as Rc4).apply(chunk) : chunk };
    this.inBuf = this.inBuf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.inBuf, chunk]);
    const sends: Uint8Array[] = [];
    let plain: Uint8Array = EMPTY;
    if (this.state === 'await-ya') {
      if (this.inBuf.length >= PLAINTEXT_HANDSHAKE.length && this.inBuf.subarray(0, PLAINTEXT_HANDSHAKE.length).equals(PLAINTEXT_HANDSHAKE)) {
        this.plaintextHandshake = true;
        return { send: EMPTY, plain: EMPTY };
      }
      if (this.inBuf.length < DH_KEY_LENGTH) return { send: EMPTY, plain: EMPTY };
      const keyPair = (this.keyPair ??= new MseKeyPair());
      try {
        this.secret = keyPair.secret(this.inBuf.subarray(0, DH_KEY_LENGTH));
      } catch (err) {
        throw new MseError('MSE_BAD_KEY', { cause: err });
      }
      this.req1 = req1Hash(this.secret);
      this.req3 = req3Hash(this.secret);
      this.inBuf = this.inBuf.subarray(DH_KEY_LENGTH);
      sends.push(keyPair.publicKey, this.options.padB ?? randomPad());
      this.state = 'await-req1';
    }
    const secret = this.secret as Buffer;
    if (this.state === 'await-req1') {
      const req1 = this.req1 as Buffer;
      const at = this.inBuf.indexOf(req1);
      if (at > MAX_PAD || (at < 0 && this.inBuf.length >= MAX_PAD + req1.length)) throw new MseError('MSE_SYNC_NOT_FOUND');
      if (at < 0) return this.out(sends, plain);
      this.inBuf = this.inBuf.subarray(at + req1.length);
      this.state = 'await-skey';
    }
    if (this.state === 'await-skey') {
      if (this.inBuf.length < 20) return this.out(sends, plain);
      const req3 = this.req3 as Buffer;
      const req2 = Buffer.alloc(20);
      for (let i = 0; i < 20; i++) req2[i] = (this.inBuf[i] as number) ^ (req3[i] as number);
      const ih = this.byReq2.get(req2.toString('hex'));
      if (ih === undefined) throw new MseError('MSE_UNKNOWN_TORRENT');
      this.infohash = ih;
      this.keys = deriveKeys(secret, ih);
      this.decrypt = new Rc4(this.keys.keyA);
      this.encrypt = new Rc4(this.keys.keyB);
      this.inBuf = this.inBuf.subarray(20);
      this.state = 'await-provide';
    }
    if (this.state === 'await-provide') {
      if (this.inBuf.length < 14) return this.out(sends, plain);
      const head = Buffer.from((this.decrypt as Rc4).apply(this.inBuf.subarray(0, 14)));
      this.inBuf = this.inBuf.subarray(14);
      if (!head.subarray(0, 8).equals(Buffer.from(VC))) throw new MseError('MSE_BAD_VC');
      const provide = head.readUInt32BE(8);
      this.select = provide & this.accept & CRYPTO_RC4 ? CRYPTO_RC4 : provide & this.accept & CRYPTO_PLAINTEXT ? CRYPTO_PLAINTEXT : 0;
      if (this.select === 0) throw new MseError('MSE_NO_COMMON_METHOD');
      this.padCLength = head.readUInt16BE(12);
      if (this.padCLength > MAX_PAD) throw new MseError('MSE_PAD_TOO_LONG');
      this.state = 'await-padc';
    }
    if (this.state === 'await-padc') {
      if (this.inBuf.length < this.padCLength + 2) return this.out(sends, plain);
      (this.decrypt as Rc4).skip(this.padCLength);
      this.iaLength = Buffer.from((this.decrypt as Rc4).apply(this.inBuf.subarray(this.padCLength, this.padCLength + 2))).readUInt16BE(0);
      this.inBuf = this.inBuf.subarray(this.padCLength + 2);
      this.state = 'await-ia';
    }
    if (this.state === 'await-ia') {
      if (this.inBuf.length < this.iaLength) return this.out(sends, plain);
      const ia = (this.decrypt as Rc4).apply(this.inBuf.subarray(0, this.iaLength));
      const rest = this.inBuf.subarray(this.iaLength);
      this.inBuf = Buffer.alloc(0);
      sends.push((this.encrypt as Rc4).apply(step4Plain(this.select, this.options.padD ?? randomPad())));
      this.method = this.select === CRYPTO_RC4 ? 'rc4' : 'plaintext';
      this.state = 'done';
      const after = rest.length === 0 ? EMPTY : this.method === 'rc4' ? (this.decrypt as Rc4).apply(rest) : new Uint8Array(rest);
      plain = Buffer.concat([ia, after]);
    }
    return this.out(sends, plain);
  }

  private out(sends: Uint8Array[], plain: Uint8Array): MseOutput {
    return { send: sends.length === 0 ? EMPTY : Buffer.concat(sends), plain };
  }
}
