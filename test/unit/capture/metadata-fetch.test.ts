import { createHash } from 'node:crypto';
import bencode from 'bencode';
import { describe, expect, it } from 'vitest';
import { MetadataFetch, peerUtMetadataId, type MetadataResult } from '../../../src/capture/metadata-fetch.js';
import { metainfoPool } from '../../../src/protocol/metainfo-pool.js';
import { makeTorrent } from '../../helpers/torrent-fixture.js';

const PIECE = 16 * 1024;

function setup(infohash: string, maxBytes = 10 * 1024 * 1024, window?: number) {
  const sent: Array<Record<string, unknown>> = [];
  const results: MetadataResult[] = [];
  const fetch = new MetadataFetch({
    infohash,
    maxBytes,
    window,
    send: (payload) => sent.push(bencode.decode(payload) as Record<string, unknown>),
    onDone: (r) => results.push(r),
  });
  return { fetch, sent, results };
}

function data(piece: number, bytes: Uint8Array, totalSize: number): Buffer {
  return Buffer.concat([Buffer.from(bencode.encode({ msg_type: 1, piece, total_size: totalSize })), bytes]);
}

describe('MetadataFetch', () => {
  it('fetches in order within its window, verifies and parses', () => {
    const t = makeTorrent({ pieceCount: 2500 }); // ~50 KB: 4 metadata pieces
    const { fetch, sent, results } = setup(t.infohash, undefined, 2);
    fetch.start({ m: { ut_metadata: 2 }, metadata_size: t.info.length });
    expect(sent).toEqual([{ msg_type: 0, piece: 0 }, { msg_type: 0, piece: 1 }]);
    const pieces = Math.ceil(t.info.length / PIECE);
    for (let p = 0; p < pieces; p++) fetch.onMessage(data(p, t.info.subarray(p * PIECE, (p + 1) * PIECE), t.info.length));
    expect(sent.map((m) => m.piece)).toEqual([0, 1, 2, 3]);
    expect(results).toHaveLength(1);
    const [r] = results;
    expect(r?.ok && r.metadata.infohash).toBe(t.infohash);
    expect(fetch.finished).toBe(true);
  });

  it('checks a large info dictionary (100,000 files) on the worker thread, and keeps it exactly', { timeout: 60_000 }, async () => {
    const t = makeTorrent({ pieceCount: 64, files: Array.from({ length: 100_000 }, (_, i) => ['d', `f${i}`]) });
    const { fetch, results } = setup(t.infohash, undefined, 4096);
    const before = metainfoPool.stats().offloaded;
    fetch.start({ m: { ut_metadata: 2 }, metadata_size: t.info.length });
    const pieces = Math.ceil(t.info.length / PIECE);
    for (let p = 0; p < pieces; p++) fetch.onMessage(data(p, t.info.subarray(p * PIECE, (p + 1) * PIECE), t.info.length));
    expect(metainfoPool.stats().offloaded).toBe(before + 1);
    for (let i = 0; i < 600 && results.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    const [r] = results;
    expect(r?.ok).toBe(true);
    if (!r?.ok) return;
    expect(r.metadata.infohash).toBe(t.infohash);
    expect(r.metadata.info.equals(t.info)).toBe(true);
    expect(r.metadata.files).toEqual(t.files);
  });

  it('refuses a metadata_size above the cap without sending anything', () => {
    const { fetch, sent, results } = setup('00'.repeat(20), 1000);
    fetch.start({ m: { ut_metadata: 2 }, metadata_size: 1001 });
    expect(sent).toEqual([]);
    expect(results).toEqual([{ ok: false, error: 'metadata: size 1001 bytes exceeds the cap of 1000' }]);
  });

  it.each([
    [{ m: { ut_pex: 1 }, metadata_size: 10 }, 'metadata: peer does not offer ut_metadata'],
    [{ m: { ut_metadata: 0 }, metadata_size: 10 }, 'metadata: peer does not offer ut_metadata'],
    [{ m: { ut_metadata: 300 }, metadata_size: 10 }, 'metadata: peer does not offer ut_metadata'],
    [{ m: { ut_metadata: 2 } }, 'metadata: peer did not announce metadata_size'],
    [{ m: { ut_metadata: 2 }, metadata_size: -5 }, 'metadata: invalid metadata_size'],
    [{ m: { ut_metadata: 2 }, metadata_size: Buffer.from('10') }, 'metadata: invalid metadata_size'],
  ])('refuses a handshake %j', (handshake, error) => {
    const { fetch, results } = setup('00'.repeat(20));
    fetch.start(handshake);
    expect(results).toEqual([{ ok: false, error }]);
  });

  it('fails on an out-of-range piece, with its index in the words', () => {
    const t = makeTorrent({ pieceCount: 100 });
    const { fetch, results } = setup(t.infohash);
    fetch.start({ m: { ut_metadata: 2 }, metadata_size: t.info.length });
    fetch.onMessage(data(999, Buffer.alloc(100), t.info.length));
    expect(results).toEqual([{ ok: false, error: 'metadata: piece 999 out of range (1 pieces)' }]);
  });

  it('asks the memory budget for twice the metadata before requesting it', () => {
    const t = makeTorrent({ pieceCount: 100 });
    const asked: number[] = [];
    const results: unknown[] = [];
    const sent: Uint8Array[] = [];
    const fetch = new MetadataFetch({
      infohash: t.infohash,
      maxBytes: 1 << 20,
      send: (p) => sent.push(p),
      onDone: (r) => results.push(r),
      memory: { grow: (n) => (asked.push(n), false) },
    });
    fetch.start({ m: { ut_metadata: 2 }, metadata_size: t.info.length });
    expect(asked).toEqual([2 * t.info.length]);
    expect(sent).toHaveLength(0);
    expect(results).toEqual([{ ok: false, error: 'metadata: not fetched, the capture memory budget is full' }]);
  });

  it('ignores unsolicited or invalid pieces, fails on the wrong length', () => {
    const t = makeTorrent({ pieceCount: 100 });
    const { fetch, results } = setup(t.infohash);
    fetch.start({ m: { ut_metadata: 2 }, metadata_size: t.info.length });
    fetch.onMessage(data(-1, Buffer.alloc(100), t.info.length));
    fetch.onMessage(Buffer.from('garbage'));
    expect(results).toHaveLength(1); // garbage while fetching ends it
    expect(results[0]).toEqual({ ok: false, error: 'metadata: invalid ut_metadata message' });

    const second = setup(t.infohash);
    second.fetch.start({ m: { ut_metadata: 2 }, metadata_size: t.info.length });
    second.fetch.onMessage(data(0, t.info.subarray(0, 10), t.info.length));
    expect(second.results).toEqual([{ ok: false, error: 'metadata: piece 0 has the wrong length' }]);
  });

  it('fails on a SHA-1 mismatch and on hash-valid bytes that are not an info dictionary', () => {
    const t = makeTorrent({ pieceCount: 10 });
    const wrong = setup('11'.repeat(20));
    wrong.fetch.start({ m: { ut_metadata: 2 }, metadata_size: t.info.length });
    wrong.fetch.onMessage(data(0, t.info, t.info.length));
    expect(wrong.results).toEqual([{ ok: false, error: 'metadata: SHA-1 does not match the infohash' }]);

    // An infohash can be the SHA-1 of anything: `d-3:` would hang bencode.decode.
    const evil = Buffer.from('d-3:');
    const sha1 = (buf: Buffer): string => createHash('sha1').update(buf).digest('hex');
    const hostile = setup(sha1(evil));
    hostile.fetch.start({ m: { ut_metadata: 2 }, metadata_size: evil.length });
    hostile.fetch.onMessage(data(0, evil, evil.length));
    expect(hostile.results).toEqual([{ ok: false, error: 'metadata: info dictionary is not valid bencode' }]);

    const notInfo = Buffer.from(bencode.encode({ hello: 'world' }));
    const parsed = setup(sha1(notInfo));
    parsed.fetch.start({ m: { ut_metadata: 2 }, metadata_size: notInfo.length });
    parsed.fetch.onMessage(data(0, notInfo, notInfo.length));
    expect(parsed.results[0]?.ok).toBe(false);
    expect(parsed.results[0]?.ok === false && parsed.results[0].error).toMatch(/^metadata: invalid info dictionary/);
  });

  it('answers the peer\'s own requests with a bounded number of rejects', () => {
    const { fetch, sent } = setup('00'.repeat(20));
    for (let i = 0; i < 40; i++) fetch.onMessage(Buffer.from(bencode.encode({ msg_type: 0, piece: i })));
    expect(sent).toHaveLength(16);
    expect(sent[0]).toEqual({ msg_type: 2, piece: 0 });
  });

  it('a reject of a requested piece ends the fetch', () => {
    const { fetch, results } = setup('00'.repeat(20));
    fetch.start({ m: { ut_metadata: 2 }, metadata_size: 100 });
    fetch.onMessage(Buffer.from(bencode.encode({ msg_type: 2, piece: 0 })));
    expect(results).toEqual([{ ok: false, error: 'metadata: peer rejected the request' }]);
  });

  it('peerUtMetadataId reads only a sane own id', () => {
    expect(peerUtMetadataId({ m: { ut_metadata: 3 } })).toBe(3);
    expect(peerUtMetadataId({ m: Buffer.from('x') })).toBeUndefined();
    expect(peerUtMetadataId({})).toBeUndefined();
  });
});
