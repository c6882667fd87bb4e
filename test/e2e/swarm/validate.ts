/**
 * Checks the swarm by itself (no daemon): start every client, wait for the hash checks, then find
 * every client through the private DHT with an independent get_peers probe. Prints one JSON line.
 *
 *   test/e2e/run-in-namespace.sh node --import tsx test/e2e/swarm/validate.ts
 */
import path from 'node:path';
import { Swarm } from './swarm.js';

const runDir = path.join(process.env.E2E_RUN_DIR ?? '/tmp/capture-e2e-validate', 'swarm');
const swarm = new Swarm({ runDir, benchPeers: Number(process.env.E2E_BENCH_PEERS ?? 2) });
let rc = 0;
try {
  const t0 = Date.now();
  const m = await swarm.start();
  const readyMs = await swarm.waitReady(60_000);
  const probe = await swarm.probe(30_000);
  const states = await swarm.clientStates();
  const bench = swarm.manifest.bench.ips.length > 0 ? await swarm.announceBenchPeer(0) : undefined;
  console.log(JSON.stringify({ ok: true, startMs: Date.now() - t0, readyMs, probeMsAfterReady: probe, states, bench, manifest: m }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, error: String(err), states: await swarm.clientStates().catch(() => undefined) }));
  rc = 1;
} finally {
  await swarm.stop();
}
process.exit(rc);
