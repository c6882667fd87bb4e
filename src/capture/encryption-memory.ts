import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/**
 * Peers (ip:port) that dropped a plain handshake and took an encrypted one: with `prefer-plain`
 * their next captures (other torrents, recaptures) go encrypted first, sparing the dropped
 * attempt. Keyed on ip:port, not ip: one address can hold several clients (NAT, seedboxes), each
 * with its own setting. Bounded (oldest first) and forgotten after `ttlMs`, or when a plain retry
 * is what worked. Kept across restarts in a small file (`save` at stop, `load` at start).
 */
export class EncryptionMemory {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly maxEntries = 50_000,
    private readonly ttlMs = 24 * 3_600_000,
  ) {}

  requires(ip: string, port: number, now = Date.now()): boolean {
    const at = this.seen.get(`${ip}|${port}`);
    if (at === undefined) return false;
    if (now - at > this.ttlMs) {
      this.seen.delete(`${ip}|${port}`);
      return false;
    }
    return true;
  }

  remember(ip: string, port: number, now = Date.now()): void {
    const key = `${ip}|${port}`;
    this.seen.delete(key);
    if (this.seen.size >= this.maxEntries) this.seen.delete(this.seen.keys().next().value as string);
    this.seen.set(key, now);
  }

  forget(ip: string, port: number): void {
    this.seen.delete(`${ip}|${port}`);
  }

  get size(): number {
    return this.seen.size;
  }

  /** Writes the entries still within the TTL (oldest first) to `file`, through a temporary file and a rename. */
  save(file: string, now = Date.now()): number {
    const peers: Array<[string, number, number]> = [];
    for (const [key, at] of this.seen) {
      if (now - at > this.ttlMs) continue;
      const bar = key.lastIndexOf('|');
      peers.push([key.slice(0, bar), Number(key.slice(bar + 1)), at]);
    }
    writeFileSync(`${file}.tmp`, JSON.stringify({ version: 1, peers }));
    renameSync(`${file}.tmp`, file);
    return peers.length;
  }

  /**
   * Adds the entries of a file written by `save` that are still within the TTL (a missing file
   * is an empty memory). Throws on a file that cannot be read or is not one of ours.
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
    if (data.version !== 1 || !Array.isArray(data.peers)) throw new Error(`${file}: not an encryption memory file`);
    let n = 0;
    for (const entry of data.peers as unknown[]) {
      if (!Array.isArray(entry)) continue;
      const [ip, port, at] = entry as [unknown, unknown, unknown];
      if (typeof ip !== 'string' || !Number.isInteger(port) || typeof at !== 'number' || now - at > this.ttlMs || at > now) continue;
      this.remember(ip, port as number, at);
      n++;
    }
    return n;
  }
}
