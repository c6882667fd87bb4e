import { createHash } from 'node:crypto';
import { AppError } from '../util/app-error.js';
import { BencodeError, decodeBounded, decodeBoundedAsync, type BDict, type BValue, type DecodedDocument } from './bencode-reader.js';

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
  /** `files` as the JSON the store keeps, when the parser made it already (metainfo-pool.ts). */
  filesJson?: string;
}

/** Upper bound on an info dictionary we accept (uploads and BEP 9 alike). */
export const MAX_INFO_BYTES = 10 * 1024 * 1024;

/**
 * Limits on what a torrent may claim. Each is far above real torrents and low enough that nothing
 * downstream (bitfields, piece arrays, listings) can be made to allocate without bound.
 */
export const METAINFO_LIMITS = {
  /** Values in a whole .torrent or info dictionary (a 100,000-file torrent has ~700,000). */
  maxNodes: 1_000_000,
  /** Nesting of lists/dictionaries (BEP 52 file trees nest one level per path segment). */
  maxDepth: 32,
  /** Files in `files` or in a BEP 52 `file tree`. */
  maxFiles: 100_000,
  /** Bytes in one path (all segments and the torrent's name). */
  maxPathBytes: 4096,
  /** Pieces (a bitfield of 4,194,304 pieces is 512 KiB, half the wire message limit). */
  maxPieces: 4_194_304,
  /** Piece length (1 GiB; real torrents use 16 KiB … 64 MiB). */
  maxPieceLength: 2 ** 30,
  /** Total size (256 TiB). */
  maxTotalSize: 2 ** 48,
} as const;

function invalid(message: string): AppError {
  return new AppError('INVALID_TORRENT', message);
}

function isDict(v: unknown): v is BDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

function text(v: BValue | undefined): string | undefined {
  return Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
}

function nonNegInt(v: BValue | undefined, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalid(`${what} must be a non-negative integer`);
  return v;
}

function bencodeInvalid(err: unknown, what: string): unknown {
  return err instanceof BencodeError ? new AppError('INVALID_TORRENT', `${what} is not valid bencode: ${err.message}`, { cause: err }) : err;
}

function decode(buf: Uint8Array, what: string): DecodedDocument {
  try {
    return decodeBounded(buf, METAINFO_LIMITS);
  } catch (err) {
    throw bencodeInvalid(err, what);
  }
}

/** One large document is built at a time, so concurrent uploads cannot add up their memory. */
let decodeQueue: Promise<unknown> = Promise.resolve();

async function decodeAsync(buf: Uint8Array, what: string): Promise<DecodedDocument> {
  const run = decodeQueue.then(() => decodeBoundedAsync(buf, METAINFO_LIMITS));
  decodeQueue = run.catch(() => undefined);
  try {
    return await run;
  } catch (err) {
    throw bencodeInvalid(err, what);
  }
}

/** `segs` as path segments: a list of byte strings, or a clear error. */
function pathOf(name: string, segs: BValue | undefined, what: string): string {
  if (!Array.isArray(segs) || segs.length === 0) throw invalid(`${what} must be a non-empty list of strings`);
  const parts = [name];
  let bytes = Buffer.byteLength(name);
  for (const s of segs) {
    if (!Buffer.isBuffer(s)) throw invalid(`${what} must be a non-empty list of strings`);
    bytes += s.length + 1;
    if (bytes > METAINFO_LIMITS.maxPathBytes) throw invalid(`${what} is longer than ${METAINFO_LIMITS.maxPathBytes} bytes`);
    parts.push(s.toString('utf8'));
  }
  return parts.join('/');
}

/** Files of a BEP 3 `files` list. */
function v1Files(name: string, list: BValue): TorrentFileEntry[] {
  if (!Array.isArray(list)) throw invalid('info.files must be a list');
  if (list.length === 0) throw invalid('info.files is empty');
  if (list.length > METAINFO_LIMITS.maxFiles) throw invalid(`info.files has more than ${METAINFO_LIMITS.maxFiles} files`);
  return list.map((f, i) => {
    if (!isDict(f)) throw invalid(`info.files[${i}] must be a dictionary`);
    const key = f['path.utf-8'] !== undefined ? 'path.utf-8' : 'path';
    return { path: pathOf(name, f[key], `info.files[${i}].${key}`), length: nonNegInt(f.length, `info.files[${i}].length`) };
  });
}

/** Files of a BEP 52 `file tree` (pure v2 torrents): walked iteratively, bounded by maxFiles. */
function v2Files(name: string, tree: BDict): TorrentFileEntry[] {
  const files: TorrentFileEntry[] = [];
  const todo: Array<{ dict: BDict; segs: Buffer[] }> = [{ dict: tree, segs: [] }];
  while (todo.length > 0) {
    const { dict, segs } = todo.pop() as { dict: BDict; segs: Buffer[] };
    for (const key of Object.keys(dict)) {
      const child = dict[key];
      const what = `info["file tree"]/${[...segs, key].join('/')}`;
      if (!isDict(child)) throw invalid(`${what} must be a dictionary`);
      if (key === '') {
        if (segs.length === 0) throw invalid('info["file tree"] has a file without a name');
        if (files.length >= METAINFO_LIMITS.maxFiles) throw invalid(`info["file tree"] has more than ${METAINFO_LIMITS.maxFiles} files`);
        files.push({ path: pathOf(name, segs, what), length: nonNegInt(child.length, `${what}.length`) });
      } else {
        todo.push({ dict: child, segs: [...segs, Buffer.from(key)] });
      }
    }
  }
  if (files.length === 0) throw invalid('info["file tree"] has no files');
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function metadataOf(dict: BValue, raw: Buffer): TorrentMetadata {
  if (!isDict(dict)) throw invalid('info must be a dictionary');
  const name = text(dict['name.utf-8']) ?? text(dict.name);
  if (name === undefined) throw invalid('info.name is missing');
  if (Buffer.byteLength(name) > METAINFO_LIMITS.maxPathBytes) throw invalid(`info.name is longer than ${METAINFO_LIMITS.maxPathBytes} bytes`);
  const pieceLength = nonNegInt(dict['piece length'], 'info["piece length"]');
  if (pieceLength === 0) throw invalid('info["piece length"] must be positive');
  if (pieceLength > METAINFO_LIMITS.maxPieceLength) throw invalid(`info["piece length"] ${pieceLength} is larger than ${METAINFO_LIMITS.maxPieceLength}`);
  const v2 = isDict(dict['file tree']) && dict['meta version'] === 2;
  let files: TorrentFileEntry[];
  if (dict.files !== undefined) files = v1Files(name, dict.files);
  else if (dict.length !== undefined || !v2) files = [{ path: name, length: nonNegInt(dict.length, 'info.length') }];
  else files = v2Files(name, dict['file tree'] as BDict);
  let totalSize = 0;
  for (const f of files) {
    totalSize += f.length;
    if (totalSize > METAINFO_LIMITS.maxTotalSize) throw invalid(`total size is larger than ${METAINFO_LIMITS.maxTotalSize} bytes (256 TiB)`);
  }
  const expected = Math.ceil(totalSize / pieceLength);
  if (expected > METAINFO_LIMITS.maxPieces) throw invalid(`${expected} pieces: more than ${METAINFO_LIMITS.maxPieces}`);
  let pieceCount: number;
  const pieces = dict.pieces;
  if (Buffer.isBuffer(pieces)) {
    if (pieces.length % 20 !== 0) throw invalid('info.pieces length is not a multiple of 20');
    pieceCount = pieces.length / 20;
  } else if (pieces === undefined && v2) {
    pieceCount = expected; // pure BitTorrent v2
  } else {
    throw invalid(pieces === undefined ? 'info.pieces is missing' : 'info.pieces must be a byte string');
  }
  if (pieceCount !== expected) {
    throw invalid(`piece count ${pieceCount} does not match total size ${totalSize} / piece length ${pieceLength}`);
  }
  return {
    infohash: createHash('sha1').update(raw).digest('hex'),
    name,
    totalSize,
    pieceLength,
    pieceCount,
    files,
    info: raw,
  };
}

/** Parses a bencoded info dictionary (as fetched with BEP 9 or taken from a .torrent file). */
export function parseInfoDictionary(info: Uint8Array): TorrentMetadata {
  if (info.length > MAX_INFO_BYTES) throw invalid(`info dictionary larger than ${MAX_INFO_BYTES} bytes`);
  const { value } = decode(info, 'info dictionary');
  return metadataOf(value, Buffer.from(info));
}

/**
 * Parses a .torrent file (BEP 3 metainfo) and returns its info dictionary's metadata. The infohash
 * is the SHA-1 of the info dictionary's bytes as they are in the file (what clients hash).
 */
export function parseTorrentFile(file: Uint8Array): TorrentMetadata {
  return torrentOf(decode(file, '.torrent file'), file);
}

/**
 * As parseTorrentFile, for the daemon's event loop: a bomb is rejected after one scan that
 * allocates nothing, and a large document is built in slices between which other work runs.
 */
export async function parseTorrentFileAsync(file: Uint8Array): Promise<TorrentMetadata> {
  return torrentOf(await decodeAsync(file, '.torrent file'), file);
}

function torrentOf({ value: top, spans }: DecodedDocument, file: Uint8Array): TorrentMetadata {
  if (!isDict(top) || !isDict(top.info)) throw invalid('.torrent file has no info dictionary');
  const [start, end] = spans.get(top.info) as [number, number];
  if (end - start > MAX_INFO_BYTES) throw invalid(`info dictionary larger than ${MAX_INFO_BYTES} bytes`);
  return metadataOf(top.info, Buffer.from(file.subarray(start, end)));
}
