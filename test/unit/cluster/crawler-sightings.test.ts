import { describe, expect, it } from 'vitest';
import { createCrawlerCluster } from '../../../src/cluster/crawler-cluster.js';
import type { ForwardedSighting } from '../../../src/cluster/ports.js';
import { configSchema } from '../../../src/config/config-schema.js';
import { resolveConfig } from '../../../src/config/load-config.js';
import type { DiscoveredPeer } from '../../../src/model/peer.js';
import { silentLogger } from '../../../src/util/logger.js';

const WATCHED = 'ab'.repeat(20);

function crawler(options: { sightings?: boolean; backlog?: number } = {}) {
  const config = resolveConfig(configSchema.parse({ role: 'crawler', cluster: { nodeId: 'c1', forward: { maxBacklogRows: 100, sightings: options.sightings ?? true } } }), {});
  const values = new Map<string, string>();
  const added: ForwardedSighting[] = [];
  const offered: DiscoveredPeer[] = [];
  const cluster = createCrawlerCluster(
    {
      state: { get: (k) => values.get(k), set: (k, v) => void values.set(k, v), transaction: (fn) => fn() },
      outbox: {
        nextBatch: () => [], deleteConfirmed: () => undefined, recordFailure: () => undefined, count: () => 0, oldestCreatedAt: () => undefined,
        rowCountUpperBound: () => options.backlog ?? 0,
        add: (items) => added.push(...items.map((i) => JSON.parse(i.body) as ForwardedSighting)),
      },
      writer: () => () => [], replaceOverlay: () => undefined, setFilters: () => undefined, logger: silentLogger(),
      sighted: (p) => p.infohash === WATCHED,
    },
    config,
  );
  const offer = (i: number, infohash = WATCHED): void =>
    cluster.offer({ ip: `10.0.0.${i}`, port: 6881, infohash, foundAt: 1_700_000_000_000 + i, source: 'get_peers' }, (p) => (offered.push(p), 'queued'));
  return { cluster, added, offered, offer };
}

const forward = (c: ReturnType<typeof crawler>['cluster']): Record<string, number> => (c.status() as { forward: Record<string, number> }).forward;

describe('crawler sightings', () => {
  it('forwards every found peer of a watched torrent as a sighting with its own uid, in one outbox write per flush', async () => {
    const { cluster, added, offered, offer } = crawler();
    offer(1);
    offer(2);
    offer(3, 'cd'.repeat(20)); // not watched: offered to the mesh, no sighting
    expect(added).toHaveLength(0); // buffered (250 ms)
    expect(forward(cluster).sightingsBuffered).toBe(2);
    await new Promise((r) => setTimeout(r, 400));
    expect(added.map((s) => [s.ip, s.port, s.infohash, s.seenAt, s.crawlerId])).toEqual([
      ['10.0.0.1', 6881, WATCHED, 1_700_000_000_001, 'c1'],
      ['10.0.0.2', 6881, WATCHED, 1_700_000_000_002, 'c1'],
    ]);
    expect(new Set(added.map((s) => s.uid)).size).toBe(2);
    expect(forward(cluster)).toMatchObject({ sightings: 2, sightingsBuffered: 0, sightingsDropped: 0 });
    expect(offered.length + (cluster.mesh.stats().heldNow)).toBe(3);
    await cluster.stop();
  });

  it('drops sightings (counted) past half the backlog bound, and sends none when cluster.forward.sightings is false', async () => {
    const full = crawler({ backlog: 50 });
    full.offer(1);
    await full.cluster.stop(); // stop flushes the buffer
    expect(full.added).toHaveLength(0);
    expect(forward(full.cluster)).toMatchObject({ sightings: 0, sightingsDropped: 1 });
    const off = crawler({ sightings: false });
    off.offer(1);
    await off.cluster.stop();
    expect(off.added).toHaveLength(0);
    expect(forward(off.cluster)).toMatchObject({ sightings: 0, sightingsDropped: 0 });
  });
});
