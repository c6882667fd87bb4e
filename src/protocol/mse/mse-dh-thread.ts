/**
 * The worker thread of mse-dh-pool.ts: the MSE/PE Diffie-Hellman modular exponentiations off the
 * daemon's event loop. Two requests, each answered with one transferred buffer:
 *   pairs   n fresh key pairs: n × (20-byte private exponent from the CSPRNG, 96-byte public key)
 *   secrets k × (20-byte private exponent, 96-byte peer public key, already checked) → k × 96-byte S
 * A request it cannot do is answered with `error` (the pool then does that work inline).
 */
import { randomBytes } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { DH_KEY_LENGTH, PRIVATE_KEY_LENGTH, publicKeyOf, secretOf } from './mse-crypto.js';
import type { DhReply, DhRequest } from './mse-dh-pool.js';

const PAIR = PRIVATE_KEY_LENGTH + DH_KEY_LENGTH;

function answer(req: DhRequest): { reply: DhReply; transfer: ArrayBuffer[] } {
  if (req.kind === 'pairs') {
    const out = new Uint8Array(req.n * PAIR);
    const privates = randomBytes(req.n * PRIVATE_KEY_LENGTH);
    for (let i = 0; i < req.n; i++) {
      const x = privates.subarray(i * PRIVATE_KEY_LENGTH, (i + 1) * PRIVATE_KEY_LENGTH);
      out.set(x, i * PAIR);
      out.set(publicKeyOf(x), i * PAIR + PRIVATE_KEY_LENGTH);
    }
    privates.fill(0);
    return { reply: { id: req.id, buf: out.buffer }, transfer: [out.buffer] };
  }
  const jobs = new Uint8Array(req.buf);
  const k = jobs.length / PAIR;
  const out = new Uint8Array(k * DH_KEY_LENGTH);
  for (let i = 0; i < k; i++) {
    const at = i * PAIR;
    out.set(secretOf(jobs.subarray(at, at + PRIVATE_KEY_LENGTH), jobs.subarray(at + PRIVATE_KEY_LENGTH, at + PAIR)), i * DH_KEY_LENGTH);
  }
  jobs.fill(0);
  return { reply: { id: req.id, buf: out.buffer }, transfer: [out.buffer] };
}

parentPort?.on('message', (req: DhRequest) => {
  let a: { reply: DhReply; transfer: ArrayBuffer[] };
  try {
    a = answer(req);
  } catch (err) {
    a = { reply: { id: req.id, error: String((err as Error).message ?? err) }, transfer: [] };
  }
  parentPort?.postMessage(a.reply, a.transfer);
});
// Loaded: the pool sends work from now on.
parentPort?.postMessage({ ready: true } satisfies DhReply);
