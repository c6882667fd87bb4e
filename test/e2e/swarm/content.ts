import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bencode, type BValue } from './bencode.js';

/**
 * Deterministic test content and trackerless, public v1 .torrent files. Same parameters, same
 * bytes, same infohash: the e2e suite can name its torrents in advance.
 *
 * Every file is a whole number of pieces, so "holds the first k files" is exactly "holds pieces
 * 0 .. k*piecesPerFile-1" for every client (how the partial peers are made).
 */

export interface ContentSpec {
  /** torrent name (directory for multi-file, file name for single-file) */
  name: string;
  seed: string;
  files: number;
  pieceLength: number;
  piecesPerFile: number;
  /** one file => a single-file torrent */
  /** File names of a multi-file torrent (default file-00.bin, file-01.bin, …). */
  fileNames?: string[];
}

export interface Content {
  spec: ContentSpec;
  infohash: string;
  torrentPath: string;
  torrentBytes: Buffer;
  numPieces: number;
  totalSize: number;
  /** the file names, relative to the torrent's root (multi-file) or the save dir (single-file) */
  files: string[];
  /** a directory holding the complete content (to be copied into a client's save dir) */
  fullDir: string;
}

/** The swarm's torrent: 4 files x 16 pieces x 64 KiB = 64 pieces, 4 MiB. */
export const SWARM_TORRENT: ContentSpec = {
  name: 'e2e-swarm-content',
  seed: 'capture-daemon-e2e-swarm-v1',
  files: 4,
  pieceLength: 64 * 1024,
  piecesPerFile: 16,
};

/**
 * A fake: a "video" torrent whose metadata holds an executable disguised as the film (double
 * extension), as spam torrents do. Added to the daemon by bare infohash: the spam list's
 * disguised-executable rule must report it once its metadata came over BEP 9. 2 files x 2 x 16 KiB.
 */
export const DISGUISED_TORRENT: ContentSpec = {
  name: 'Holiday.Movie.2024.1080p.WEB-DL',
  seed: 'capture-daemon-e2e-disguised-v1',
  files: 2,
  pieceLength: 16 * 1024,
  piecesPerFile: 2,
  fileNames: ['Holiday.Movie.2024.1080p.mkv.exe', 'sample.mkv'],
};

/** The torrent added to the daemon by bare infohash (metadata fetched over BEP 9): 40 x 16 KiB. */
export const METADATA_TORRENT: ContentSpec = {
  name: 'e2e-metadata-only.bin',
  seed: 'capture-daemon-e2e-metadata-v1',
  files: 1,
  pieceLength: 16 * 1024,
  piecesPerFile: 40,
};

function fileBytes(seed: string, idx: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let off = 0;
  for (let ctr = 0; off < size; ctr++) {
    const h = createHash('sha256').update(`${seed}/${idx}/${ctr}`).digest();
    off += h.copy(out, off);
  }
  return out;
}

function fileNames(spec: ContentSpec): string[] {
  if (spec.files === 1) return [spec.name];
  return Array.from({ length: spec.files }, (_, i) => path.join(spec.name, spec.fileNames?.[i] ?? `file-${String(i).padStart(2, '0')}.bin`));
}

/** Writes the content under `outDir/<name>-full/` and the torrent as `outDir/<name>.torrent`. */
export function makeContent(spec: ContentSpec, outDir: string): Content {
  const fsize = spec.pieceLength * spec.piecesPerFile;
  const fullDir = path.join(outDir, `${spec.name}-full`);
  const names = fileNames(spec);
  const blobs: Buffer[] = [];
  names.forEach((rel, i) => {
    const data = fileBytes(spec.seed, i, fsize);
    blobs.push(data);
    const p = path.join(fullDir, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, data);
  });
  const whole = Buffer.concat(blobs);
  const hashes: Buffer[] = [];
  for (let o = 0; o < whole.length; o += spec.pieceLength) {
    hashes.push(createHash('sha1').update(whole.subarray(o, o + spec.pieceLength)).digest());
  }
  const info: { [key: string]: BValue } =
    spec.files === 1
      ? { name: spec.name, 'piece length': spec.pieceLength, pieces: Buffer.concat(hashes), length: fsize }
      : {
          name: spec.name,
          'piece length': spec.pieceLength,
          pieces: Buffer.concat(hashes),
          files: names.map((n) => ({ length: fsize, path: [path.basename(n)] })),
        };
  const infohash = createHash('sha1').update(bencode(info)).digest('hex');
  const torrentBytes = bencode({ info, 'created by': 'capture-daemon e2e harness', comment: 'test content, no trackers' });
  const torrentPath = path.join(outDir, `${spec.name}.torrent`);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(torrentPath, torrentBytes);
  return {
    spec,
    infohash,
    torrentPath,
    torrentBytes,
    numPieces: hashes.length,
    totalSize: whole.length,
    files: names,
    fullDir,
  };
}

/**
 * Fills `saveDir` with the first `keepFiles` files of the content (all of them by default): the
 * directory a client is told to save into. Returns the number of pieces that copy holds.
 */
export function placeData(c: Content, saveDir: string, keepFiles = c.spec.files): number {
  c.files.slice(0, keepFiles).forEach((rel) => {
    const to = path.join(saveDir, rel);
    mkdirSync(path.dirname(to), { recursive: true });
    copyFileSync(path.join(c.fullDir, rel), to);
  });
  return keepFiles * c.spec.piecesPerFile;
}
