/**
 * Child process of bench/capture-rate.ts: what the pipeline's recapture memory (RecentPeers, at
 * most 1,000,000 entries) weighs once full. The loopback swarm cannot show it (2,500 peers offered
 * in rotation); a daemon capturing ≥ 1,000 distinct peers/s with the default 6 h recapture interval
 * reaches the bound in under 17 minutes and stays there. Keys are built as the pipeline builds
 * them: infohash hex (10,000 torrents) | dotted quad | port. Prints one JSON line.
 */
import { randomBytes } from 'node:crypto';
import { RecentPeers } from '../src/capture/recent-peers.js';

const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const N = 1_000_000;
const infohashes = Array.from({ length: 10_000 }, () => randomBytes(20).toString('hex'));
gc();
const mem0 = process.memoryUsage();
const recent = new RecentPeers(6 * 3_600_000);
let now = Date.now();
const t0 = performance.now();
for (let i = 0; i < N; i++) {
  const ip = `${1 + ((i >>> 16) & 127)}.${(i >>> 8) & 255}.${i & 255}.${(i * 7) & 255}`;
  recent.admit(RecentPeers.key(ip, 6881 + (i % 1000), infohashes[i % infohashes.length] as string), now++);
}
const ms = performance.now() - t0;
gc();
const mem1 = process.memoryUsage();
// The entries live in typed arrays (off the V8 heap): count both.
const heapBytes = mem1.heapUsed - mem0.heapUsed + (mem1.arrayBuffers - mem0.arrayBuffers);
console.log(JSON.stringify({ entries: recent.size, heapBytes, bytesPerEntry: heapBytes / N, usPerAdmit: (ms * 1000) / N }));
