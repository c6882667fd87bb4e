/**
 * (e) The routing table survives a restart: saved to SQLite at stop, restored at start, so a node
 * with an empty bootstrap list still finds peers within seconds.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiscoveredPeer } from '../../../src/model/peer.js';
import type { DhtOptions } from '../../../src/dht/dht-module.js';
import { SqliteDhtNodeRepository } from '../../../src/store/dht-node-repository.js';
import { openDatabase, type Db } from '../../../src/store/open-database.js';
import { silentLogger } from '../../../src/util/logger.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { announce, loopbackOnly, startStockNodes, stopStockNodes, waitFor, type StockNode, startedDht } from './private-dht.js';

const IH = 'e1'.repeat(20);
let stock: StockNode[];
let tmp: { dir: string; cleanup: () => void };
let db: Db;

beforeAll(async () => {
  stock = await startStockNodes(12, '127.0.30.');
  await Promise.all([announce(stock[2]!, IH, 8001), announce(stock[3]!, IH, 8002)]);
  tmp = tempDir('dht-table-');
  db = openDatabase(path.join(tmp.dir, 'daemon.db'));
});

afterAll(async () => {
  db.close();
  tmp.cleanup();
  await stopStockNodes(stock);
});

function options(host: string, bootstrap: string[]): DhtOptions {
  return {
    enabled: true, host, port: 0, bootstrap, maxPacketsPerSecond: 250, minQueryIntervalPerIpMs: 100,
    maxPendingQueries: 1024, lookupIntervalMs: 900_000, sampleInfohashes: false
  };
}

describe('routing table persistence (e)', () => {
  it('saves the table at stop and a node restarted with bootstrap [] finds peers from it', async () => {
    const repo = new SqliteDhtNodeRepository(db);
    const first = await startedDht(
      { logger: silentLogger(), nodes: repo, onPeer: () => {}, watched: () => [], watchAll: () => false, allowDestination: loopbackOnly },
      options('127.0.30.100', [`${stock[0]!.host}:${stock[0]!.port}`]),
    );
    await waitFor(() => first.nodeCount() >= 10, 5000);
    const known = first.nodeCount();
    await first.stop();
    const saved = repo.load();
    expect(saved.length).toBe(known);
    expect(saved.every((n) => n.id?.length === 20 && n.host.startsWith('127.0.30.') && n.lastSeen > 0)).toBe(true);

    const peers: DiscoveredPeer[] = [];
    const t0 = Date.now();
    const second = await startedDht(
      { logger: silentLogger(), nodes: new SqliteDhtNodeRepository(db), onPeer: (p) => peers.push(p), watched: () => [IH], watchAll: () => false, allowDestination: loopbackOnly },
      options('127.0.30.101', []),
    );
    try {
      expect(second.nodeCount()).toBe(known); // restored before any packet was exchanged
      const dt = await waitFor(() => peers.length >= 2, 5000);
      console.log(`restarted node (bootstrap []) restored ${known} nodes and found ${peers.length} peers in ${dt} ms`);
      expect(peers.map((p) => p.port).sort()).toEqual([8001, 8002]);
      expect(peers.every((p) => p.source === 'get_peers' && p.foundAt >= t0)).toBe(true);
      expect(second.stats().table!.loaded).toBe(known);
    } finally {
      await second.stop();
    }
  });

  it('keeps only the most recently seen rows', () => {
    const mem = openDatabase(':memory:');
    const repo = new SqliteDhtNodeRepository(mem);
    const rows = Array.from({ length: 30 }, (_, i) => ({ host: `127.0.31.${i + 1}`, port: 6881, id: null, lastSeen: 1_000 + i }));
    repo.save(rows, 10);
    expect(repo.count()).toBe(10);
    expect(repo.load(3).map((r) => r.lastSeen)).toEqual([1029, 1028, 1027]);
    // An upsert never moves last_seen backwards.
    repo.save([{ host: '127.0.31.30', port: 6881, id: new Uint8Array(20).fill(7), lastSeen: 5 }], 10);
    expect(repo.load(1)[0]).toMatchObject({ host: '127.0.31.30', lastSeen: 1029, id: new Uint8Array(20).fill(7) });
    mem.close();
  });
});
