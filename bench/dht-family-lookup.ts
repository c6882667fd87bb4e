/**
 * Lookup time on the IPv6 DHT vs the IPv4 DHT (BEP 32), against real libtorrent nodes. Runs ONLY
 * inside the e2e's isolated namespace (loopback only; ULA addresses on lo for IPv6):
 *
 *   sudo nice -n 10 test/e2e/run-in-namespace.sh node --import tsx bench/dht-family-lookup.ts [rounds]
 *
 * Starts the e2e swarm (test/e2e/swarm: libtorrent, Transmission, aria2 on the IPv4 DHT; libtorrent
 * and Transmission's IPv6 side on the IPv6 DHT), then per round and per family a FRESH node of ours
 * (src/dht/dht-node.ts; empty table, the family's bootstrap node only) runs get_peers for the
 * swarm's torrent until every client of its family is listed: "cold" is that first lookup from the
 * node's start (socket bound, empty table), "warm" a second lookup on the table the first one
 * filled; each is timed to the value that completes the set. Prints median / p95 / max
 * per family. The two DHTs differ in size (IPv4: 6 nodes, IPv6: 3): compare with that in mind.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import os from 'node:os';
import { mkdtempSync } from 'node:fs';
import { DhtNode } from '../src/dht/dht-node.js';
import { silentLogger } from '../src/util/logger.js';
import { assertIsolated, Swarm, BOOTSTRAP, BOOTSTRAP6 } from '../test/e2e/swarm/swarm.js';
import { hostPort } from '../test/e2e/swarm/krpc.js';
import { percentile } from './lib.js';

assertIsolated();
const ROUNDS = Number(process.argv[2] ?? 10);
const runDir = process.env.E2E_RUN_DIR ?? mkdtempSync(path.join(os.tmpdir(), 'dht-family-lookup.'));
const log = (s: string): void => void process.stderr.write(`${s}\n`);

const swarm = new Swarm({ runDir: path.join(runDir, 'swarm'), log: (s) => log(`swarm: ${s}`) });

/**
 * get_peers walks (repeated 100 ms apart if one ends short) until every peer in `want` was listed:
 * ms from the call to the value that completed the set (the walk is then aborted: its stragglers,
 * queries to nodes gone from the swarm waiting for their 1 s timeout, are not lookup time).
 */
async function lookupUntilAll(node: DhtNode, infohash: string, want: Set<string>, timeoutMs: number): Promise<number | null> {
  const t0 = Date.now();
  const found = new Set<string>();
  let doneAt: number | null = null;
  while (doneAt === null && Date.now() - t0 < timeoutMs) {
    const controller = new AbortController();
    await node.getPeers(
      infohash,
      (ip, port) => {
        found.add(`${ip}:${port}`);
        if (doneAt === null && [...want].every((k) => found.has(k))) {
          doneAt = Date.now();
          controller.abort();
        }
      },
      { timeoutMs: Math.max(100, timeoutMs - (Date.now() - t0)), signal: controller.signal },
    );
    if (doneAt === null) await sleep(100);
  }
  return doneAt === null ? null : doneAt - t0;
}

async function round(family: 4 | 6, i: number, infohash: string, want: Set<string>): Promise<{ cold: number | null; warm: number | null; nodes: number }> {
  const host = family === 6 ? 'fd00:cd::251' : '127.251.0.1';
  const boot = family === 6 ? BOOTSTRAP6 : BOOTSTRAP;
  const node = new DhtNode(
    { logger: silentLogger() },
    {
      family, host, port: 0, bootstrap: [`${boot.ip}:${boot.port}`], maxPacketsPerSecond: 250, minQueryIntervalPerIpMs: 0,
      maxPendingQueries: 1024, queryTimeoutMs: 1000,
      // the namespace has only loopback: still, never anything but the swarm's addresses
      allowDestination: (ip) => ip.startsWith('127.') || ip.startsWith('fd00:cd:'),
    },
  );
  const t0 = Date.now();
  await node.start([], { populate: false });
  try {
    const cold = await lookupUntilAll(node, infohash, want, 15_000);
    const coldFromStart = cold === null ? null : Date.now() - t0;
    const warm = await lookupUntilAll(node, infohash, want, 15_000);
    log(`IPv${family} round ${i}: cold ${coldFromStart} ms (from the node's start), warm ${warm} ms, table ${node.nodeCount()} nodes`);
    return { cold: coldFromStart, warm, nodes: node.nodeCount() };
  } finally {
    await node.stop();
  }
}

function summary(xs: Array<number | null>): string {
  const ok = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (ok.length === 0) return `n=0 (all ${xs.length} failed)`;
  return `n=${ok.length}/${xs.length} median ${percentile(ok, 50)} ms, p95 ${percentile(ok, 95)} ms, max ${Math.max(...ok)} ms`;
}

try {
  const m = await swarm.start();
  await swarm.waitReady(60_000);
  // the swarm's own check: every client listed in its family's DHT before timing anything
  await swarm.probe(20_000);
  await swarm.probe(20_000, { ip: 'fd00:cd::250', port: 6881 });
  const res: Record<4 | 6, { cold: Array<number | null>; warm: Array<number | null>; nodes: number[] }> = {
    4: { cold: [], warm: [], nodes: [] },
    6: { cold: [], warm: [], nodes: [] },
  };
  for (let i = 0; i < ROUNDS; i++) {
    for (const family of [4, 6] as const) {
      const want = new Set(m.clients.filter((c) => c.family === family).map((c) => `${c.ip}:${c.port}`));
      const r = await round(family, i, m.infohash, want);
      res[family].cold.push(r.cold);
      res[family].warm.push(r.warm);
      res[family].nodes.push(r.nodes);
    }
  }
  const load = os.loadavg().map((x) => x.toFixed(1)).join(' ');
  const lines = [
    `dht-family-lookup: ${ROUNDS} rounds, fresh node per round and family, load ${load}`,
    `  IPv4 DHT (${m.clients.filter((c) => c.family === 4).length} peers to find, bootstrap ${hostPort(BOOTSTRAP)}): cold ${summary(res[4].cold)}; warm ${summary(res[4].warm)}`,
    `  IPv6 DHT (${m.clients.filter((c) => c.family === 6).length} peers to find, bootstrap ${hostPort(BOOTSTRAP6)}): cold ${summary(res[6].cold)}; warm ${summary(res[6].warm)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await swarm.stop();
}
