import { afterEach, describe, expect, it } from 'vitest';
import { CrawlerMesh } from '../../../src/cluster/crawler-mesh.js';
import { rendezvousOwner } from '../../../src/cluster/rendezvous.js';
import { clusterTopology } from '../../../src/cluster/topology.js';
import type { DiscoveredPeer } from '../../../src/model/peer.js';
import { createLogger } from '../../../src/util/logger.js';
import { startTcpProxy } from '../../helpers/tcp-proxy.js';
import { BROKER, brokerUrl, deleteTopology, IH, uniquePrefix, waitFor } from './cluster-helpers.js';

const logger = createLogger('silent');
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

function mesh(prefix: string, nodeId: string, port = BROKER.port, claimHoldMs = 3000): { mesh: CrawlerMesh; captured: DiscoveredPeer[]; offer: (p: DiscoveredPeer) => void } {
  const m = new CrawlerMesh(
    { logger },
    {
      url: brokerUrl(port), topology: clusterTopology(prefix), nodeId, connectTimeoutMs: 2000, heartbeatIntervalMs: 300, claimHoldMs, partitionHoldMs: 1500,
      claimTtlMs: 3_600_000, maxClaims: 10_000,
    },
  );
  cleanups.push(() => m.stop());
  const captured: DiscoveredPeer[] = [];
  const seen = new Set<string>();
  // The pipeline's own recapture guard: one capture per peer and crawler.
  const pipeline = (p: DiscoveredPeer): string => {
    const k = `${p.ip}:${p.port}`;
    if (seen.has(k)) return 'recent';
    seen.add(k);
    captured.push(p);
    return 'queued';
  };
  return { mesh: m, captured, offer: (p) => m.offer(p, pipeline) };
}

const peer = (i: number): DiscoveredPeer => ({ ip: `10.9.${i >> 8}.${i & 255}`, port: 6881, infohash: IH, foundAt: Date.now(), source: 'get_peers' });

describe('crawler mesh (RabbitMQ fanout): membership, key-space slices, one capture per peer', () => {
  it('three crawlers seeing the same 300 peers capture each once; a peer only one crawler sees is still captured', async () => {
    const prefix = uniquePrefix();
    cleanups.push(() => deleteTopology(prefix));
    const nodes = ['crawler-a', 'crawler-b', 'crawler-c'].map((id) => mesh(prefix, id));
    for (const n of nodes) n.mesh.start();
    await waitFor(() => nodes.every((n) => n.mesh.liveCrawlers().length === 3), 30_000, 'three live crawlers');
    // Settled: connected for claimHoldMs (before that every peer is held, ownership is not decided).
    await new Promise((r) => setTimeout(r, 3200));
    // Slices from membership: indexes 0, 1, 2 of 3, one each.
    expect(nodes.map((n) => n.mesh.slice()).sort((a, b) => (a?.index ?? 0) - (b?.index ?? 0))).toEqual([0, 1, 2].map((index) => ({ index, count: 3 })));

    const shared = Array.from({ length: 300 }, (_, i) => peer(i));
    // Each crawler finds them in its own order, spread over ~1.5 s.
    for (let round = 0; round < 3; round++) {
      for (const [k, n] of nodes.entries()) {
        for (const p of shared.slice(round * 100, round * 100 + 100)) n.offer(p);
        await new Promise((r) => setTimeout(r, 150 + k * 50));
      }
    }
    // Peers only crawler-c sees, though another crawler owns some of them.
    const lonely = Array.from({ length: 30 }, (_, i) => peer(1000 + i));
    for (const p of lonely) nodes[2]!.offer(p);
    const owners = lonely.map((p) => rendezvousOwner(`${p.ip}|${p.port}`, ['crawler-a', 'crawler-b', 'crawler-c']));
    expect(owners.filter((o) => o !== 'crawler-c').length).toBeGreaterThan(5);

    await waitFor(() => nodes.every((n) => n.mesh.stats().heldNow === 0), 30_000, 'every held peer decided');
    const all = nodes.flatMap((n) => n.captured.map((p) => `${p.ip}:${p.port}`));
    const unique = new Set(all);
    // Nothing missed: every peer some crawler saw was captured.
    expect(unique.size).toBe(330);
    for (const p of lonely) expect(nodes[2]!.captured.some((c) => c.ip === p.ip)).toBe(true);
    // Duplicates: the measured figure (a race needs the owner to find a peer within a claim's trip).
    const duplicates = all.length - unique.size;
    console.log(`mesh duplicates: ${duplicates} of ${all.length} captures`);
    expect(duplicates).toBeLessThanOrEqual(3);
    // The work was shared: each crawler captured a part of the shared peers (its rendezvous share).
    for (const n of nodes) expect(n.captured.length).toBeGreaterThan(50);
  }, 120_000);

  it('a lookup\'s burst of peers after a quiet spell is split by ownership, not held as a view change', async () => {
    const prefix = uniquePrefix();
    cleanups.push(() => deleteTopology(prefix));
    const nodes = ['crawler-a', 'crawler-b'].map((id) => mesh(prefix, id, BROKER.port, 1000));
    for (const n of nodes) n.mesh.start();
    await waitFor(() => nodes.every((n) => n.mesh.liveCrawlers().length === 2), 30_000, 'two live crawlers');
    // Settled (connected > claimHoldMs) and the same two crawlers for > a heartbeat: nothing offered yet.
    await new Promise((r) => setTimeout(r, 1500));
    const burst = Array.from({ length: 200 }, (_, i) => peer(3000 + i));
    for (const n of nodes) for (const p of burst) n.offer(p);
    for (const n of nodes) {
      const s = n.mesh.stats();
      expect(s.heldViewChanging).toBe(0);
      // Its rendezvous share (about half) at once; the other half waits for the owner's claim.
      expect(s.owned).toBeGreaterThan(50);
    }
    await waitFor(() => nodes.every((n) => n.mesh.stats().heldNow === 0), 30_000, 'every held peer decided');
    const all = nodes.flatMap((n) => n.captured.map((p) => `${p.ip}:${p.port}`));
    expect(new Set(all).size).toBe(200);
  }, 60_000);

  it('a crawler joining mid-stream: every peer captured, and (nearly) once', async () => {
    const prefix = uniquePrefix();
    cleanups.push(() => deleteTopology(prefix));
    const nodes = ['crawler-a', 'crawler-b'].map((id) => mesh(prefix, id, BROKER.port, 1500));
    for (const n of nodes) n.mesh.start();
    await waitFor(() => nodes.every((n) => n.mesh.liveCrawlers().length === 2), 30_000, 'two live crawlers');
    await new Promise((r) => setTimeout(r, 1700));
    // 40 rounds of 20 new peers, 150 ms apart; every running crawler finds each round's peers, in
    // its own order and a little later or earlier than the others. crawler-c joins at round 10.
    let next = 0;
    const total = 40 * 20;
    const offers: Array<Promise<void>> = [];
    for (let round = 0; round < 40; round++) {
      if (round === 10) {
        const c = mesh(prefix, 'crawler-c', BROKER.port, 1500);
        c.mesh.start();
        nodes.push(c);
      }
      const batch = Array.from({ length: 20 }, () => peer(5000 + next++));
      for (const n of nodes) {
        const delay = Math.floor(Math.random() * 120);
        offers.push(new Promise((r) => setTimeout(() => {
          for (const p of [...batch].sort(() => Math.random() - 0.5)) n.offer(p);
          r();
        }, delay)));
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    await Promise.all(offers);
    await waitFor(() => nodes.every((n) => n.mesh.stats().heldNow === 0), 30_000, 'every held peer decided');
    const all = nodes.flatMap((n) => n.captured.map((p) => `${p.ip}:${p.port}`));
    const unique = new Set(all);
    expect(unique.size).toBe(total);
    const duplicates = all.length - unique.size;
    console.log(`mesh duplicates with a crawler joining: ${duplicates} of ${all.length} captures (${nodes.map((n) => n.captured.length).join('/')})`);
    // Measured: 28, 105 and 49 of 800 before takeovers were announced (intent + tie-break) and
    // ownership waited for a settled view; 0 in 6 of 6 runs after. Bounded, not asserted zero: a
    // broker trip slower than intentWaitMs (500 ms here) under heavy load can still let two capture.
    expect(duplicates).toBeLessThanOrEqual(8);
    // The new crawler took its share.
    expect(nodes[2]!.captured.length).toBeGreaterThan(20);
  }, 120_000);

  it('a crawler that joins late gets the live claims and does not capture claimed peers again; without the broker it captures everything', async () => {
    const prefix = uniquePrefix();
    cleanups.push(() => deleteTopology(prefix));
    const a = mesh(prefix, 'crawler-a');
    a.mesh.start();
    await waitFor(() => a.mesh.stats().connected, 20_000, 'a connected');
    for (let i = 0; i < 50; i++) a.offer(peer(i));
    // Just connected: held until the others' claims had time to come (claimHoldMs), then its own (alone).
    expect(a.captured).toHaveLength(0);
    await waitFor(() => a.captured.length === 50, 20_000, 'a to capture the 50 peers');
    const link = await startTcpProxy(BROKER);
    cleanups.push(() => link.close());
    const b = mesh(prefix, 'crawler-b', link.port);
    b.mesh.start();
    await waitFor(() => b.mesh.stats().claimsReceived >= 50, 20_000, 'the late crawler to receive the live claims');
    for (let i = 0; i < 50; i++) b.offer(peer(i));
    expect(b.captured).toHaveLength(0);
    expect(b.mesh.stats().claimedElsewhere).toBe(50);
    // Cut from the broker: b holds what it finds (a might claim it), then captures it after
    // partitionHoldMs (1.5 s here): nothing missed.
    link.cut();
    await waitFor(() => !b.mesh.stats().connected, 20_000, 'b disconnected');
    for (let i = 100; i < 110; i++) b.offer(peer(i));
    expect(b.captured).toHaveLength(0);
    await waitFor(() => b.captured.length === 10, 20_000, 'b to capture the held peers after partitionHoldMs');
  }, 120_000);
});
