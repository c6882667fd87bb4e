import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/** The way that got past a peer after the other way was dropped: encrypted (MSE/PE) or plain. */
export type RememberedWay = 'encrypted' | 'plain';

/**
 * Peers (ip:port) that dropped the first handshake of the configured mode and took the other one:
 * with `prefer-plain`, peers that required encryption ('encrypted'); with `prefer-encrypted`, peers
 * that refused it ('plain'). Their next captures (other torrents, recaptures) go that way first,
 * sparing the dropped attempt. Keyed on ip:port, not ip: one address can hold several clients (NAT,
 * seedboxes), each with its own setting. Bounded (oldest first) and forgotten after `ttlMs`, or when
 * the remembered way is dropped and the mode's own way works. Kept across restarts in a small file
 * (`save` at stop, `load` at start).
 */
export class EncryptionMemory {
  private readonly seen = new Map<string, { at: number; way: RememberedWay }>();
  private readonly counts: Record<RememberedWay, number> = { encrypted: 0, plain: 0 };

  constructor(
    private readonly maxEntries = 50_000,
    private readonly ttlMs = 24 * 3_600_000,
  ) {}

  /** The way remembered for this peer, if any (within the TTL). */
  wayOf(ip: string, port: number, now = Date.now()): RememberedWay | undefined {
    const key = `${ip}|${port}`;
    const e = this.seen.get(key);
    if (e === undefined) return undefined;
    if (now - e.at > this.ttlMs) {
      this.delete(key);
      return undefined;
    }
    return e.way;
  }

  /** Remembered as requiring encryption. */
  requires(ip: string, port: number, now = Date.now()): boolean {
    return this.wayOf(ip, port, now) === 'encrypted';
  }

  /** Remembered as refusing encryption (plain worked after an encrypted handshake was dropped). */
  refuses(ip: string, port: number, now = Date.now()): boolean {
    return this.wayOf(ip, port, now) === 'plain';
  }

  remember(ip: string, port: number, now = Date.now(), way: RememberedWay = 'encrypted'): void {
    const key = `${ip}|${port}`;
    this.delete(key);
    if (this.seen.size >= this.maxEntries) this.delete(this.seen.keys().next().value as string);
    this.seen.set(key, { at: now, way });
    this.counts[way]++;
  }

  forget(ip: string, port: number): void {
    this.delete(`${ip}|${port}`);
  }

  get size(): number {
    return this.seen.size;
  }

  /** Entries remembered with this way (expired ones included until they are looked up or saved). */
  count(way: RememberedWay): number {
    return this.counts[way];
  }

  private delete(key: string): void {
    const e = this.seen.get(key);
    if (e === undefined) return;
    this.seen.delete(key);
    this.counts[e.way]--;
  }

  /** Writes the entries still within the TTL (oldest first) to `file`, through a temporary file and a rename. */
  save(file: string, now = Date.now()): number {
    const peers: Array<[string, number, number, RememberedWay]> = [];
    for (const [key, e] of this.seen) {
      if (now - e.at > this.ttlMs) continue;
      const bar = key.lastIndexOf('|');
      peers.push([key.slice(0, bar), Number(key.slice(bar + 1)), e.at, e.way]);
    }
    writeFileSync(`${file}.tmp`, JSON.stringify({ version: 2, peers }));
    renameSync(`${file}.tmp`, file);
    return peers.length;
  }

  /**
   * Adds the entries of a file written by `save` that are still within the TTL (a missing file
   * is an empty memory). Version 1 files (before 'plain' was remembered) hold only peers that
   * required encryption. Throws on a file that cannot be read or is not one of ours.
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
    if ((data.version !== 1 && data.version !== 2) || !Array.isArray(data.peers)) throw new Error(`${file}: not an encryption memory file`);
    let n = 0;
    for (const entry of data.peers as unknown[]) {
      if (!Array.isArray(entry)) continue;
      const [ip, port, at, way] = entry as [unknown, unknown, unknown, unknown];
      if (typeof ip !== 'string' || !Number.isInteger(port) || typeof at !== 'number' || now - at > this.ttlMs || at > now) continue;
      const w: RememberedWay | undefined = data.version === 1 ? 'encrypted' : way === 'encrypted' || way === 'plain' ? way : undefined;
      if (w === undefined) continue;
      this.remember(ip, port as number, at, w);
      n++;
    }
    return n;
  }
}
