import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { DH_PRIME, MseKeyPair, publicKeyOf } from '../../../src/protocol/mse/mse-crypto.js';
import { MseDhPool, type MseDhPoolOptions } from '../../../src/protocol/mse/mse-dh-pool.js';

const pools: MseDhPool[] = [];
const pool = (o: Partial<MseDhPoolOptions> = {}): MseDhPool => {
  const p = new MseDhPool(o);
  pools.push(p);
  return p;
};
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

/** Until the pool's thread is up and has key pairs ready (it starts on first use). */
async function warm(p: MseDhPool, ready = 1): Promise<void> {
  p.keyPair();
  const until = Date.now() + 20_000;
  while (p.stats().ready < ready) {
    if (Date.now() > until) throw new Error(`pool not ready: ${JSON.stringify(p.stats())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A thread that says it is ready and then answers nothing (a stuck thread). */
const silentThread = (): Worker =>
  new Worker("const { parentPort } = require('node:worker_threads'); parentPort.on('message', () => {}); parentPort.postMessage({ ready: true });", { eval: true });

/** A thread that says it is ready and exits at its first request (a thread that dies). */
const dyingThread = (): Worker =>
  new Worker("const { parentPort } = require('node:worker_threads'); parentPort.on('message', () => process.exit(3)); parentPort.postMessage({ ready: true });", { eval: true });

describe('MseDhPool', () => {
  it('hands out key pairs made on its thread, each once, valid, at most `capacity` held', { timeout: 30_000 }, async () => {
    const p = pool({ capacity: 16, batch: 8 });
    await warm(p, 8);
    expect(p.stats().ready).toBeLessThanOrEqual(16);
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const pair = p.keyPair();
      expect(pair.publicKey.equals(publicKeyOf(pair.privateExponent))).toBe(true);
      seen.add(pair.privateExponent.toString('hex'));
      seen.add(pair.publicKey.toString('hex'));
      expect(p.stats().ready).toBeLessThanOrEqual(16);
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 30)); // refills arrive between bursts
    }
    expect(seen.size).toBe(200); // no private or public key twice
    const s = p.stats();
    expect(s.pairsFromThread + s.pairsInline).toBe(101);
    expect(s.pairsFromThread).toBeGreaterThan(8);
    expect(s).toMatchObject({ state: 'running', threadFailures: 0 });
  });

  it('computes secrets on its thread, batched per turn, equal to the other side', { timeout: 30_000 }, async () => {
    const p = pool();
    await warm(p);
    const peers = Array.from({ length: 5 }, () => new MseKeyPair());
    const ours = peers.map(() => p.keyPair());
    const expected = ours.map((a, i) => (peers[i] as MseKeyPair).secret(a.publicKey));
    const got = await Promise.all(ours.map((a, i) => p.secret(a, (peers[i] as MseKeyPair).publicKey)));
    got.forEach((s, i) => expect(s.equals(expected[i] as Buffer)).toBe(true));
    expect(p.stats()).toMatchObject({ secretsOnThread: 5, secretsInline: 0, queued: 0 });
    // Each pair is used once: its private key is zeroed once its secret is known.
    for (const a of ours) expect(a.privateExponent.every((b) => b === 0)).toBe(true);
  });

  it('bounded: beyond maxQueued waiting secrets, the work is done inline', { timeout: 30_000 }, async () => {
    const p = pool({ maxQueued: 2 });
    await warm(p);
    const peer = new MseKeyPair();
    const ours = Array.from({ length: 6 }, () => p.keyPair());
    const got = await Promise.all(ours.map((a) => p.secret(a, peer.publicKey)));
    got.forEach((s, i) => expect(s.equals(peer.secret((ours[i] as MseKeyPair).publicKey))).toBe(true));
    expect(p.stats()).toMatchObject({ secretsOnThread: 2, secretsInline: 4, queued: 0 });
    // Inline or on the thread, each pair's private key is zeroed once its secret is known.
    for (const a of ours) expect(a.privateExponent.every((b) => b === 0)).toBe(true);
  });

  it('rejects a degenerate peer key as MseKeyPair.secret does', async () => {
    const p = pool();
    const one = Buffer.alloc(96);
    one[95] = 1;
    await expect(p.secret(p.keyPair(), one)).rejects.toThrow(RangeError);
    await expect(p.secret(p.keyPair(), Buffer.from(DH_PRIME.toString(16), 'hex'))).rejects.toThrow(RangeError);
  });

  it('a thread that dies: its secrets are computed inline, it is replaced, and after maxFailures the pool stays inline', { timeout: 30_000 }, async () => {
    let started = 0;
    const p = pool({
      maxFailures: 2,
      capacity: 0 + 4,
      batch: 4,
      start: () => {
        started++;
        return dyingThread();
      },
    });
    const peer = new MseKeyPair();
    // The first pair starts the thread (inline meanwhile); its refill request kills it.
    const a = p.keyPair();
    const until = Date.now() + 20_000;
    while (p.stats().state !== 'inline') {
      if (Date.now() > until) throw new Error(`never inline: ${JSON.stringify(p.stats())}`);
      const s = await p.secret(p.keyPair(), peer.publicKey);
      expect(s.length).toBe(96);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(started).toBe(2);
    expect(p.stats().threadFailures).toBeGreaterThanOrEqual(2);
    // Inline from now on: every handshake still gets its pair and its secret.
    const s = await p.secret(a, peer.publicKey);
    expect(s.equals(peer.secret(a.publicKey))).toBe(true);
    const b = p.keyPair();
    expect((await p.secret(b, peer.publicKey)).equals(peer.secret(b.publicKey))).toBe(true);
    expect(p.stats().pairsFromThread).toBe(0);
  });

  it('a thread that does not answer within timeoutMs: the waiting secrets are computed inline and counted', { timeout: 30_000 }, async () => {
    const p = pool({ timeoutMs: 200, maxFailures: 1, start: silentThread });
    p.keyPair();
    const until = Date.now() + 20_000;
    while (p.stats().state !== 'running') {
      if (Date.now() > until) throw new Error('thread never ready');
      await new Promise((r) => setTimeout(r, 10));
    }
    const peer = new MseKeyPair();
    const a = p.keyPair();
    const t0 = Date.now();
    const s = await p.secret(a, peer.publicKey);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(s.equals(peer.secret(a.publicKey))).toBe(true);
    expect(p.stats()).toMatchObject({ secretsOnThread: 0, secretsInline: 1, queued: 0, state: 'inline' });
    expect(p.stats().threadFailures).toBeGreaterThanOrEqual(1);
  });

  it('a thread that cannot even be started: inline, counted, and given up after maxFailures', async () => {
    let tries = 0;
    const p = pool({
      maxFailures: 3,
      start: () => {
        tries++;
        throw new Error('no worker file');
      },
    });
    const peer = new MseKeyPair();
    for (let i = 0; i < 5; i++) {
      const a = p.keyPair();
      expect((await p.secret(a, peer.publicKey)).equals(peer.secret(a.publicKey))).toBe(true);
    }
    expect(tries).toBe(3);
    expect(p.stats()).toMatchObject({ pairsInline: 5, secretsInline: 5, threadFailures: 3, state: 'inline' });
  });

  it('disabled (a single-core host): no thread, everything inline', async () => {
    let started = 0;
    const p = pool({
      enabled: false,
      start: () => {
        started++;
        return silentThread();
      },
    });
    const peer = new MseKeyPair();
    const a = p.keyPair();
    expect((await p.secret(a, peer.publicKey)).equals(peer.secret(a.publicKey))).toBe(true);
    expect(started).toBe(0);
    expect(p.stats()).toMatchObject({ pairsInline: 1, secretsInline: 1, pairsFromThread: 0, secretsOnThread: 0, state: 'inline' });
  });
});
