import { createHash } from 'node:crypto';
import bencode from 'bencode';
import { afterAll, describe, expect, it } from 'vitest';
import { parseTorrentFile } from '../../../src/protocol/metainfo.js';
import { MetainfoPool } from '../../../src/protocol/metainfo-pool.js';
import { makeTorrent } from '../../helpers/torrent-fixture.js';

/** A valid .torrent of `n` files (~50 bytes each in the file list). */
function manyFiles(n: number): ReturnType<typeof makeTorrent> {
  return makeTorrent({ name: 'many', pieceCount: 64, files: Array.from({ length: n }, (_, i) => ['dir', `file-${i}.bin`]) });
}

const pools: MetainfoPool[] = [];
const pool = (o: ConstructorParameters<typeof MetainfoPool>[0] = {}): MetainfoPool => {
  const p = new MetainfoPool(o);
  pools.push(p);
  return p;
};
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

describe('MetainfoPool', () => {
  it('accepts a valid 100,000-file torrent, parsed on the worker, exactly as the inline parser does', { timeout: 60_000 }, async () => {
    const t = manyFiles(100_000);
    expect(t.buffer.length).toBeGreaterThan(256 * 1024);
    const p = pool();
    const meta = await p.parse('torrent', t.buffer);
    expect(p.stats()).toMatchObject({ offloaded: 1, inline: 0, queued: 0, running: 0 });
    expect(meta.infohash).toBe(t.infohash);
    expect(meta.infohash).toBe(createHash('sha1').update(t.info).digest('hex'));
    expect(meta.info.equals(t.info)).toBe(true);
    expect(meta).toMatchObject({ name: 'many', pieceCount: 64, pieceLength: t.pieceLength, totalSize: t.totalSize });
    expect(meta.files).toHaveLength(100_000);
    expect(meta.files[0]).toEqual({ path: 'many/dir/file-0.bin', length: t.files[0]?.length });
    expect(meta.files[99_999]).toEqual({ path: 'many/dir/file-99999.bin', length: t.files[99_999]?.length });
    const inline = parseTorrentFile(t.buffer);
    expect(meta.files).toEqual(inline.files);
    expect(JSON.parse(meta.filesJson as string)).toEqual(inline.files);
    // BEP 9: the info dictionary alone, the same.
    const info = await p.parse('info', t.info);
    expect(info.infohash).toBe(t.infohash);
    expect(p.stats().offloaded).toBe(2);
  });

  it('parses a small torrent inline (no worker)', async () => {
    const t = makeTorrent();
    const p = pool();
    expect((await p.parse('torrent', t.buffer)).infohash).toBe(t.infohash);
    expect(p.stats()).toMatchObject({ inline: 1, offloaded: 0 });
    await expect(p.parse('torrent', Buffer.from('not bencode'))).rejects.toMatchObject({ code: 'INVALID_TORRENT' });
  });

  it('rejects an invalid large torrent with the same INVALID_TORRENT message as the inline parser', { timeout: 60_000 }, async () => {
    const t = manyFiles(20_000);
    const doc = bencode.decode(t.buffer) as { info: { files: Array<{ path: unknown }> } };
    (doc.info.files[7] as { path: unknown }).path = { not: 'a list' };
    const bad = Buffer.from(bencode.encode(doc));
    expect(bad.length).toBeGreaterThan(256 * 1024);
    let inlineMessage = '';
    try {
      parseTorrentFile(bad);
    } catch (err) {
      inlineMessage = (err as Error).message;
    }
    expect(inlineMessage).toMatch(/info\.files\[7\]\.path must be a non-empty list of strings/);
    await expect(pool().parse('torrent', bad)).rejects.toMatchObject({ code: 'INVALID_TORRENT', message: inlineMessage });
  });

  it('bounds its queue (429 RATE_LIMITED beyond it) and its time (the worker is replaced)', { timeout: 60_000 }, async () => {
    const t = manyFiles(20_000);
    const p = pool({ maxQueued: 1 });
    const first = p.parse('torrent', t.buffer);
    const second = p.parse('torrent', t.buffer); // waits: the one worker is busy
    await expect(p.parse('torrent', t.buffer)).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect((await first).infohash).toBe(t.infohash);
    expect((await second).infohash).toBe(t.infohash);
    expect(p.stats().refused).toBe(1);

    const slow = pool({ timeoutMs: 1 });
    await expect(slow.parse('torrent', manyFiles(100_000).buffer)).rejects.toThrow(/took longer than 1 ms/);
    expect(slow.stats().timeouts).toBe(1);
  });
});
