/**
 * The thread of decode-pool.ts: inflates, decodes (UTF-8), parses and normalises submission bodies
 * off the event loop. Swarm rows go back packed (their numbers transferred, not copied).
 */
import { parentPort } from 'node:worker_threads';
import type { DecodeCall, DecodeReply } from './decode-pool.js';
import { decodeSubmission } from './submission-decode.js';
import { isPackedSwarm } from './swarm-pack.js';

const port = parentPort;
port?.on('message', (call: DecodeCall) => {
  let reply: DecodeReply;
  const transfer: ArrayBuffer[] = [];
  try {
    const value = decodeSubmission(call.kind, new Uint8Array(call.bytes), call.encoding, call.now, { ...call.options, pack: true });
    for (const part of value.swarm ?? []) {
      if (isPackedSwarm(part)) transfer.push(part.nums.buffer as ArrayBuffer, part.refs.buffer as ArrayBuffer);
    }
    reply = { id: call.id, ok: true, value };
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown; name?: unknown };
    reply = { id: call.id, ok: false, code: typeof e.code === 'string' ? e.code : undefined, name: String(e.name ?? 'Error'), message: String(e.message ?? err) };
  }
  port.postMessage(reply, transfer);
});
