/**
 * The daemon's DHT with `dht.ipv6` on (BEP 32): an IPv6 node on ::1 beside the IPv4 one, lookups on
 * both, IPv6 peers passed on, its own routing table persisted apart (real SQLite), and start-up that
 * survives a host without the configured IPv6 address. Loopback only, no bootstrap but ::1 nodes.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DhtOptions } from '../../../src/dht/dht-module.js';
import type { DiscoveredPeer } from '../../../src/model/peer.js';
import { encodeCompactPeer } from '../../../src/protocol/compact.js';
import { SqliteDhtNodeRepository } from '../../../src/store/dht-node-repository.js';
import { openDatabase, type Db } from '../../../src/store/open-database.js';
import { silentLogger } from '../../../src/util/logger.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { loopbackOnly, RawKrpc, startedDht, waitFor } from './private-dht.js';

const IH = 'c6'.repeat(20);
let tmp: { dir: string; cleanup: () => void };
let db: Db;
let peer6: RawKrpc;
let peer6Port: number;
const peer6Id = randomBytes(20);
const queriesSeen: string[] = [];

beforeAll(async () => {
  tmp = tempDir('dht6-');
  db = openDatabase(path.join(tmp.dir, 'daemon.db'));
  // A stand-in IPv6 DHT node on ::1 that knows two IPv6 peers of IH.
  peer6 = new RawKrpc(6);
  peer6Port = (await peer6.bind('::1')).port;
  peer6.onQuery = (m, reply) => {
    const q = String(m.msg.q);
    queriesSeen.push(q);
    const a = m.msg.a as Record<string, Buffer>;
    const r: Record<string, unknown> = { id: peer6Id, token: Buffer.from('t6'), nodes6: Buffer.alloc(0) };
    if (q === 'get_peers' && a.info_hash?.toString('hex') === IH) r.values = [encodeCompactPeer('fd00:cd::31', 51413), encodeCompactPeer('fd00:cd::32', 6881)];
    reply(r);
  };
});

afterAll(async () => {
  await peer6.close();
  db.close();
  tmp.cleanup();
});

function options(ipv6: DhtOptions['ipv6']): DhtOptions {
  return {
    enabled: true, host: '127.0.74.1', port: 0, bootstrap: [], maxPacketsPerSecond: 500, minQueryIntervalPerIpMs: 0,
    maxPendingQueries: 1024, lookupIntervalMs: 900_000, sampleInfohashes: false, ipv6,
    tuning: { queryTimeoutMs: 500, populateAfterMs: 60_000 },
  };
}

describe('DHT with an IPv6 node (BEP 32)', () => {
  it('finds IPv6 peers of a watched infohash through the IPv6 node, keeps its table apart, and restores it after a restart', async () => {
    const nodes = new SqliteDhtNodeRepository(db, 4);
    const nodes6 = new SqliteDhtNodeRepository(db, 6);
    const found: DiscoveredPeer[] = [];
    const deps = { logger: silentLogger(), nodes, nodes6, onPeer: (p: DiscoveredPeer) => found.push(p), watched: () => [IH], watchAll: () => false, allowDestination: loopbackOnly };
    const dht = await startedDht(deps, options({ enabled: true, host: '::1', port: 0, bootstrap: [`[::1]:${peer6Port}`] }));
    await waitFor(() => found.length >= 2, 15_000);
    expect(found.map((p) => `[${p.ip}]:${p.port}`).sort()).toEqual(['[fd00:cd::31]:51413', '[fd00:cd::32]:6881']);
    expect(found.every((p) => p.infohash === IH && p.source === 'get_peers')).toBe(true);
    const s = dht.stats();
    expect(s.ipv6).toMatchObject({ enabled: true, running: true, error: null });
    expect(s.ipv6.node!.nodes).toBe(1);
    expect(s.ipv6.node!.lookups.peers).toBeGreaterThanOrEqual(2); // the cold first lookup runs again after populate
    expect(s.ipv6.node!.address.address).toBe('::1');
    expect(s.peersFoundByFamily).toEqual({ ipv4: 0, ipv6: 2 });
    expect(s.nodes).toBe(0); // the IPv4 table never got the IPv6 node
    expect(dht.address6()).toEqual(s.ipv6.node!.address);
    await dht.stop();
    expect(nodes6.load().map((n) => `[${n.host}]:${n.port}`)).toEqual([`[::1]:${peer6Port}`]);
    expect(nodes.load()).toEqual([]);

    // Restart without bootstrap: the saved IPv6 table alone leads to the peers again.
    const again: DiscoveredPeer[] = [];
    const before = queriesSeen.length;
    const dht2 = await startedDht({ ...deps, onPeer: (p) => again.push(p) }, options({ enabled: true, host: '::1', port: 0, bootstrap: [] }));
    await waitFor(() => again.length >= 2, 15_000);
    expect(queriesSeen.slice(before)).toContain('get_peers');
    expect(dht2.stats().ipv6.node!.table.loaded).toBe(1);
    await dht2.stop();
  });

  it('starts on IPv4 alone when the host lacks the IPv6 address (no failure), and keeps IPv6 off unless enabled', async () => {
    const deps = { logger: silentLogger(), nodes: new SqliteDhtNodeRepository(db, 4), onPeer: () => {}, watched: () => [], watchAll: () => false, allowDestination: loopbackOnly };
    // fd00:dead::1 is on no interface of this host: bind fails with EADDRNOTAVAIL, nothing is sent.
    const dht = await startedDht(deps, options({ enabled: true, host: 'fd00:dead::1', port: 0, bootstrap: [] }));
    const s = dht.stats();
    expect(s.enabled).toBe(true);
    expect(dht.address()?.address).toBe('127.0.74.1');
    expect(s.ipv6.enabled).toBe(true);
    expect(s.ipv6.running).toBe(false);
    expect(s.ipv6.error).toMatch(/^EADDRNOTAVAIL/);
    expect(dht.address6()).toBeNull();
    await dht.stop();

    const off = await startedDht(deps, options(undefined));
    expect(off.stats().ipv6).toEqual({ enabled: false, running: false, error: null, node: null });
    await off.stop();
  });

  it('SQLite keeps each family to its own rows: load, save and prune per family', () => {
    const v4 = new SqliteDhtNodeRepository(db, 4);
    const v6 = new SqliteDhtNodeRepository(db, 6);
    db.exec('DELETE FROM dht_nodes');
    const id = new Uint8Array(20).fill(7);
    v4.save([{ host: '127.0.0.9', port: 1, id, lastSeen: 10 }, { host: 'fd00::9', port: 2, id, lastSeen: 11 }]);
    v6.save([{ host: 'fd00::1', port: 3, id, lastSeen: 20 }, { host: 'fd00::2', port: 4, id, lastSeen: 30 }, { host: 'fd00::3', port: 5, id, lastSeen: 40 }], 2);
    expect(v4.load().map((n) => n.host)).toEqual(['127.0.0.9']); // the IPv6 row handed to the IPv4 store is skipped
    expect(v6.load().map((n) => n.host)).toEqual(['fd00::3', 'fd00::2']); // pruned to 2 of its own
    expect(v4.count()).toBe(1);
    expect(v6.count()).toBe(2);
  });
});
