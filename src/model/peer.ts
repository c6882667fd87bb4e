/** How a peer came to our attention. */
export type PeerSource = 'get_peers' | 'announce' | 'sample' | 'manual';

/** A peer found in the DHT: the unit of work that flows from discovery into filters and capture. */
export interface DiscoveredPeer {
  /** Canonical text (IPv4 dotted quad, IPv6 RFC 5952; IPv4-mapped normalised to IPv4). */
  ip: string;
  port: number;
  /** Lowercase hex. */
  infohash: string;
  /** When it was found (epoch ms): the Capture API's `date`. */
  foundAt: number;
  source: PeerSource;
  /** The DHT node ("ip:port") whose get_peers value named this peer (source 'get_peers' / 'sample'). */
  via?: string;
}
