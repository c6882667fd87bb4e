import { createHash, randomBytes } from 'node:crypto';
import bencode from 'bencode';

export interface TorrentFixtureOptions {
  /** Torrent name (info.name); default a random one. */
  name?: string;
  /** info["piece length"]; default 16 KiB. */
  pieceLength?: number;
  /** Number of pieces; default 4. */
  pieceCount?: number;
  /**
   * Multi-file torrent: relative paths of the files (each a list of segments). The total size
   * (fixed by pieceLength/pieceCount) is spread over them. Omitted: a single-file torrent.
   */
  files?: string[][];
  /** Extra top-level keys (announce, comment, …). */
  extra?: Record<string, unknown>;
}

export interface TorrentFixture {
  /** The .torrent file, bencoded. */
  buffer: Buffer;
  /** SHA-1 of the bencoded info dictionary, lowercase hex. */
  infohash: string;
  name: string;
  pieceLength: number;
  pieceCount: number;
  totalSize: number;
  /** Files as the daemon reports them: the path starts with the torrent's name. */
  files: Array<{ path: string; length: number }>;
  /** The bencoded info dictionary (what BEP 9 transfers and what is hashed). */
  info: Buffer;
}

/** Builds a valid BEP 3 .torrent in memory (pieces are random, so each call yields a new infohash). */
export function makeTorrent(options: TorrentFixtureOptions = {}): TorrentFixture {
  const name = options.name ?? `fixture-${randomBytes(4).toString('hex')}`;
  const pieceLength = options.pieceLength ?? 16 * 1024;
  const pieceCount = options.pieceCount ?? 4;
  if (pieceCount < 1) throw new Error('pieceCount must be at least 1');
  // The last piece is shorter, so the size is not a multiple of the piece length.
  const totalSize = pieceLength * (pieceCount - 1) + Math.max(1, Math.floor(pieceLength / 2) + 1);
  const pieces = randomBytes(20 * pieceCount);

  const info: Record<string, unknown> = { name, 'piece length': pieceLength, pieces };
  let files: Array<{ path: string; length: number }>;
  if (options.files && options.files.length > 0) {
    const n = options.files.length;
    const base = Math.floor(totalSize / n);
    const lengths = options.files.map((_, i) => (i === n - 1 ? totalSize - base * (n - 1) : base));
    info.files = options.files.map((p, i) => ({ length: lengths[i], path: p }));
    files = options.files.map((p, i) => ({ path: [name, ...p].join('/'), length: lengths[i] as number }));
  } else {
    info.length = totalSize;
    files = [{ path: name, length: totalSize }];
  }

  const infoBytes = Buffer.from(bencode.encode(info));
  const buffer = Buffer.from(bencode.encode({ announce: 'udp://127.0.0.1:6969/announce', ...options.extra, info }));
  return {
    buffer,
    infohash: createHash('sha1').update(infoBytes).digest('hex'),
    name,
    pieceLength,
    pieceCount,
    totalSize,
    files,
    info: infoBytes,
  };
}
