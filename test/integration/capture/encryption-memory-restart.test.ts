import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ENCRYPTION_MEMORY_FILE, createCaptureModule, type CaptureModule } from '../../../src/capture/capture-module.js';
import { formatOutcomes } from '../../../src/capture/capture-outcomes.js';
import { EncryptionMemory } from '../../../src/capture/encryption-memory.js';
import { configSchema } from '../../../src/config/config-schema.js';
import { FilterRegistry } from '../../../src/filter/filter-registry.js';
import { openSqliteStore, type SqliteStore } from '../../../src/store/sqlite-store.js';
import { silentLogger } from '../../../src/util/logger.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { makeTorrent, type TorrentFixture } from '../../helpers/torrent-fixture.js';
import { startWirePeerServer } from '../../helpers/wire-peer-server.js';

/**
 * The peers that required encryption survive a restart of the capture module (as main.ts wires
 * it: the file beside the database): the first capture after the restart goes encrypted first,
 * one connection instead of a dropped plain one and the encrypted retry.
 */
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function moduleIn(dir: string, t: TorrentFixture): { store: SqliteStore; capture: CaptureModule } {
  const config = configSchema.parse({
    filters: [{ name: 'watch', infohashes: [t.infohash] }],
    capture: { haveWindowMs: 100, connectTimeoutMs: 1000, handshakeTimeoutMs: 1000, totalTimeoutMs: 3000, reverseDns: { enabled: false } },
  });
  const store = openSqliteStore({ path: path.join(dir, 'capture.db'), busyTimeoutMs: 1000 });
  const filters = new FilterRegistry({ overlay: store.overlay, torrents: store.torrents }, config.filters);
  const capture = createCaptureModule(
    {
      filters, geo: () => ({}), torrents: store.torrents, captures: store.captures,
      notify: { targetsOf: () => [], wake: () => {} }, dialable: () => ({ ok: true }), logger: silentLogger(),
    },
    { capture: config.capture, pcap: { ...config.pcap, dir: path.join(dir, 'pcap') }, databaseDir: dir },
  );
  capture.start();
  return { store, capture };
}

async function settled(capture: CaptureModule): Promise<void> {
  const end = Date.now() + 8000;
  while (capture.stats().scheduler.completed < 1 || capture.queues().captureQueue + capture.queues().capturesRunning > 0) {
    if (Date.now() > end) throw new Error('capture did not settle');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('peers requiring encryption across a restart', () => {
  it('are saved beside the database at stop and dialled encrypted first by the next run', async () => {
    const tmp = tempDir('enc-memory-');
    closers.push(() => tmp.cleanup());
    const t = makeTorrent({ pieceCount: 8 });
    const server = await startWirePeerServer({ host: '127.65.0.1', infohash: t.infohash, peerId: '-TR4060-encmemory000', pieceCount: 8, have: 'all', useFastExtension: true, encryption: 'required' });
    closers.push(() => server.close());
    const peer = { ip: server.host, port: server.port, infohash: t.infohash, foundAt: Date.now(), source: 'get_peers' as const };

    const first = moduleIn(tmp.dir, t);
    expect(first.capture.offer(peer)).toBe('queued');
    await settled(first.capture);
    expect(server.accepted).toBe(2); // the plain handshake dropped, then the encrypted retry
    expect(first.capture.stats().outcomes.peersRequiringEncryption).toBe(1);
    expect(first.capture.stats().outcomes.encryptionMemoryCapacity).toBe(500_000); // capture.encryptionMemoryPeers' default
    expect(formatOutcomes(first.capture.stats().outcomes)[1]).toContain('remembered: 1 require encryption, 0 refuse it (of 500000 at most)');
    await first.capture.stop();
    first.store.close();
    const file = path.join(tmp.dir, ENCRYPTION_MEMORY_FILE);
    expect(existsSync(file)).toBe(true);

    const second = moduleIn(tmp.dir, t);
    closers.push(() => second.store.close());
    closers.push(() => second.capture.stop());
    expect(second.capture.stats().outcomes.peersRequiringEncryption).toBe(1);
    expect(second.capture.offer({ ...peer, foundAt: Date.now() })).toBe('queued');
    await settled(second.capture);
    expect(server.accepted).toBe(3); // one connection: encrypted first
    expect(second.capture.stats().outcomes).toMatchObject({ encryptedRetries: { tried: 0 } });
  });

  it('an unreadable file is an empty memory, not a failed start', async () => {
    const tmp = tempDir('enc-memory-');
    closers.push(() => tmp.cleanup());
    writeFileSync(path.join(tmp.dir, ENCRYPTION_MEMORY_FILE), '{"version": 1, "peers": [');
    const { store, capture } = moduleIn(tmp.dir, makeTorrent({ pieceCount: 8 }));
    closers.push(() => store.close());
    expect(capture.stats().outcomes.peersRequiringEncryption).toBe(0);
    await capture.stop();
    expect(JSON.parse(readFileSync(path.join(tmp.dir, ENCRYPTION_MEMORY_FILE), 'utf8'))).toEqual({ version: 3, peers: [] });
  });
});

describe('EncryptionMemory save / load', () => {
  it('keeps what is within the TTL, oldest first, and the bound', () => {
    const tmp = tempDir('enc-memory-');
    try {
      const file = path.join(tmp.dir, 'm.json');
      const m = new EncryptionMemory(10, 1000);
      m.remember('192.0.2.1', 6881, 0);
      m.remember('2001:db8::1', 51413, 500);
      m.remember('192.0.2.2', 6882, 900);
      expect(m.save(file, 1200)).toBe(2); // 192.0.2.1 is past its TTL
      const back = new EncryptionMemory(1, 1000);
      expect(back.load(file, 1300)).toBe(2);
      expect(back.size).toBe(1); // bounded: the newest stays
      expect(back.requires('192.0.2.2', 6882, 1300)).toBe(true);
      const again = new EncryptionMemory(10, 1000);
      again.load(file, 1300);
      expect(again.requires('2001:db8::1', 51413, 1300)).toBe(true);
      expect(again.requires('2001:db8::1', 51413, 1600)).toBe(false); // remembered at 500, not at load time
      expect(new EncryptionMemory().load(path.join(tmp.dir, 'missing.json'))).toBe(0);
      writeFileSync(file, '{"something": "else"}');
      expect(() => new EncryptionMemory().load(file)).toThrow(/not an encryption memory file/);
    } finally {
      tmp.cleanup();
    }
  });

  it('keeps the way (encrypted / plain), reads version 1 files as peers that required encryption, and counts each way', () => {
    const tmp = tempDir('enc-memory-');
    try {
      const file = path.join(tmp.dir, 'm.json');
      const m = new EncryptionMemory(10, 1000);
      m.remember('192.0.2.1', 6881, 100, 'encrypted');
      m.remember('192.0.2.2', 6882, 100, 'plain');
      m.remember('192.0.2.3', 6883, 100, 'plain');
      expect([m.count('encrypted'), m.count('plain')]).toEqual([1, 2]);
      m.remember('192.0.2.3', 6883, 150, 'encrypted'); // it changed its mind
      expect([m.count('encrypted'), m.count('plain')]).toEqual([2, 1]);
      expect(m.save(file, 200)).toBe(3);
      // The keys' hashes (two 32-bit halves), the time and the way, oldest first.
      const saved = JSON.parse(readFileSync(file, 'utf8')) as { version: number; peers: Array<[number, number, number, string]> };
      expect(saved.version).toBe(3);
      expect(saved.peers.map((p) => [p[2], p[3]])).toEqual([[100, 'encrypted'], [100, 'plain'], [150, 'encrypted']]);
      for (const p of saved.peers) expect(Number.isInteger(p[0]) && Number.isInteger(p[1]) && p[0] >= 0 && p[1] >= 0).toBe(true);
      expect(readFileSync(file, 'utf8')).not.toContain('192.0.2');
      const back = new EncryptionMemory(10, 1000);
      expect(back.load(file, 300)).toBe(3);
      expect(back.refuses('192.0.2.2', 6882, 300)).toBe(true);
      expect(back.requires('192.0.2.2', 6882, 300)).toBe(false);
      expect(back.wayOf('192.0.2.3', 6883, 300)).toBe('encrypted');
      expect(back.wayOf('192.0.2.1', 6881, 2000)).toBeUndefined(); // past its TTL: gone, and not counted
      expect(back.count('encrypted')).toBe(1);
      writeFileSync(file, JSON.stringify({ version: 1, peers: [['198.51.100.1', 51413, 100]] }));
      const v1 = new EncryptionMemory(10, 1000);
      expect(v1.load(file, 300)).toBe(1);
      expect(v1.requires('198.51.100.1', 51413, 300)).toBe(true);
      // Version 2 files (addresses, before 2026-12-05) are read too.
      writeFileSync(file, JSON.stringify({ version: 2, peers: [['198.51.100.3', 51413, 100, 'plain'], ['198.51.100.4', 6881, 100, 'encrypted']] }));
      const v2 = new EncryptionMemory(10, 1000);
      expect(v2.load(file, 300)).toBe(2);
      expect(v2.refuses('198.51.100.3', 51413, 300)).toBe(true);
      expect(v2.requires('198.51.100.4', 6881, 300)).toBe(true);
      writeFileSync(file, JSON.stringify({ version: 3, peers: [[-1, 2, 100, 'plain'], [1.5, 2, 100, 'plain'], [2 ** 32, 2, 100, 'plain']] }));
      expect(new EncryptionMemory(10, 1000).load(file, 300)).toBe(0); // not 32-bit hashes: skipped
      writeFileSync(file, JSON.stringify({ version: 2, peers: [['198.51.100.2', 51413, 100, 'sideways']] }));
      expect(new EncryptionMemory(10, 1000).load(file, 300)).toBe(0); // an unknown way is skipped
    } finally {
      tmp.cleanup();
    }
  });
});
