import type { DiscoveredPeer } from '../model/peer.js';

/**
 * Suspicious DHT peer data: some nodes return `get_peers` values with the two port bytes swapped
 * (6881 = 0x1AE1 comes back as 0xE11A = 57626). Each such value is a phantom: dialled, it fails,
 * and listed it looks like a peer. This guard sits between discovery and the filters:
 * - a value whose IP is already known, for the same torrent, at the byte-swapped port from
 *   another source (another node, an announce, a successful capture) is a phantom: dropped, and
 *   the node that sent it gets a strike; an announce (the peer itself) outranks node values, so a
 *   swapped value that came first gets its node a strike when the announce arrives;
 * - a node is distrusted after `minStrikes` phantoms that are at least half of its values checked
 *   that way, or after `minFailures` captures of its values that all failed (a node whose every
 *   value fails); a distrusted node's values are dropped unless another source knows the same
 *   ip:port. A successful capture of one of its values clears the failure rule.
 * Bounded: at most `maxEntries` (infohash, ip) entries with up to 8 ports each, and `maxNodes`
 * node records; the oldest go first.
 */
export interface PeerValueTrustOptions {
  minStrikes?: number;
  minFailures?: number;
  maxEntries?: number;
  maxNodes?: number;
}

export type TrustDecision = 'ok' | 'phantom' | 'distrusted-node';

interface NodeRecord {
  values: number;
  strikes: number;
  ok: number;
  failed: number;
}

/** Ports known for one (infohash, ip), each with the sources that named it. */
type PortSources = Map<number, Set<string>>;

const MAX_PORTS = 8;
const MAX_SOURCES = 4;

export function swapPortBytes(port: number): number {
  return ((port & 0xff) << 8) | (port >>> 8);
}

export interface PeerValueTrustStats {
  checked: number;
  phantoms: number;
  distrustedDrops: number;
  nodesDistrusted: number;
  nodesTracked: number;
}

export class PeerValueTrust {
  private readonly entries = new Map<string, PortSources>();
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly o: Required<PeerValueTrustOptions>;
  private readonly counters = { checked: 0, phantoms: 0, distrustedDrops: 0 };

  constructor(options: PeerValueTrustOptions = {}) {
    this.o = { minStrikes: 2, minFailures: 8, maxEntries: 200_000, maxNodes: 20_000, ...options };
  }

  /** Where a discovered peer came from: the node that sent the value, or its kind of source. */
  static sourceOf(peer: DiscoveredPeer): string {
    return peer.via !== undefined ? `node:${peer.via}` : peer.source;
  }

  /** Decides on one discovered peer, and remembers it. */
  check(peer: DiscoveredPeer): TrustDecision {
    this.counters.checked++;
    const source = PeerValueTrust.sourceOf(peer);
    const node = peer.via !== undefined ? this.node(peer.via) : undefined;
    if (node) node.values++;
    const key = `${peer.infohash}|${peer.ip}`;
    let ports = this.entries.get(key);
    const swapped = swapPortBytes(peer.port);
    if (ports !== undefined && swapped !== peer.port) {
      const other = ports.get(swapped);
      const otherSources = other === undefined ? [] : [...other].filter((s) => s !== source);
      if (otherSources.length > 0) {
        if (node !== undefined) {
          // A node value at the swapped port of a known address: the phantom is this one.
          node.strikes++;
          this.counters.phantoms++;
          return 'phantom';
        }
        // The peer itself (announce) or a capture: the node values at the swapped port were phantoms.
        for (const s of otherSources) if (s.startsWith('node:')) this.node(s.slice(5)).strikes++;
      }
    }
    const corroborated = ports?.get(peer.port) !== undefined && [...(ports.get(peer.port) as Set<string>)].some((s) => s !== source);
    if (node !== undefined && this.distrusted(node) && !corroborated) {
      this.counters.distrustedDrops++;
      return 'distrusted-node';
    }
    if (ports === undefined) {
      ports = new Map();
      if (this.entries.size >= this.o.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
      this.entries.set(key, ports);
    }
    this.remember(ports, peer.port, source);
    return 'ok';
  }

  /** A capture of a discovered peer ended: feeds the node's failure rule and corroborates on success. */
  outcome(peer: Pick<DiscoveredPeer, 'ip' | 'port' | 'infohash' | 'via'>, ok: boolean): void {
    if (peer.via !== undefined) {
      const node = this.node(peer.via);
      if (ok) node.ok++;
      else node.failed++;
    }
    if (ok) {
      const ports = this.entries.get(`${peer.infohash}|${peer.ip}`);
      if (ports !== undefined) this.remember(ports, peer.port, 'captured');
    }
  }

  /** Whether values from this node ("ip:port") are dropped unless corroborated. */
  isDistrusted(via: string): boolean {
    const n = this.nodes.get(via);
    return n !== undefined && this.distrusted(n);
  }

  stats(): PeerValueTrustStats {
    let distrusted = 0;
    for (const n of this.nodes.values()) if (this.distrusted(n)) distrusted++;
    return { ...this.counters, nodesDistrusted: distrusted, nodesTracked: this.nodes.size };
  }

  private distrusted(n: NodeRecord): boolean {
    if (n.strikes >= this.o.minStrikes && n.strikes * 2 >= n.values) return true;
    return n.ok === 0 && n.failed >= this.o.minFailures;
  }

  private node(via: string): NodeRecord {
    let n = this.nodes.get(via);
    if (n === undefined) {
      if (this.nodes.size >= this.o.maxNodes) this.nodes.delete(this.nodes.keys().next().value as string);
      n = { values: 0, strikes: 0, ok: 0, failed: 0 };
      this.nodes.set(via, n);
    }
    return n;
  }

  private remember(ports: PortSources, port: number, source: string): void {
    let sources = ports.get(port);
    if (sources === undefined) {
      if (ports.size >= MAX_PORTS) ports.delete(ports.keys().next().value as number);
      sources = new Set();
      ports.set(port, sources);
    }
    if (sources.size < MAX_SOURCES) sources.add(source);
  }
}
