/**
 * The last few peers seen per torrent, for torrents whose metadata may still be wanted: when the
 * metadata of a torrent is asked for later (`POST /torrents/addInfohash/` of a torrent already
 * swarming), it is fetched from these peers at once instead of waiting for the DHT to report them
 * again (its de-duplication window hides them for minutes). Bounded: at most `perTorrent` peers per
 * torrent (the newest) and `maxTorrents` torrents (the least recently seen forgotten first).
 */
export interface KnownPeer {
  ip: string;
  port: number;
}

export class KnownPeers {
  private readonly byTorrent = new Map<string, KnownPeer[]>();

  constructor(
    private readonly perTorrent = 8,
    private readonly maxTorrents = 4096,
  ) {}

  get size(): number {
    return this.byTorrent.size;
  }

  add(infohash: string, ip: string, port: number): void {
    let list = this.byTorrent.get(infohash);
    if (list) {
      this.byTorrent.delete(infohash); // re-inserted below: most recently seen last
      const i = list.findIndex((p) => p.ip === ip && p.port === port);
      if (i >= 0) list.splice(i, 1);
    } else {
      list = [];
      if (this.byTorrent.size >= this.maxTorrents) {
        const oldest = this.byTorrent.keys().next().value as string;
        this.byTorrent.delete(oldest);
      }
    }
    list.push({ ip, port });
    if (list.length > this.perTorrent) list.shift();
    this.byTorrent.set(infohash, list);
  }

  /** Newest first. */
  of(infohash: string): readonly KnownPeer[] {
    return [...(this.byTorrent.get(infohash) ?? [])].reverse();
  }

  forget(infohash: string): void {
    this.byTorrent.delete(infohash);
  }
}
