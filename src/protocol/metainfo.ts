import { createHash } from 'node:crypto';
import bencode from 'bencode';
import { AppError } from '../util/app-error.js';
import { bencodeEnd } from './bencode-check.js';

export interface TorrentFileEntry {
  path: string;
  length: number;
}

/** What the daemon needs to know of a torrent: BEP 3 info dictionary, decoded. */
export interface TorrentMetadata {
  infohash: string;
  name: string;
  totalSize: number;
  pieceLength: number;
  pieceCount: number;
  files: TorrentFileEntry[];
  /** The bencoded info dictionary, as hashed. */
  info: Buffer;
}

/** Upper bound on an info dictionary we accept (uploads and BEP 9 alike). */
export const MAX_INFO_BYTES = 10 * 1024 * 1024;

type Dict = Record<string, unknown>;

function invalid(message: string): AppError {
  return new AppError('INVALID_TORRENT', message);
}

function isDict(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function text(v: unknown): string | undefined {
  return v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : undefined;
}

function nonNegInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalid(`${what} must be a non-negative integer`);
  return v;
}

function decode(buf: Uint8Array, what: string): unknown {
  // The bencode package hangs on a negative string length and turns `__proto__` keys into
  // prototypes: only well-formed input reaches it.
  if (bencodeEnd(buf, 0, 32) !== buf.length) throw invalid(`${what} is not valid bencode`);
  try {
    return bencode.decode(buf);
  } catch (err) {
    throw new AppError('INVALID_TORRENT', `${what} is not valid bencode: ${(err as Error).message}`, { cause: err });
  }
}

/** Parses a bencoded info dictionary (as fetched with BEP 9 or taken from a .torrent file). */
export function parseInfoDictionary(info: Uint8Array): TorrentMetadata {
  if (info.length > MAX_INFO_BYTES) throw invalid(`info dictionary larger than ${MAX_INFO_BYTES} bytes`);
  const dict = decode(info, 'info dictionary');
  if (!isDict(dict)) throw invalid('info must be a dictionary');
  const name = text(dict['name.utf-8']) ?? text(dict.name);
  if (name === undefined) throw invalid('info.name is missing');
  const pieceLength = nonNegInt(dict['piece length'], 'info["piece length"]');
  if (pieceLength === 0) throw invalid('info["piece length"] must be positive');
  const pieces = dict.pieces;
  let files: TorrentFileEntry[];
  if (dict.files !== undefined) {
    if (!Array.isArray(dict.files)) throw invalid('info.files must be a list');
    files = dict.files.map((f: unknown, i: number) => {
      if (!isDict(f) || !Array.isArray(f.path)) throw invalid(`info.files[${i}] is malformed`);
      const segs = (f['path.utf-8'] ?? f.path) as unknown[];
      return { path: [name, ...segs.map((s) => text(s) ?? '')].join('/'), length: nonNegInt(f.length, `info.files[${i}].length`) };
    });
  } else {
    files = [{ path: name, length: nonNegInt(dict.length, 'info.length') }];
  }
  const totalSize = files.reduce((sum, f) => sum + f.length, 0);
  let pieceCount: number;
  if (pieces instanceof Uint8Array) {
    if (pieces.length % 20 !== 0) throw invalid('info.pieces length is not a multiple of 20');
    pieceCount = pieces.length / 20;
  } else if (isDict(dict['file tree']) && dict['meta version'] === 2) {
    pieceCount = Math.ceil(totalSize / pieceLength); // pure BitTorrent v2
  } else {
    throw invalid('info.pieces is missing');
  }
  if (pieceCount !== Math.ceil(totalSize / pieceLength)) {
    throw invalid(`piece count ${pieceCount} does not match total size ${totalSize} / piece length ${pieceLength}`);
  }
  const buf = Buffer.from(info);
  return {
    infohash: createHash('sha1').update(buf).digest('hex'),
    name,
    totalSize,
    pieceLength,
    pieceCount,
    files,
    info: buf,
  };
}

/** Parses a .torrent file (BEP 3 metainfo) and returns its info dictionary's metadata. */
export function parseTorrentFile(file: Uint8Array): TorrentMetadata {
  const top = decode(file, '.torrent file');
  if (!isDict(top) || !isDict(top.info)) throw invalid('.torrent file has no info dictionary');
  // Re-encoding is canonical for well-formed files (sorted keys), which is what clients hash too.
  return parseInfoDictionary(bencode.encode(top.info));
}
