/**
 * Run by test/unit/dht/announced-peer-store-memory.test.ts in a process of its own (node --expose-gc),
 * so that nothing else allocates ArrayBuffers between the two readings. Prints {held, size, peer}.
 */
import { AnnouncedPeerStore } from '../../src/dht/announced-peer-store.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const store = new AnnouncedPeerStore({ maxPeers: 2000, maxPerInfohash: 2000 });
gc();
const before = process.memoryUsage().arrayBuffers;
for (let i = 0; i < 2000; i++) {
  // Other small pooled allocations between announces, as in the daemon (KRPC messages, bencode):
  // they fill the pool, so each announce's compact peer would land in a slab of its own.
  Buffer.allocUnsafe(4000).fill(1);
  Buffer.allocUnsafe(4000).fill(2);
  store.add('a'.repeat(40), `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 6881);
}
gc();
const held = process.memoryUsage().arrayBuffers - before;
const one = store.get('a'.repeat(40), 1)[0];
process.stdout.write(JSON.stringify({ held, size: store.size, peer: one ? [...one] : null }));
