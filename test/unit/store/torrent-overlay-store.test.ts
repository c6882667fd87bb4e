import { afterEach, describe, expect, it } from 'vitest';
import type { TorrentMetadata } from '../../../src/protocol/metainfo.js';
import { storeBackends, type OpenedBackend } from '../../helpers/store-backends.js';

const A = 'aa'.repeat(20);
const B = 'bb'.repeat(20);

function meta(infohash: string, name: string): TorrentMetadata {
  return {
    infohash,
    name,
    totalSize: 3 * 2 ** 33,
    pieceLength: 2 ** 20,
    pieceCount: 3 * 2 ** 13,
    files: [{ path: `${name}/a.bin`, length: 2 ** 33 }, { path: `${name}/b "c"\t.bin`, length: 2 ** 34 }],
    info: Buffer.from([0, 1, 2, 255, 92, 10]),
  } as unknown as TorrentMetadata;
}

// Torrents and the filter overlay, on SQLite and on PostgreSQL.
describe.each(storeBackends)('torrents and filter overlay on $name', (backend) => {
  let opened: OpenedBackend | undefined;
  afterEach(async () => {
    await opened?.close();
    opened = undefined;
  });

  it('torrents: unknown, pending once, then known with its metadata (sizes over 2^32, binary info)', async () => {
    opened = await backend.open();
    const { torrents } = opened;
    expect(await torrents.get(A)).toEqual({ infohash: A, state: 'unknown' });
    expect(await torrents.addPending(A, 'infohash', 100)).toBe(true);
    expect(await torrents.addPending(A, 'dht', 200)).toBe(false);
    expect(await torrents.addPending(B, 'dht', 50)).toBe(true);
    expect(await torrents.get(A)).toEqual({ infohash: A, state: 'pending', source: 'infohash', addedAt: 100, updatedAt: 100 });
    expect(await torrents.pendingInfohashes()).toEqual([B, A]);
    expect(await torrents.infoDictionary(A)).toBeUndefined();
    await torrents.putMetadata(meta(A, 'Some Name'), 'upload', 300);
    const m = meta(A, 'Some Name');
    expect(await torrents.get(A)).toEqual({
      infohash: A,
      state: 'known',
      name: 'Some Name',
      totalSize: m.totalSize,
      pieceLength: m.pieceLength,
      pieceCount: m.pieceCount,
      files: m.files,
      source: 'infohash',
      addedAt: 100,
      updatedAt: 300,
    });
    expect(await torrents.infoDictionary(A)).toEqual(m.info);
    expect(await torrents.pendingInfohashes()).toEqual([B]);
    // Adding a known torrent as pending changes nothing.
    expect(await torrents.addPending(A, 'infohash', 400)).toBe(false);
    expect((await torrents.get(A)).state).toBe('known');
  });

  it('filter overlay: the last change per filter and infohash wins; reset forgets one filter', async () => {
    opened = await backend.open();
    const { overlay } = opened;
    expect(await overlay.list()).toEqual([]);
    await overlay.record('f-b', A, 'add', 1);
    await overlay.record('f-a', B, 'add', 2);
    await overlay.record('f-a', A, 'add', 3);
    await overlay.record('f-a', B, 'delete', 4);
    expect(await overlay.list()).toEqual([
      { filter: 'f-a', infohash: A, op: 'add', changedAt: 3 },
      { filter: 'f-a', infohash: B, op: 'delete', changedAt: 4 },
      { filter: 'f-b', infohash: A, op: 'add', changedAt: 1 },
    ]);
    expect(await overlay.reset('f-a')).toBe(2);
    expect(await overlay.reset('f-a')).toBe(0);
    expect(await overlay.list()).toEqual([{ filter: 'f-b', infohash: A, op: 'add', changedAt: 1 }]);
    await expect(async () => overlay.record('f-b', 'short', 'add', 5)).rejects.toThrow(/CHECK|check/);
  });
});
