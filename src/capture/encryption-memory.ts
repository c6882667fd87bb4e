import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { HashedPeerRing, hashA, hashB } from './hashed-peer-ring.js';

/** The way that got past a peer after the other way was dropped: encrypted (MSE/PE) or plain. */
export type RememberedWay = 'encrypted' | 'plain';

/** Tags in the ring. */
const TAG: Record<RememberedWay, number> = { encrypted: 1, plain: 2 };
const WAY: Record<number, RememberedWay> = { 1: 'encrypted', 2: 'plain' };

/** Entries held at most by default (~12.7 MB). */
export const DEFAULT_ENCRYPTION_MEMORY_PEERS = 500_000;
/** A confirmation renews an entry at most this often (each renewal takes a slot of the ring). */
export const CONFIRM_AFTER_MS = 3_600_000;

/**
 * Peers (ip:port) that dropped the first handshake of the configured mode and took the other one:
 * with `prefer-plain`, peers that required encryption ('encrypted'); with `prefer-encrypted`, peers
 * that refused it ('plain'). Their next captures (other torrents, recaptures) go that way first,
 * sparing the dropped attempt. Keyed on ip:port, not ip: one address can hold several clients (NAT,
 * seedboxes), each with its own setting.
 *
 * A peer is forgotten `ttlMs` after it last took the remembered way (`confirm`, which the capture
 * calls after each success that way, renews it at most once per CONFIRM_AFTER_MS: a peer
 * recaptured within the TTL stays known), or when the remembered way is dropped and the mode's own
 * way works. Bounded: at most `maxEntries` slots, the least recently renewed go first (a renewal
 * takes a new slot and frees its old one only when the ring comes round to it). Compact (a
 * HashedPeerRing: ~25 B per slot, allocated at construction), because it must cover the daemon's
 * recapture cycle (capture.recaptureIntervalMs, 6 h): the peers that take the other way, captured
 * within one cycle, each need a slot. 500,000 cover that up to ~77 captures/s with 30 % of the
 * peers requiring encryption, ~230/s with 10 % (capture.encryptionMemoryPeers raises it). With the
 * earlier bound of 50,000 in a Map and no renewal, a busy daemon's recaptures found their peers
 * forgotten and paid the dropped attempt again, and every peer paid it again each day. Kept across
 * restarts in a small file (`save` at stop, `load` at start) holding the keys' hashes, not the
 * addresses.
 */
export class EncryptionMemory {
  private readonly ring: HashedPeerRing;
  private readonly counts: Record<RememberedWay, number> = { encrypted: 0, plain: 0 };

  constructor(
    maxEntries = DEFAULT_ENCRYPTION_MEMORY_PEERS,
    private readonly ttlMs = 24 * 3_600_000,
  ) {
    this.ring = new HashedPeerRing(maxEntries);
  }

  /** The way remembered for this peer, if any (within the TTL). */
  wayOf(ip: string, port: number, now = Date.now()): RememberedWay | undefined {
    const key = keyOf(ip, port);
    const e = this.ring.get(key);
    if (e === undefined) return undefined;
    if (now - e.time > this.ttlMs) {
      this.uncount(this.ring.delete(key));
      return undefined;
    }
    return WAY[e.tag];
  }

  /** Remembered as requiring encryption. */
  requires(ip: string, port: number, now = Date.now()): boolean {
    return this.wayOf(ip, port, now) === 'encrypted';
  }

  /** Remembered as refusing encryption (plain worked after an encrypted handshake was dropped). */
  refuses(ip: string, port: number, now = Date.now()): boolean {
    return this.wayOf(ip, port, now) === 'plain';
  }

  /** Remembers (or confirms: the TTL starts again) that the peer takes `way`. */
  remember(ip: string, port: number, now = Date.now(), way: RememberedWay = 'encrypted'): void {
    const key = keyOf(ip, port);
    this.put(hashA(key), hashB(key), now, way);
  }

  /** Sets the entry of the key hashed to (a, b), keeping the per-way counts (the entry it replaces, one the full ring drops). */
  private put(a: number, b: number, at: number, way: RememberedWay): void {
    this.uncount(this.ring.deleteHashed(a, b));
    this.uncount(this.ring.setHashed(a, b, at, TAG[way]));
    this.counts[way]++;
  }

  /**
   * The peer took the remembered way `way` again: renews its TTL when the entry is older than
   * CONFIRM_AFTER_MS (or gone: remembered anew). Returns whether it wrote.
   */
  confirm(ip: string, port: number, way: RememberedWay, now = Date.now()): boolean {
    const e = this.ring.get(keyOf(ip, port));
    if (e !== undefined && WAY[e.tag] === way && now - e.time < CONFIRM_AFTER_MS && now >= e.time) return false;
    this.remember(ip, port, now, way);
    return true;
  }

  forget(ip: string, port: number): void {
    this.uncount(this.ring.delete(keyOf(ip, port)));
  }

  get size(): number {
    return this.ring.size;
  }

  /** Peers held at most. */
  get capacity(): number {
    return this.ring.capacity;
  }

  /** Bytes the memory holds (fixed at construction). */
  get bytes(): number {
    return this.ring.bytes;
  }

  /** Entries remembered with this way (expired ones included until they are looked up or saved). */
  count(way: RememberedWay): number {
    return this.counts[way];
  }

  private uncount(tag: number): void {
    const way = WAY[tag];
    if (way !== undefined) this.counts[way]--;
  }

  /** Writes the entries still within the TTL (oldest first) to `file`, through a temporary file and a rename. */
  save(file: string, now = Date.now()): number {
    const peers: Array<[number, number, number, RememberedWay]> = [];
    for (const [a, b, at, tag] of this.ring.entries()) {
      if (now - at > this.ttlMs) continue;
      peers.push([a, b, at, WAY[tag] as RememberedWay]);
    }
    writeFileSync(`${file}.tmp`, JSON.stringify({ version: 3, peers }));
    renameSync(`${file}.tmp`, file);
    return peers.length;
  }

  /**
   * Adds the entries of a file written by `save` that are still within the TTL (a missing file
   * is an empty memory). Version 3 files hold the keys' hashes; versions 1 and 2 (before 2026-12-05)
   * the addresses, and version 1 (before 'plain' was remembered) only peers that required
   * encryption. Throws on a file that cannot be read or is not one of ours.
   */
  load(file: string, now = Date.now()): number {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    const data = JSON.parse(text) as { version?: unknown; peers?: unknown };
    if ((data.version !== 1 && data.version !== 2 && data.version !== 3) || !Array.isArray(data.peers)) throw new Error(`${file}: not an encryption memory file`);
    let n = 0;
    for (const entry of data.peers as unknown[]) {
      if (!Array.isArray(entry)) continue;
      const [x, y, at, way] = entry as [unknown, unknown, unknown, unknown];
      if (typeof at !== 'number' || now - at > this.ttlMs || at > now) continue;
      const w: RememberedWay | undefined = data.version === 1 ? 'encrypted' : way === 'encrypted' || way === 'plain' ? way : undefined;
      if (w === undefined) continue;
      if (data.version === 3) {
        if (!isUint32(x) || !isUint32(y)) continue;
        this.put(x, y, at, w);
      } else {
        if (typeof x !== 'string' || !Number.isInteger(y)) continue;
        this.remember(x, y as number, at, w);
      }
      n++;
    }
    return n;
  }
}

function keyOf(ip: string, port: number): string {
  return `${ip}|${port}`;
}

function isUint32(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff;
}
