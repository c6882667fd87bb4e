import { createHash } from 'node:crypto';
import bencode from 'bencode';
import { describe, expect, it, vi } from 'vitest';
import { parseInfoDictionary, parseTorrentFile } from '../../../src/protocol/metainfo.js';
import { AppError } from '../../../src/util/app-error.js';

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

  it('treats a __proto__ key as an ordinary key (no prototype games)', () => {
    expect(() => parseTorrentFile(Buffer.from('d9:__proto__de4:infod4:name1:xee'))).toThrow(/piece length/);
  });

  const enc = (o: object) => Buffer.from(bencode.encode(o));
  const base = { length: 100, name: 'x', 'piece length': 16384, pieces: pieces(1) };
  const multi = (file: Record<string, unknown>) => ({ files: [file], name: 'x', 'piece length': 16384, pieces: pieces(1) });
  const expectInvalid = (buf: Buffer, message: RegExp) => {
    let err: unknown;
    try {
      parseTorrentFile(buf);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('INVALID_TORRENT');
    expect((err as AppError).message).toMatch(message);
  };

  it.each([
    ['a string as path.utf-8', multi({ length: 100, path: [Buffer.from('a')], 'path.utf-8': Buffer.from('a') }), /files\[0\]\.path\.utf-8 must be a non-empty list of strings/],
    ['a dict as path.utf-8', multi({ length: 100, path: [Buffer.from('a')], 'path.utf-8': { a: 1 } }), /files\[0\]\.path\.utf-8 must be a non-empty list/],
    ['a dict as path', multi({ length: 100, path: { a: 1 } }), /files\[0\]\.path must be a non-empty list/],
    ['an integer segment', multi({ length: 100, path: [Buffer.from('a'), 5] }), /files\[0\]\.path must be a non-empty list of strings/],
    ['an empty path', multi({ length: 100, path: [] }), /files\[0\]\.path must be a non-empty list/],
    ['a file that is not a dict', { files: [5], name: 'x', 'piece length': 16384, pieces: pieces(1) }, /files\[0\] must be a dictionary/],
    ['a path longer than 4096 bytes', multi({ length: 100, path: [Buffer.alloc(5000, 0x61)] }), /longer than 4096 bytes/],
    ['a piece length of 2 GiB', { ...base, 'piece length': 2 ** 31 }, /piece length.*larger than/],
    ['pieces as an integer', { ...base, pieces: 5 }, /pieces must be a byte string/],
  ])('rejects %s with INVALID_TORRENT', (_what, info, message) => {
    expectInvalid(enc({ info }), message);
  });

  it('rejects a v2 torrent claiming 2^52 bytes (it broke every capture of it: Invalid typed array length)', () => {
    const v2 = { 'file tree': { big: { '': { length: 2 ** 52, 'pieces root': Buffer.alloc(32) } } }, 'meta version': 2, name: 'x', 'piece length': 16384 };
    expectInvalid(enc({ info: v2 }), /total size is larger than/);
    expectInvalid(enc({ info: { ...v2, length: 2 ** 52 } }), /total size is larger than/);
    // 2^40 bytes in 16 KiB pieces: 67 million pieces, a 8 MiB bitfield
    expectInvalid(enc({ info: { ...v2, 'file tree': { big: { '': { length: 2 ** 40 } } } } }), /67108864 pieces: more than/);
  });

  it('reads the files of a pure v2 torrent from its file tree', () => {
    const tree = { a: { '': { length: 20000 } }, d: { b: { '': { length: 12768 } } } };
    const meta = parseTorrentFile(enc({ info: { 'file tree': tree, 'meta version': 2, name: 'x', 'piece length': 16384 } }));
    expect(meta).toMatchObject({ totalSize: 32768, pieceCount: 2, files: [{ path: 'x/a', length: 20000 }, { path: 'x/d/b', length: 12768 }] });
  });

  it('rejects a 400-digit integer without printing anything (the bencode package printed a stack trace)', () => {
    const spy = vi.spyOn(process.stderr, 'write');
    const warn = vi.spyOn(console, 'error');
    try {
      expectInvalid(Buffer.from(`d4:infod6:lengthi${'9'.repeat(400)}e4:name1:x12:piece lengthi16384e6:pieces0:ee`), /integer out of range/);
      expectInvalid(Buffer.from(`d4:infod6:lengthi-${'9'.repeat(400)}e4:name1:xee`), /integer out of range/);
      expect(spy).not.toHaveBeenCalled();
      expect(warn).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
      warn.mockRestore();
    }
  });

  it('rejects deep nesting and a bencode bomb early, with a bounded amount of work', () => {
    expectInvalid(Buffer.from(`d4:info${'l'.repeat(100)}${'e'.repeat(100)}e`), /nested deeper than 32/);
    // 10 MB of empty dictionaries in one list: millions of values.
    const bomb = Buffer.concat([Buffer.from('d4:infod5:filesl'), Buffer.alloc(10 * 1024 * 1024, 'de'), Buffer.from('eee')]);
    const t0 = performance.now();
    expectInvalid(bomb, /more than 1000000 values/);
    // The bencode package took ~2 s here; the bound is generous for a loaded CI machine.
    expect(performance.now() - t0).toBeLessThan(1500);
  });

  it('rejects more than 100,000 files', () => {
    const files = Array.from({ length: 100_001 }, () => ({ length: 0, path: [Buffer.from('a')] }));
    expectInvalid(enc({ info: { files, name: 'x', 'piece length': 16384, pieces: Buffer.alloc(0) } }), /more than 100000 files/);
  });

  it('hashes the info dictionary as it is in the file', () => {
    // Keys out of order: re-encoding would sort them and give another infohash than clients compute.
    const info = Buffer.from(`d4:name1:x6:lengthi100e12:piece lengthi16384e6:pieces20:${'a'.repeat(20)}e`);
    const file = Buffer.concat([Buffer.from('d4:info'), info, Buffer.from('e')]);
    expect(parseTorrentFile(file).infohash).toBe(createHash('sha1').update(info).digest('hex'));
    expect(parseTorrentFile(file).info.equals(info)).toBe(true);
  });
});

