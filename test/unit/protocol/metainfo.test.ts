import { createHash } from 'node:crypto';
import bencode from 'bencode';
import { describe, expect, it } from 'vitest';
import { parseInfoDictionary, parseTorrentFile } from '../../../src/protocol/metainfo.js';

const pieces = (n: number) => Buffer.alloc(n * 20, 7);

describe('metainfo', () => {
  it('parses a multi-file .torrent and hashes its info dictionary', () => {
    const info = {
      files: [
        { length: 40000, path: [Buffer.from('a'), Buffer.from('b.bin')] },
        { length: 25536, path: [Buffer.from('c.txt')] },
      ],
      name: Buffer.from('dir'),
      'piece length': 16384,
      pieces: pieces(4),
    };
    const meta = parseTorrentFile(bencode.encode({ announce: Buffer.from('x'), info }));
    expect(meta).toMatchObject({
      infohash: createHash('sha1').update(bencode.encode(info)).digest('hex'),
      name: 'dir',
      totalSize: 65536,
      pieceLength: 16384,
      pieceCount: 4,
      files: [
        { path: 'dir/a/b.bin', length: 40000 },
        { path: 'dir/c.txt', length: 25536 },
      ],
    });
  });

  it.each([
    ['not bencode', Buffer.from('hello')],
    ['a negative string length (hangs the bencode package)', Buffer.from('d-3:')],
    ['a __proto__ key', Buffer.from('d9:__proto__de4:infod4:name1:xee')],
    ['trailing garbage', Buffer.concat([bencode.encode({ info: { name: 'x' } }), Buffer.from('zz')])],
    ['no info dictionary', bencode.encode({ announce: 'x' })],
  ])('rejects %s with a clear error', (_what, buf) => {
    expect(() => parseTorrentFile(buf)).toThrow(/bencode|info dictionary/);
  });

  it('rejects inconsistent piece counts and missing fields', () => {
    const enc = (o: object) => Buffer.from(bencode.encode(o));
    expect(() => parseInfoDictionary(enc({ length: 100, name: 'x', 'piece length': 16384, pieces: pieces(2) }))).toThrow(/piece count 2/);
    expect(() => parseInfoDictionary(enc({ length: 100, 'piece length': 16384, pieces: pieces(1) }))).toThrow(/name/);
    expect(() => parseInfoDictionary(enc({ length: 100, name: 'x', 'piece length': 16384, pieces: Buffer.alloc(21) }))).toThrow(/multiple of 20/);
  });
});
