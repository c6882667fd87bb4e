import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { bdecode, bencode, isDict, type BValue } from './bencode.js';

/**
 * A minimal Mainline DHT (BEP 5) node for the e2e harness, used
 *  - to announce a peer on behalf of a client whose own DHT cannot run on loopback
 *    (Transmission 3.00 drops every DHT packet from 127.0.0.0/8) or has no DHT (the bench peer):
 *    the stored peer is the SOURCE address of announce_peer, so the node binds the peer's own IP;
 *  - as an independent probe: an iterative get_peers lookup that lists who the DHT knows.
 * Every message carries v = "E2e\x01" so DHT traffic of the harness helper is recognisable.
 * IPv6 (BEP 32) when bound to an IPv6 address: `nodes6`, 18-byte values. Only ever bound to 127.x
 * or fd00:cd:: (ULA on lo) addresses inside the isolated namespace.
 */

export const HELPER_VERSION = Buffer.from('E2e\x01', 'latin1');

export interface Addr {
  ip: string;
  port: number;
}

export const addrKey = (a: Addr): string => `${a.ip}:${a.port}`;
/** host:port as clients take it on their command lines: [ipv6]:port for IPv6. */
export const hostPort = (a: Addr): string => (a.ip.includes(':') ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`);

/** RFC 5952 text of 16 address bytes (as dgram reports addresses). */
function v6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // the longest run (>= 2) of zero groups becomes "::"
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

export function parseHostPort(s: string): Addr {
  const i = s.lastIndexOf(':');
  return { ip: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

/** `nodes` (26-byte entries) or, for an IPv6 node, `nodes6` (38-byte entries, BEP 32). */
function parseNodes(blob: BValue | undefined, family: 4 | 6 = 4): Array<{ id: Buffer; addr: Addr }> {
  if (!Buffer.isBuffer(blob)) return [];
  const out: Array<{ id: Buffer; addr: Addr }> = [];
  const size = family === 4 ? 26 : 38;
  for (let o = 0; o + size <= blob.length; o += size) {
    const ip = family === 4 ? `${blob[o + 20]}.${blob[o + 21]}.${blob[o + 22]}.${blob[o + 23]}` : v6Text(blob.subarray(o + 20, o + 36));
    out.push({ id: blob.subarray(o, o + 20), addr: { ip, port: blob.readUInt16BE(o + size - 2) } });
  }
  return out;
}

function parsePeers(values: BValue | undefined): Addr[] {
  if (!Array.isArray(values)) return [];
  const out: Addr[] = [];
  for (const v of values) {
    if (Buffer.isBuffer(v) && v.length === 6) out.push({ ip: `${v[0]}.${v[1]}.${v[2]}.${v[3]}`, port: v.readUInt16BE(4) });
    else if (Buffer.isBuffer(v) && v.length === 18) out.push({ ip: v6Text(v.subarray(0, 16)), port: v.readUInt16BE(16) });
  }
  return out;
}

function distance(a: Buffer, b: Buffer): bigint {
  return BigInt(`0x${a.toString('hex')}`) ^ BigInt(`0x${b.toString('hex')}`);
}

export interface LookupResult {
  peers: Addr[];
  /** nodes that answered with a token, closest first */
  tokens: Array<{ addr: Addr; id: Buffer; token: Buffer }>;
  queried: number;
}

export class KrpcNode {
  readonly id = randomBytes(20);
  private sock: Socket | undefined;
  private tid = 0;
  private readonly pending = new Map<string, { resolve: (r: { [k: string]: BValue } | undefined) => void; timer: NodeJS.Timeout }>();

  /**
   * readOnly: a one-shot node (the probe, a bench announce) marks its queries BEP 43 read-only
   * (`ro: 1`), so the nodes it asks do not keep it in their routing tables after it is gone: in a
   * DHT this small, dead entries would soon crowd the live nodes out of every lookup.
   */
  constructor(
    readonly bind: Addr,
    readonly readOnly = false,
  ) {}

  get family(): 4 | 6 {
    return this.bind.ip.includes(':') ? 6 : 4;
  }

  async start(): Promise<void> {
    const sock = createSocket(this.family === 6 ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
    this.sock = sock;
    sock.on('message', (msg, rinfo) => this.onMessage(msg, { ip: rinfo.address, port: rinfo.port }));
    sock.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(this.bind.port, this.bind.ip, () => {
        sock.off('error', reject);
        resolve();
      });
    });
  }

  close(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
    this.pending.clear();
    this.sock?.close();
    this.sock = undefined;
  }

  private send(to: Addr, msg: { [k: string]: BValue }): void {
    msg.v = HELPER_VERSION;
    this.sock?.send(bencode(msg), to.port, to.ip);
  }

  private onMessage(buf: Buffer, from: Addr): void {
    let msg: BValue;
    try {
      msg = bdecode(buf);
    } catch {
      return;
    }
    if (!isDict(msg)) return;
    const y = Buffer.isBuffer(msg.y) ? msg.y.toString('latin1') : '';
    const t = Buffer.isBuffer(msg.t) ? msg.t : Buffer.alloc(0);
    if (y === 'q') {
      const q = Buffer.isBuffer(msg.q) ? msg.q.toString('latin1') : '';
      const r: { [k: string]: BValue } = { id: this.id };
      if (q === 'find_node' || q === 'get_peers') r[this.family === 6 ? 'nodes6' : 'nodes'] = Buffer.alloc(0);
      if (q === 'get_peers') r.token = Buffer.from('e2e');
      if (['ping', 'find_node', 'get_peers', 'announce_peer'].includes(q)) this.send(from, { t, y: 'r', r });
      else this.send(from, { t, y: 'e', e: [204, 'Method Unknown'] });
      return;
    }
    if (y === 'r' || y === 'e') {
      const p = this.pending.get(t.toString('hex'));
      if (!p) return;
      this.pending.delete(t.toString('hex'));
      clearTimeout(p.timer);
      p.resolve(y === 'r' && isDict(msg.r) ? msg.r : undefined);
    }
  }

  /** One query; resolves with the response dict, or undefined on error/timeout. */
  query(to: Addr, q: string, args: { [k: string]: BValue }, timeoutMs = 1000): Promise<{ [k: string]: BValue } | undefined> {
    this.tid = (this.tid + 1) & 0xffff;
    const t = Buffer.alloc(2);
    t.writeUInt16BE(this.tid);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(t.toString('hex'));
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(t.toString('hex'), { resolve, timer });
      this.send(to, { t, y: 'q', q, a: { ...args, id: this.id }, ...(this.readOnly ? { ro: 1 } : {}) });
    });
  }

  /**
   * Iterative get_peers from `bootstrap`: every peer any node returned, and the tokens. The DHT
   * here is tiny and full of nodes that are gone (earlier one-shot announcers), so instead of the
   * usual alpha = 3 it queries every candidate it learns, closest first, 16 at a time, until none
   * is left: the closest nodes that do answer are always reached.
   */
  async lookup(infohash: string, bootstrap: Addr[], rounds = 10, timeoutMs = 500, perRound = 16): Promise<LookupResult> {
    const ih = Buffer.from(infohash, 'hex');
    const cand = new Map<string, { addr: Addr; id: Buffer | undefined }>();
    for (const b of bootstrap) cand.set(addrKey(b), { addr: b, id: undefined });
    const seen = new Set<string>();
    const peers = new Map<string, Addr>();
    const tokens = new Map<string, { addr: Addr; id: Buffer; token: Buffer }>();
    for (let round = 0; round < rounds; round++) {
      const todo = [...cand.values()]
        .filter((c) => !seen.has(addrKey(c.addr)))
        .sort((a, b) => {
          if (!a.id) return -1;
          if (!b.id) return 1;
          const d = distance(a.id, ih) - distance(b.id, ih);
          return d < 0n ? -1 : d > 0n ? 1 : 0;
        })
        .slice(0, perRound);
      if (todo.length === 0) break;
      await Promise.all(
        todo.map(async (c) => {
          seen.add(addrKey(c.addr));
          const r = await this.query(c.addr, 'get_peers', { info_hash: ih }, timeoutMs);
          if (!r) return;
          if (Buffer.isBuffer(r.id) && r.id.length === 20 && Buffer.isBuffer(r.token)) {
            tokens.set(addrKey(c.addr), { addr: c.addr, id: r.id, token: r.token });
          }
          for (const p of parsePeers(r.values)) peers.set(addrKey(p), p);
          for (const p of parsePeers(r.values6)) peers.set(addrKey(p), p);
          for (const n of parseNodes(this.family === 6 ? r.nodes6 : r.nodes, this.family)) {
            const k = addrKey(n.addr);
            if (k !== addrKey(this.bind) && !cand.has(k)) cand.set(k, { addr: n.addr, id: n.id });
          }
        }),
      );
    }
    const closest = [...tokens.values()].sort((a, b) => {
      const d = distance(a.id, ih) - distance(b.id, ih);
      return d < 0n ? -1 : d > 0n ? 1 : 0;
    });
    return { peers: [...peers.values()], tokens: closest, queried: seen.size };
  }

  /**
   * Looks the infohash up, then announce_peer(port = peerPort, implied_port = 0) to the 8 closest
   * nodes that gave a token (but not to `exclude`, "ip:port" of DHT nodes), and to every node of
   * `include` (queried from the start, beside `bootstrap`) that gave one. Resolves with the nodes
   * that acknowledged, and when the first ack came.
   */
  async announce(
    infohash: string,
    peerPort: number,
    bootstrap: Addr[],
    exclude: string[] = [],
    include: Addr[] = [],
  ): Promise<{ acked: Addr[]; tokens: Addr[]; sentAt: number; firstAckAt: number | undefined; lookupMs: number }> {
    const t0 = Date.now();
    const found = (await this.lookup(infohash, [...bootstrap, ...include])).tokens.filter((t) => !exclude.includes(addrKey(t.addr)));
    // The 8 closest, plus every `include` node that gave a token (wherever it ranks).
    const closest = found.slice(0, 8);
    const tokens = [...closest, ...found.slice(8).filter((t) => include.some((a) => addrKey(a) === addrKey(t.addr)))];
    const lookupMs = Date.now() - t0;
    const ih = Buffer.from(infohash, 'hex');
    let firstAckAt: number | undefined;
    const acked: Addr[] = [];
    const sentAt = Date.now();
    await Promise.all(
      tokens.map(async (n) => {
        const r = await this.query(n.addr, 'announce_peer', { info_hash: ih, port: peerPort, implied_port: 0, token: n.token });
        if (r) {
          firstAckAt ??= Date.now();
          acked.push(n.addr);
        }
      }),
    );
    return { acked, tokens: tokens.map((t) => t.addr), sentAt, firstAckAt, lookupMs };
  }
}

/**
 * Keeps a peer announced (Transmission's stand-in): announces every `everyMs`, retrying every
 * 2 s until at least `minAcks` nodes acknowledged. Stop with the returned function.
 */
export function keepAnnounced(
  node: KrpcNode,
  infohash: string,
  peerPort: number,
  bootstrap: Addr[],
  log: (s: string) => void,
  everyMs = 60_000,
  minAcks = 3,
): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const round = async (): Promise<void> => {
    if (stopped) return;
    const { acked } = await node.announce(infohash, peerPort, bootstrap);
    log(`announced ${node.bind.ip}:${peerPort} for ${infohash}: ${acked.length} acks (${acked.map(addrKey).join(' ')})`);
    if (!stopped) timer = setTimeout(() => void round(), acked.length >= minAcks ? everyMs : 2000);
  };
  void round();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
