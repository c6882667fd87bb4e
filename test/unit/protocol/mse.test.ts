import { execFileSync } from 'node:child_process';
import { DiffieHellman, createHash, randomBytes } from 'node:crypto';
import Wire from 'bittorrent-protocol';
import { describe, expect, it, vi } from 'vitest';
import {
  randomFromPool,
  CRYPTO_PLAINTEXT,
  CRYPTO_RC4,
  DH_PRIME,
  MseKeyPair,
  Rc4,
  deriveKeys,
  step4Plain,
} from '../../../src/protocol/mse/mse-crypto.js';
import { MseError } from '../../../src/protocol/mse/mse-error.js';
import { MseInitiator } from '../../../src/protocol/mse/mse-initiator.js';
import { MseResponder } from '../../../src/protocol/mse/mse-responder.js';

const INFOHASH = Buffer.from('7e07623cc197ca43c69bb49539b2d658d58a74dd', 'hex');
const HANDSHAKE = Buffer.concat([Buffer.from('\u0013BitTorrent protocol', 'latin1'), Buffer.alloc(8), INFOHASH, Buffer.from('-CD0100-abcdefghijkl')]);

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let r = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % mod;
    e >>= 1n;
    b = (b * b) % mod;
  }
  return r;
}
const big = (b: Uint8Array): bigint => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);
const sha1 = (...p: Uint8Array[]): Buffer => p.reduce((h, x) => h.update(x), createHash('sha1')).digest();

/** Delivers bytes in chunks of `size` (1: byte by byte) and collects what comes out. */
function feed(side: { receive(c: Uint8Array): { send: Uint8Array; plain: Uint8Array } }, bytes: Uint8Array, size: number): { send: Buffer; plain: Buffer } {
  const send: Uint8Array[] = [];
  const plain: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    const out = side.receive(bytes.subarray(i, i + size));
    send.push(out.send);
    plain.push(out.plain);
  }
  return { send: Buffer.concat(send), plain: Buffer.concat(plain) };
}

describe('RC4', () => {
  it('matches the classic test vector without discard', () => {
    expect(Buffer.from(new Rc4(Buffer.from('Key'), 0).apply(Buffer.from('Plaintext'))).toString('hex')).toBe('bbf316e8d940af0ad3');
  });

  it('matches OpenSSL RC4 with the first 1024 keystream bytes dropped, across split calls', () => {
    const key = Buffer.from('0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20', 'hex').subarray(0, 20);
    const data = randomBytes(3000);
    const ref = execFileSync(
      process.execPath,
      [
        '--openssl-legacy-provider',
        '-e',
        `const c=require('crypto').createCipheriv('rc4',Buffer.from('${key.toString('hex')}','hex'),'');c.update(Buffer.alloc(1024));process.stdout.write(c.update(Buffer.from('${data.toString('hex')}','hex')).toString('hex'))`,
      ],
      { encoding: 'utf8' },
    );
    const rc4 = new Rc4(key);
    const ours = Buffer.concat([rc4.apply(data.subarray(0, 7)), rc4.apply(data.subarray(7, 1500)), rc4.apply(data.subarray(1500))]);
    expect(ours.toString('hex')).toBe(ref);
  });
});

describe('MSE key exchange', () => {
  it('public key is 2^X mod P in 96 bytes, and both sides compute the same S = Y^X mod P', () => {
    const xa = randomBytes(20);
    const xb = randomBytes(20);
    const a = new MseKeyPair(xa);
    const b = new MseKeyPair(xb);
    expect(a.publicKey.length).toBe(96);
    expect(big(a.publicKey)).toBe(modPow(2n, big(xa), DH_PRIME));
    const s = a.secret(b.publicKey);
    expect(s.length).toBe(96);
    expect(big(s)).toBe(modPow(big(b.publicKey), big(xa), DH_PRIME));
    expect(b.secret(a.publicKey).equals(s)).toBe(true);
  });

  it('keeps leading zero bytes (96-byte values even when the number is shorter)', () => {
    // Y = 2^X mod P with a tiny X: 2^8 = 256 is a 2-byte number.
    const pair = new MseKeyPair(Buffer.from([8]));
    expect(pair.publicKey.length).toBe(96);
    expect(pair.publicKey.subarray(0, 94).every((b) => b === 0)).toBe(true);
    expect(pair.publicKey.readUInt16BE(94)).toBe(256);
  });

  it('refuses degenerate public keys', () => {
    const pair = new MseKeyPair();
    const one = Buffer.alloc(96);
    one[95] = 1;
    expect(() => pair.secret(one)).toThrow(RangeError);
    expect(() => pair.secret(Buffer.from(DH_PRIME.toString(16), 'hex'))).toThrow(RangeError);
    expect(() => pair.secret(Buffer.alloc(95, 7))).toThrow(RangeError);
    // The edges: 0, P − 1 and above P refused; 2 and P − 2 taken.
    const of = (n: bigint): Buffer => Buffer.from(n.toString(16).padStart(192, '0'), 'hex');
    expect(() => pair.secret(Buffer.alloc(96))).toThrow(RangeError);
    expect(() => pair.secret(of(DH_PRIME - 1n))).toThrow(RangeError);
    expect(() => pair.secret(Buffer.alloc(96, 0xff))).toThrow(RangeError);
    expect(pair.secret(of(2n)).length).toBe(96);
    expect(pair.secret(of(DH_PRIME - 2n)).length).toBe(96);
  });

  it('draws random bytes from a pool: each byte handed out once, each draw its own copy', () => {
    const draws = Array.from({ length: 100 }, () => randomFromPool(300)); // crosses refills of the 16 KiB pool
    const seen = new Set(draws.map((d) => d.toString('hex')));
    expect(seen.size).toBe(100);
    expect(draws.every((d) => d.length === 300 && d.some((b) => b !== 0))).toBe(true);
    // A draw is its own copy: changing it does not change the next ones.
    draws[0]?.fill(0);
    expect(randomFromPool(20).some((b) => b !== 0)).toBe(true);
    expect(randomFromPool(40_000).length).toBe(40_000);
  });

  it('derives the hashes of the specification', () => {
    const s = randomBytes(96);
    const k = deriveKeys(s, INFOHASH);
    expect(k.req1).toEqual(sha1(Buffer.from('req1'), s));
    const x = sha1(Buffer.from('req2'), INFOHASH);
    const y = sha1(Buffer.from('req3'), s);
    expect(k.req2xor3).toEqual(Buffer.from(x.map((v, i) => v ^ (y[i] as number))));
    expect(k.keyA).toEqual(sha1(Buffer.from('keyA'), s, INFOHASH));
    expect(k.keyB).toEqual(sha1(Buffer.from('keyB'), s, INFOHASH));
  });
});

function handshakePair(opts: { provide?: number; accept?: number; chunk: number }): { init: MseInitiator; resp: MseResponder; respPlain: Buffer; initPlain: Buffer } {
  const init = new MseInitiator({ infohash: INFOHASH, provide: opts.provide });
  const resp = new MseResponder({ infohashes: [randomBytes(20), INFOHASH], accept: opts.accept });
  const step1 = init.start();
  expect(init.write(HANDSHAKE).length).toBe(0); // held for IA
  const r1 = feed(resp, step1, opts.chunk);
  const i1 = feed(init, r1.send, opts.chunk); // step 3 (with IA)
  const r2 = feed(resp, i1.send, opts.chunk); // step 4
  const i2 = feed(init, r2.send, opts.chunk);
  return { init, resp, respPlain: Buffer.concat([r1.plain, r2.plain]), initPlain: Buffer.concat([i1.plain, i2.plain]) };
}

describe('MSE handshake: our initiator against our responder', () => {
  it.each([1, 7, 100_000])('RC4, delivered in chunks of %i bytes: IA carries the BitTorrent handshake, payload both ways', (chunk) => {
    const { init, resp, respPlain } = handshakePair({ chunk });
    expect(init.done && resp.done).toBe(true);
    expect(init.method).toBe('rc4');
    expect(resp.method).toBe('rc4');
    expect(Buffer.from(resp.infohash as Uint8Array)).toEqual(INFOHASH);
    expect(respPlain).toEqual(HANDSHAKE);
    const msg = randomBytes(300);
    const wire = init.write(msg);
    expect(Buffer.from(wire).equals(msg)).toBe(false);
    expect(Buffer.from(feed(resp, wire, chunk).plain)).toEqual(msg);
    const back = randomBytes(5000);
    expect(Buffer.from(feed(init, resp.write(back), chunk).plain)).toEqual(back);
  });

  it('plaintext selected: only the handshake is obfuscated', () => {
    const { init, resp, respPlain } = handshakePair({ chunk: 13, accept: CRYPTO_PLAINTEXT });
    expect(init.method).toBe('plaintext');
    expect(resp.method).toBe('plaintext');
    expect(respPlain).toEqual(HANDSHAKE);
    const msg = randomBytes(40);
    expect(Buffer.from(init.write(msg))).toEqual(msg);
  });

  it('refuses a method it did not provide, and a responder refuses one it does not accept', () => {
    expect(() => handshakePair({ chunk: 50, provide: CRYPTO_PLAINTEXT, accept: CRYPTO_RC4 })).toThrow(new MseError('MSE_NO_COMMON_METHOD'));
  });

  it('plaintext written between step 3 and step 4 waits for the selected method', () => {
    const init = new MseInitiator({ infohash: INFOHASH });
    const resp = new MseResponder({ infohashes: [INFOHASH] });
    init.write(HANDSHAKE);
    const r1 = resp.receive(init.start());
    const step3 = init.receive(r1.send).send;
    expect(init.write(Buffer.from('later')).length).toBe(0);
    const r2 = resp.receive(step3);
    const i2 = init.receive(r2.send);
    expect(Buffer.from(resp.receive(i2.send).plain).toString()).toBe('later');
  });
});

describe('MSE initiator with deferSecret (S computed by the caller: MseDhPool)', () => {
  it('returns Yb once, waits for withSecret, then goes on with what arrived meanwhile; the same handshake as inline', () => {
    const ours = new MseKeyPair();
    const init = new MseInitiator({ infohash: INFOHASH, keySource: () => ours, deferSecret: true });
    const resp = new MseResponder({ infohashes: [INFOHASH] });
    init.write(HANDSHAKE);
    const r1 = resp.receive(init.start());
    expect(init.ownKeyPair).toBe(ours);
    // Yb and part of PadB, then the rest of PadB while S is being computed.
    const cut = 96 + Math.min(10, r1.send.length - 96);
    const first = init.receive(r1.send.subarray(0, cut));
    expect(first.send.length).toBe(0);
    expect(Buffer.from(first.peerPublic as Uint8Array).equals(Buffer.from(r1.send.subarray(0, 96)))).toBe(true);
    const meanwhile = init.receive(r1.send.subarray(cut));
    expect(meanwhile.send.length + meanwhile.plain.length).toBe(0);
    expect(meanwhile.peerPublic).toBeUndefined();
    expect(() => init.withSecret(Buffer.alloc(96)) && init.withSecret(Buffer.alloc(96))).toThrow(); // only once
  });

  it('completes a handshake with the secret passed in', () => {
    const ours = new MseKeyPair();
    const init = new MseInitiator({ infohash: INFOHASH, keySource: () => ours, deferSecret: true });
    const resp = new MseResponder({ infohashes: [INFOHASH] });
    init.write(HANDSHAKE);
    const r1 = resp.receive(init.start());
    const out = init.receive(r1.send);
    const step3 = init.withSecret(ours.secret(out.peerPublic as Uint8Array)).send;
    const r2 = resp.receive(step3);
    expect(Buffer.from(r2.plain)).toEqual(HANDSHAKE);
    const back = randomBytes(200);
    const i2 = init.receive(Buffer.concat([r2.send, resp.write(back)]));
    expect(init.done && init.method === 'rc4').toBe(true);
    expect(Buffer.from(i2.plain)).toEqual(back);
  });

  it('a degenerate Yb fails at once; more than PadB after Yb while waiting is refused', () => {
    const one = Buffer.alloc(96);
    one[95] = 1;
    const a = new MseInitiator({ infohash: INFOHASH, deferSecret: true });
    a.start();
    expect(() => a.receive(one)).toThrow(new MseError('MSE_BAD_KEY'));
    const b = new MseInitiator({ infohash: INFOHASH, deferSecret: true });
    b.start();
    expect(b.receive(Buffer.concat([new MseKeyPair().publicKey, randomBytes(511)])).peerPublic).toBeDefined();
    expect(() => b.receive(randomBytes(9))).toThrow(new MseError('MSE_SYNC_NOT_FOUND'));
  });
});

describe('MSE: DH work only when the exchange happens', () => {
  it('an initiator that never connects makes no key pair; a responder that drops a plaintext handshake computes nothing', () => {
    void new MseKeyPair(); // the shared group object exists (made once per process)
    const generate = vi.spyOn(DiffieHellman.prototype, 'generateKeys');
    const compute = vi.spyOn(DiffieHellman.prototype, 'computeSecret');
    try {
      for (let i = 0; i < 5; i++) new MseInitiator({ infohash: INFOHASH });
      const resp = new MseResponder({ infohashes: [INFOHASH] });
      expect(resp.receive(HANDSHAKE).send.length).toBe(0);
      expect(resp.plaintextHandshake).toBe(true);
      expect(generate).not.toHaveBeenCalled();
      expect(compute).not.toHaveBeenCalled();
      // A real exchange: one key pair and one secret per side.
      const init = new MseInitiator({ infohash: INFOHASH });
      const resp2 = new MseResponder({ infohashes: [INFOHASH] });
      const r1 = resp2.receive(init.start());
      init.receive(r1.send);
      expect(generate).toHaveBeenCalledTimes(2);
      expect(compute).toHaveBeenCalledTimes(2);
    } finally {
      generate.mockRestore();
      compute.mockRestore();
    }
  });
});

describe('MSE initiator: a peer that gets it wrong', () => {
  it('a plaintext BitTorrent handshake in reply', () => {
    const init = new MseInitiator({ infohash: INFOHASH });
    init.start();
    expect(init.receive(HANDSHAKE.subarray(0, 10)).send.length).toBe(0);
    expect(() => init.receive(HANDSHAKE.subarray(10))).toThrow(new MseError('MSE_PLAINTEXT_REPLY'));
  });

  it('no ENCRYPT(VC) within 512 pad bytes after Yb', () => {
    const init = new MseInitiator({ infohash: INFOHASH });
    init.start();
    const yb = new MseKeyPair().publicKey;
    init.receive(yb);
    expect(() => init.receive(randomBytes(511))).not.toThrow();
    expect(() => init.receive(randomBytes(9))).toThrow(new MseError('MSE_SYNC_NOT_FOUND'));
  });

  it('a degenerate Yb', () => {
    const init = new MseInitiator({ infohash: INFOHASH });
    init.start();
    const one = Buffer.alloc(96);
    one[95] = 1;
    expect(() => init.receive(one)).toThrow(new MseError('MSE_BAD_KEY'));
  });

  it('PadD longer than 512, and a crypto_select of 3', () => {
    for (const [select, padLen, code] of [
      [CRYPTO_RC4, 513, 'MSE_PAD_TOO_LONG'],
      [3, 0, 'MSE_NO_COMMON_METHOD'],
    ] as const) {
      const b = new MseKeyPair();
      const init = new MseInitiator({ infohash: INFOHASH });
      const step1 = init.start();
      init.receive(b.publicKey);
      const keys = deriveKeys(b.secret(step1.subarray(0, 96)), INFOHASH);
      const enc = new Rc4(keys.keyB);
      const plain = step4Plain(select, Buffer.alloc(0));
      plain.writeUInt16BE(padLen, 12);
      expect(() => init.receive(enc.apply(plain))).toThrow(new MseError(code));
    }
  });
});

describe('MSE against bittorrent-protocol (an independent implementation)', () => {
  it('our initiator ↔ its RC4-only responder: handshake in IA, messages both ways', async () => {
    const wire = new Wire('tcpIncoming', 2);
    const init = new MseInitiator({ infohash: INFOHASH });
    const toInit: Uint8Array[] = [];
    wire.on('data', (c: Uint8Array) => toInit.push(c));
    const req2 = sha1(Buffer.from('req2'), INFOHASH).toString('hex');
    wire.on('crypto-infohash', (h) => {
      if (h === req2) wire.setInfoHash(INFOHASH.toString('hex'));
    });
    const gotHandshake = new Promise<string>((resolve) => wire.on('handshake', (ih: string) => resolve(ih)));
    const theirPeerId = Buffer.from('-LT2080-000000000000');
    wire.on('handshake', () => wire.handshake(INFOHASH, theirPeerId, { dht: false }));
    const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

    init.write(HANDSHAKE);
    wire.write(init.start());
    await tick();
    const out1 = init.receive(Buffer.concat(toInit.splice(0)));
    wire.write(out1.send);
    expect(await gotHandshake).toBe(INFOHASH.toString('hex'));
    await tick();
    const out2 = init.receive(Buffer.concat(toInit.splice(0)));
    expect(init.method).toBe('rc4');
    // Their plaintext handshake, decrypted by us.
    expect(Buffer.from(out2.plain).subarray(0, 20).toString('latin1')).toBe('\u0013BitTorrent protocol');
    expect(Buffer.from(out2.plain).subarray(48, 68)).toEqual(theirPeerId);
    // A have message from us, decrypted by them.
    const have = new Promise<number>((resolve) => wire.on('have', (i: number) => resolve(i)));
    wire.write(init.write(Buffer.from([0, 0, 0, 5, 4, 0, 0, 0, 42])));
    expect(await have).toBe(42);
    wire.destroy();
  });

  it('its RC4 initiator ↔ our responder', async () => {
    const wire = new Wire('tcpOutgoing', 2);
    const resp = new MseResponder({ infohashes: [INFOHASH] });
    const fromWire: Uint8Array[] = [];
    wire.on('data', (c: Uint8Array) => fromWire.push(c));
    const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));
    // The library sends its BitTorrent handshake once its side of MSE is done (as its users do).
    wire.on('crypto-handshake', () => wire.handshake(INFOHASH, Buffer.from('-WW0000-000000000000'), { dht: false }));
    wire.startEncryption(INFOHASH.toString('hex'));
    const theirs: Uint8Array[] = [];
    for (let round = 0; round < 4; round++) {
      await tick();
      const out = resp.receive(Buffer.concat(fromWire.splice(0)));
      theirs.push(out.plain);
      if (out.send.length > 0) wire.write(out.send);
    }
    expect(resp.method).toBe('rc4');
    const plain = Buffer.concat(theirs);
    expect(plain.subarray(0, 20).toString('latin1')).toBe('\u0013BitTorrent protocol');
    expect(plain.subarray(28, 48)).toEqual(INFOHASH);
    // And its RC4 stream keeps going: our have message reaches its parser.
    const have = new Promise<number>((resolve) => wire.on('have', (i: number) => resolve(i)));
    wire.write(resp.write(Buffer.concat([plain.subarray(0, 68), Buffer.from([0, 0, 0, 5, 4, 0, 0, 0, 7])])));
    expect(await have).toBe(7);
    wire.destroy();
  });
});
