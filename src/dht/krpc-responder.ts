import { createHash, randomBytes } from 'node:crypto';
import type { DhtContact, KRPC, KrpcMessage, KrpcPeer } from 'bittorrent-dht';
import { encodeSamplesResponse } from '../protocol/bep51-samples.js';
import { AnnouncedPeerStore } from './announced-peer-store.js';
import { BoundedSet } from './bounded-set.js';
import { type Family, encodeNodes, nodesKey, otherFamily, parseWant } from './krpc-nodes.js';

/**
 * Our answers to incoming KRPC queries, replacing bittorrent-dht's query handler (which has no BEP 51,
 * stays silent on unknown methods and bad arguments, sends every stored peer in one get_peers reply
 * and reports the UDP source port of an announce instead of the announced one):
 * - ping, find_node, get_peers (token bound to the querier's IP, rotating secret; up to `maxValues`
 *   peers plus the closest nodes), announce_peer (token checked; `port`, or the UDP source port when
 *   `implied_port` is non-zero), sample_infohashes (BEP 51: a random sample of the infohashes we have
 *   seen, refreshed every `sampleIntervalSec`, with `num` and `interval`);
 * - BEP 32: `nodes` / `nodes6` as the query's `want` asks (n4, n6; default: the family of the node,
 *   i.e. of the transport), the other family's nodes from the sibling node; `values` are peers of the
 *   node's family, plus `values6` (IPv6 peers, Transmission's extension) to an IPv4 query wanting n6;
 * - error 203 for a malformed query or bad token, 204 for any other method (BEP 5);
 * - valid announces are reported through `onAnnounce` (the harvest).
 */
export interface KrpcResponderOptions {
  /** BEP 51 `interval`: how long our sample stays the same, in seconds (default 600, at most 21600). */
  sampleIntervalSec?: number;
  /** Infohashes per sample (default 20: with 8 nodes the reply stays under 700 bytes). */
  maxSamples?: number;
  /** Infohashes remembered for sampling (default 10 000). */
  maxSeenInfohashes?: number;
  /** Peers per get_peers reply (default 50: 300 bytes of values). */
  maxValues?: number;
  /** Token secret rotation (default 5 min; a token stays valid for two rotations). */
  tokenRotateMs?: number;
  peerStore?: AnnouncedPeerStore;
  /** Family of our socket and table (default 4). */
  family?: Family;
  /** The node of the other family (BEP 32), when there is one: its table and announced peers. */
  sibling?: () => ResponderSibling | undefined;
}

export interface ResponderSibling {
  closest(target: Buffer, k: number): DhtContact[];
  values(infohash: string, max: number): Buffer[];
}

export interface AnnounceHarvest {
  ip: string;
  port: number;
  infohash: string;
  /** True when the port came from the UDP source (implied_port). */
  implied: boolean;
}

export interface ResponderStats {
  answered: Record<'ping' | 'find_node' | 'get_peers' | 'announce_peer' | 'sample_infohashes', number>;
  errors: { protocol: number; badToken: number; unknownMethod: number };
  announcesHarvested: number;
  seenInfohashes: number;
  storedPeers: number;
}

const NODE_ID_LENGTH = 20;
const K_REPLY_NODES = 8;

function bytes20(v: unknown): v is Buffer {
  return Buffer.isBuffer(v) && v.length === NODE_ID_LENGTH;
}

function int(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

function isDict(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v);
}

export class KrpcResponder {
  readonly peers: AnnouncedPeerStore;
  private readonly seen: BoundedSet<string>;
  private secrets: [Buffer, Buffer] = [randomBytes(16), randomBytes(16)];
  private readonly rotateTimer: NodeJS.Timeout;
  private readonly sampleIntervalSec: number;
  private readonly maxSamples: number;
  private readonly maxValues: number;
  private readonly family: Family;
  private readonly sibling: () => ResponderSibling | undefined;
  private sample: { infohashes: Buffer[]; builtAt: number } = { infohashes: [], builtAt: 0 };
  private readonly counters: Omit<ResponderStats, 'seenInfohashes' | 'storedPeers'> = {
    answered: { ping: 0, find_node: 0, get_peers: 0, announce_peer: 0, sample_infohashes: 0 },
    errors: { protocol: 0, badToken: 0, unknownMethod: 0 },
    announcesHarvested: 0,
  };

  constructor(
    private readonly rpc: KRPC,
    private readonly onAnnounce: (a: AnnounceHarvest) => void,
    options: KrpcResponderOptions = {},
  ) {
    this.sampleIntervalSec = Math.min(21_600, Math.max(0, options.sampleIntervalSec ?? 600));
    this.maxSamples = options.maxSamples ?? 20;
    this.maxValues = options.maxValues ?? 50;
    this.family = options.family ?? 4;
    this.sibling = options.sibling ?? (() => undefined);
    this.seen = new BoundedSet(options.maxSeenInfohashes ?? 10_000);
    this.peers = options.peerStore ?? new AnnouncedPeerStore();
    this.rotateTimer = setInterval(() => {
      this.secrets = [randomBytes(16), this.secrets[0]];
      this.peers.prune();
    }, options.tokenRotateMs ?? 5 * 60_000);
    this.rotateTimer.unref();
  }

  stop(): void {
    clearInterval(this.rotateTimer);
  }

  stats(): ResponderStats {
    return {
      answered: { ...this.counters.answered },
      errors: { ...this.counters.errors },
      announcesHarvested: this.counters.announcesHarvested,
      seenInfohashes: this.seen.size,
      storedPeers: this.peers.size,
    };
  }

  /** Infohashes we have seen in get_peers and announce_peer queries (the BEP 51 sample pool). */
  noteInfohash(infohash: string): void {
    this.seen.add(infohash);
  }

  token(ip: string, secret: Buffer = this.secrets[0]): Buffer {
    return createHash('sha1').update(secret).update(ip).digest().subarray(0, 8);
  }

  validToken(ip: string, token: Buffer): boolean {
    return token.equals(this.token(ip, this.secrets[0])) || token.equals(this.token(ip, this.secrets[1]));
  }

  /** Handles one query; never throws (a bad query is answered with an error or ignored). */
  handle(query: KrpcMessage, peer: KrpcPeer): void {
    const q = Buffer.isBuffer(query.q) ? query.q.toString('latin1') : typeof query.q === 'string' ? query.q : '';
    if (!Buffer.isBuffer(query.t)) return; // cannot even address a reply
    const a = query.a;
    if (!isDict(a) || !bytes20(a.id)) return this.fail(peer, query, 203, 'missing or invalid a.id');
    switch (q) {
      case 'ping':
        this.counters.answered.ping++;
        return this.rpc.response(peer, query, { id: this.rpc.id });
      case 'find_node':
        return this.findNode(query, a, peer);
      case 'get_peers':
        return this.getPeers(query, a, peer);
      case 'announce_peer':
        return this.announcePeer(query, a, peer);
      case 'sample_infohashes':
        return this.sampleInfohashes(query, a, peer);
      default:
        this.counters.errors.unknownMethod++;
        return this.rpc.error(peer, query, [204, 'Method Unknown']);
    }
  }

  private fail(peer: KrpcPeer, query: KrpcMessage, code: 203, message: string): void {
    this.counters.errors.protocol++;
    this.rpc.error(peer, query, [code, message]);
  }

  /** The closest nodes of each family the query wants (BEP 32), own family when it says nothing. */
  private closest(target: Buffer, want: unknown): Map<Family, DhtContact[]> {
    const families = parseWant(want) ?? new Set([this.family]);
    const out = new Map<Family, DhtContact[]>();
    for (const f of families) {
      if (f === this.family) out.set(f, this.rpc.nodes.closest(target, K_REPLY_NODES));
      else {
        const sibling = this.sibling();
        if (sibling) out.set(f, sibling.closest(target, K_REPLY_NODES));
      }
    }
    return out;
  }

  /** Sets `nodes` / `nodes6` on a reply, as the query's `want` asks. */
  private withNodes(r: Record<string, unknown>, target: Buffer, want: unknown): Record<string, unknown> {
    for (const [f, nodes] of this.closest(target, want)) r[nodesKey(f)] = encodeNodes(nodes, f);
    return r;
  }

  private findNode(query: KrpcMessage, a: Record<string, unknown>, peer: KrpcPeer): void {
    if (!bytes20(a.target)) return this.fail(peer, query, 203, 'missing or invalid a.target');
    this.counters.answered.find_node++;
    this.rpc.response(peer, query, this.withNodes({ id: this.rpc.id }, a.target, a.want));
  }

  private getPeers(query: KrpcMessage, a: Record<string, unknown>, peer: KrpcPeer): void {
    if (!bytes20(a.info_hash)) return this.fail(peer, query, 203, 'missing or invalid a.info_hash');
    const infohash = a.info_hash.toString('hex');
    this.noteInfohash(infohash);
    this.counters.answered.get_peers++;
    const r: Record<string, unknown> = { id: this.rpc.id, token: this.token(peer.address ?? peer.host ?? '') };
    const values = this.peers.get(infohash, this.maxValues);
    if (values.length > 0) r.values = values;
    if (this.family === 4 && parseWant(a.want)?.has(otherFamily(this.family))) {
      const values6 = this.sibling()?.values(infohash, this.maxValues) ?? [];
      if (values6.length > 0) r.values6 = values6;
    }
    this.rpc.response(peer, query, this.withNodes(r, a.info_hash, a.want));
  }

  private announcePeer(query: KrpcMessage, a: Record<string, unknown>, peer: KrpcPeer): void {
    const ip = peer.address ?? peer.host ?? '';
    if (!bytes20(a.info_hash)) return this.fail(peer, query, 203, 'missing or invalid a.info_hash');
    if (!Buffer.isBuffer(a.token)) return this.fail(peer, query, 203, 'missing a.token');
    const implied = (int(a.implied_port) ?? 0) !== 0;
    const port = implied ? peer.port : int(a.port);
    if (port === undefined || port < 1 || port > 65535) return this.fail(peer, query, 203, 'missing or invalid a.port');
    if (!this.validToken(ip, a.token)) {
      this.counters.errors.badToken++;
      return this.fail(peer, query, 203, 'bad token');
    }
    const infohash = a.info_hash.toString('hex');
    this.peers.add(infohash, ip, port);
    this.noteInfohash(infohash);
    this.counters.answered.announce_peer++;
    this.counters.announcesHarvested++;
    this.rpc.response(peer, query, { id: this.rpc.id });
    this.onAnnounce({ ip, port, infohash, implied });
  }

  private sampleInfohashes(query: KrpcMessage, a: Record<string, unknown>, peer: KrpcPeer): void {
    if (!bytes20(a.target)) return this.fail(peer, query, 203, 'missing or invalid a.target');
    const now = Date.now();
    if (now - this.sample.builtAt >= this.sampleIntervalSec * 1000 || (this.sample.infohashes.length === 0 && this.seen.size > 0)) {
      this.sample = { infohashes: this.seen.sample(this.maxSamples).map((h) => Buffer.from(h, 'hex')), builtAt: now };
    }
    const nodes = [...this.closest(a.target, a.want).values()].flat().map((n) => ({ id: n.id, ip: n.host, port: n.port }));
    const r = encodeSamplesResponse(this.rpc.id, this.sample.infohashes, this.seen.size, this.sampleIntervalSec, nodes);
    this.counters.answered.sample_infohashes++;
    this.rpc.response(peer, query, r as unknown as Record<string, unknown>);
  }
}
