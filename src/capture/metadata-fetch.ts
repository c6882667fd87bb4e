import { createHash } from 'node:crypto';
import bencode from 'bencode';
import type { WireExtension, WireExtensionConstructor } from 'bittorrent-protocol';
import type { TorrentMetadata } from '../protocol/metainfo.js';
import { parseInfoDictionary } from '../protocol/metainfo.js';
import { metainfoPool, parseInfoDictionaryOffLoop } from '../protocol/metainfo-pool.js';
import { METADATA_PIECE_SIZE } from '../protocol/wire-limits.js';
import { errorMessage } from '../util/app-error.js';
import { bencodeEnd, decodeDictPrefix, own, type BencodeDict } from '../protocol/bencode-check.js';

/**
 * BEP 9 metadata fetching as a bittorrent-protocol extension (`wire.use(metadataExtension(f))`).
 *
 * Our own implementation rather than the ut_metadata package, which for a capture daemon that
 * talks to untrusted peers:
 * - throws out of the Wire's write path on a data message whose piece index is out of range
 *   (`Uint8Array.set` RangeError; a microtask later, so an uncaught exception);
 * - rejects unhandled (crashing Node) when metadata hashes right but is not bencode: it
 *   decodes it again, unguarded, inside an async function nobody awaits;
 * - decodes messages with bencode 4, which loops forever on a negative string length;
 * - has no timeout, caps at 1e7 bytes rather than our limit, accepts pieces it never requested
 *   or of the wrong length, and on a bad hash silently re-downloads everything.
 * Here every message is checked with `bencodeEnd` first, pieces are requested in order with a
 * small window and must match what was asked, failures end the fetch with operator words, and
 * nothing throws out of `onMessage`. The capture owns the deadline.
 */

export type MetadataResult = { ok: true; metadata: TorrentMetadata } | { ok: false; error: string };

export interface MetadataFetchOptions {
  /** The torrent's infohash, lowercase hex: the SHA-1 the metadata must have. */
  infohash: string;
  /** Largest `metadata_size` we fetch. */
  maxBytes: number;
  /** Sends a ut_metadata payload to the peer (the capture routes it through the Wire). */
  send: (payload: Uint8Array) => void;
  /** Called once, when the fetch ends either way. */
  onDone: (result: MetadataResult) => void;
  /** Requests in flight at once (default 8). */
  window?: number;
  /** The daemon's capture memory budget: the fetch asks it for what the metadata will hold before requesting. */
  memory?: { grow(bytes: number): boolean };
}

const MSG_REQUEST = 0;
const MSG_DATA = 1;
const MSG_REJECT = 2;
/** How many of the peer's own metadata requests we answer (with a reject) before ignoring them. */
const MAX_REJECTS_SENT = 16;

/** The peer's ut_metadata id from an extended handshake, or undefined if it offers none. */
export function peerUtMetadataId(handshake: BencodeDict): number | undefined {
  const m = own(handshake, 'm');
  if (typeof m !== 'object' || m === null || Array.isArray(m) || m instanceof Uint8Array) return undefined;
  const id = own(m as BencodeDict, 'ut_metadata');
  return typeof id === 'number' && Number.isInteger(id) && id >= 1 && id <= 255 ? id : undefined;
}

export class MetadataFetch {
  private size = 0;
  private pieceCount = 0;
  /** Received pieces, kept as they come: memory follows what the peer sent, not what it announced. */
  private pieces: Uint8Array[] = [];
  private nextPiece = 0;
  private received = 0;
  private readonly outstanding = new Set<number>();
  private rejectsSent = 0;
  private state: 'idle' | 'fetching' | 'done' = 'idle';

  constructor(private readonly options: MetadataFetchOptions) {}

  get finished(): boolean {
    return this.state === 'done';
  }

  get started(): boolean {
    return this.state !== 'idle';
  }

  /** Starts fetching, given the peer's extended handshake (which must offer ut_metadata). */
  start(handshake: BencodeDict): void {
    if (this.state !== 'idle') return;
    this.state = 'fetching';
    if (peerUtMetadataId(handshake) === undefined) return this.fail('metadata: peer does not offer ut_metadata');
    const size = own(handshake, 'metadata_size');
    if (size === undefined) return this.fail('metadata: peer did not announce metadata_size');
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0) return this.fail('metadata: invalid metadata_size');
    if (size > this.options.maxBytes) {
      return this.fail(`metadata: size ${size} bytes exceeds the cap of ${this.options.maxBytes}`);
    }
    // The pieces, then their concatenation while it is hashed and parsed.
    if (this.options.memory !== undefined && !this.options.memory.grow(2 * size)) {
      return this.fail('metadata: not fetched, the capture memory budget is full');
    }
    this.size = size;
    this.pieceCount = Math.ceil(size / METADATA_PIECE_SIZE);
    this.fill();
  }

  /** Ends the fetch with `error` unless it already ended. */
  fail(error: string): void {
    this.finish({ ok: false, error });
  }

  /** A ut_metadata message from the peer (the payload after the extended message id). */
  onMessage(payload: Uint8Array): void {
    try {
      this.handle(payload);
    } catch (err) {
      this.fail(`metadata: internal error: ${errorMessage(err)}`);
    }
  }

  private handle(payload: Uint8Array): void {
    const decoded = decodeDictPrefix(payload);
    if (decoded === undefined) {
      if (this.state === 'fetching') this.fail('metadata: invalid ut_metadata message');
      return;
    }
    const { dict, end } = decoded;
    const type = own(dict, 'msg_type');
    const piece = own(dict, 'piece');
    if (typeof piece !== 'number' || !Number.isSafeInteger(piece) || piece < 0) {
      if (this.state === 'fetching') this.fail('metadata: invalid ut_metadata message');
      return;
    }
    if (type === MSG_REQUEST) {
      // We have no metadata to give; BEP 9 says to answer with a reject.
      if (this.rejectsSent < MAX_REJECTS_SENT) {
        this.rejectsSent += 1;
        this.options.send(bencode.encode({ msg_type: MSG_REJECT, piece }));
      }
      return;
    }
    if (this.state === 'fetching' && type === MSG_DATA && piece >= this.pieceCount) {
      return this.fail(`metadata: piece ${piece} out of range (${this.pieceCount} pieces)`);
    }
    if (this.state !== 'fetching' || !this.outstanding.has(piece)) return; // unsolicited: ignore
    if (type === MSG_REJECT) return this.fail('metadata: peer rejected the request');
    if (type !== MSG_DATA) return;
    const totalSize = own(dict, 'total_size');
    if (totalSize !== undefined && totalSize !== this.size) return this.fail('metadata: total_size does not match metadata_size');
    const data = payload.subarray(end);
    const offset = piece * METADATA_PIECE_SIZE;
    const expected = Math.min(METADATA_PIECE_SIZE, this.size - offset);
    if (data.length !== expected) return this.fail(`metadata: piece ${piece} has the wrong length`);
    this.pieces[piece] = new Uint8Array(data);
    this.outstanding.delete(piece);
    this.received += 1;
    if (this.received === this.pieceCount) this.complete();
    else this.fill();
  }

  private fill(): void {
    const window = this.options.window ?? 8;
    while (this.state === 'fetching' && this.outstanding.size < window && this.nextPiece < this.pieceCount) {
      const piece = this.nextPiece++;
      this.outstanding.add(piece);
      this.options.send(bencode.encode({ msg_type: MSG_REQUEST, piece }));
    }
  }

  private complete(): void {
    const info = Buffer.concat(this.pieces, this.size);
    this.pieces = [];
    const sha1 = createHash('sha1').update(info).digest('hex');
    if (sha1 !== this.options.infohash) return this.fail('metadata: SHA-1 does not match the infohash');
    // The hash proves the bytes are the torrent's, not that they are sane bencode.
    if (info[0] !== 0x64 || bencodeEnd(info) !== info.length) return this.fail('metadata: info dictionary is not valid bencode');
    if (!metainfoPool.offloads(info.length)) {
      // The everyday case (a few KiB): checked here, at once.
      let metadata: TorrentMetadata;
      try {
        metadata = parseInfoDictionary(info);
      } catch (err) {
        return this.fail(`metadata: invalid info dictionary (${errorMessage(err)})`);
      }
      return this.finish({ ok: true, metadata });
    }
    // A large dictionary (100,000 files: ~5 MB) is checked on a worker thread, off the event loop.
    parseInfoDictionaryOffLoop(info).then(
      (metadata: TorrentMetadata) => this.finish({ ok: true, metadata }),
      (err: unknown) => this.fail(`metadata: invalid info dictionary (${errorMessage(err)})`),
    );
  }

  private finish(result: MetadataResult): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.outstanding.clear();
    this.pieces = [];
    this.options.onDone(result);
  }
}

/**
 * The Wire extension class (named 'ut_metadata', as BEP 9 requires) that routes the peer's
 * ut_metadata messages to `fetch`. One class per capture, as `wire.use()` instantiates it.
 */
export function metadataExtension(fetch: MetadataFetch): WireExtensionConstructor {
  class MetadataExtension implements WireExtension {
    onMessage(payload: Uint8Array): void {
      fetch.onMessage(payload);
    }
  }
  (MetadataExtension.prototype as unknown as { name: string }).name = 'ut_metadata';
  return MetadataExtension as unknown as WireExtensionConstructor;
}
