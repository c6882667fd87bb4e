import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import bencode from 'bencode';

/**
 * A simulated Mainline DHT for the soak (bench/soak.ts): `count` lightweight KRPC responders, each
 * its own UDP socket on its own loopback address (127.100.x.y:6881), with a random node id. They
 * answer ping, find_node (the 8 nodes closest to the target, by the first 32 bits of the XOR
 * distance), get_peers (a token; for watched infohashes, with probability `valueRate`, 1-4 peers as
 * values — from `peersFor`, else the closest nodes) and announce_peer. Only ever bound inside the
 * soak's private network namespace.
 */
export interface SimNode {
  id: Buffer;
  host: string;
  port: number;
  sock: dgram.Socket;
}

export interface SimDhtStats {
  queries: Record<string, number>;
  valuesSent: number;
}

export interface SimDht {
  nodes: SimNode[];
  stats: SimDhtStats;
  close(): Promise<void>;
}

const compactNode = (n: SimNode): Buffer => {
  const b = Buffer.alloc(26);
  n.id.copy(b, 0);
  const [a, bb, c, d] = n.host.split('.').map(Number) as [number, number, number, number];
  b[20] = a;
  b[21] = bb;
  b[22] = c;
  b[23] = d;
  b.writeUInt16BE(n.port, 24);
  return b;
};

export const compactPeer = (ip: string, port: number): Buffer => {
  const b = Buffer.alloc(6);
  ip.split('.').forEach((x, i) => (b[i] = Number(x)));
  b.writeUInt16BE(port, 4);
  return b;
};

export async function startSimDht(
  count: number,
  watched: Set<string>,
  peersFor: (infohash: string) => Buffer[],
  valueRate = 0.3,
): Promise<SimDht> {
  const nodes: SimNode[] = [];
  const stats: SimDhtStats = { queries: {}, valuesSent: 0 };
  const prefixes = new Uint32Array(count);
  const compact: Buffer[] = [];
  const closest = (target: Buffer): Buffer => {
    const t = target.readUInt32BE(0);
    const best: Array<[number, number]> = [];
    for (let i = 0; i < nodes.length; i++) {
      const d = ((prefixes[i] as number) ^ t) >>> 0;
      if (best.length < 8 || d < (best[best.length - 1] as [number, number])[0]) {
        best.push([d, i]);
        best.sort((x, y) => x[0] - y[0]);
        if (best.length > 8) best.pop();
      }
    }
    return Buffer.concat(best.map(([, i]) => compact[i] as Buffer));
  };
  const token = randomBytes(8);
  for (let i = 0; i < count; i++) {
    const host = `127.100.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    const sock = dgram.createSocket('udp4');
    const node: SimNode = { id: randomBytes(20), host, port: 6881, sock };
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(6881, host, () => resolve());
    });
    sock.on('error', () => undefined);
    sock.on('message', (msg, rinfo) => {
      let m: Record<string, unknown>;
      try {
        m = bencode.decode(msg) as Record<string, unknown>;
      } catch {
        return;
      }
      if (!(m.q instanceof Uint8Array) || !(m.a && typeof m.a === 'object')) return;
      const q = Buffer.from(m.q).toString();
      const a = m.a as Record<string, unknown>;
      stats.queries[q] = (stats.queries[q] ?? 0) + 1;
      const r: Record<string, unknown> = { id: node.id };
      if (q === 'find_node' && a.target instanceof Uint8Array) r.nodes = closest(Buffer.from(a.target));
      else if (q === 'get_peers' && a.info_hash instanceof Uint8Array) {
        const ih = Buffer.from(a.info_hash);
        r.token = token;
        if (watched.has(ih.toString('hex')) && Math.random() < valueRate) {
          const values = peersFor(ih.toString('hex'));
          r.values = values;
          stats.valuesSent += values.length;
        } else r.nodes = closest(ih);
      } else if (q !== 'ping' && q !== 'announce_peer') {
        sock.send(Buffer.from(bencode.encode({ t: m.t, y: 'e', e: [204, 'Method Unknown'] })), rinfo.port, rinfo.address);
        return;
      }
      sock.send(Buffer.from(bencode.encode({ t: m.t, y: 'r', r })), rinfo.port, rinfo.address);
    });
    prefixes[i] = node.id.readUInt32BE(0);
    compact.push(compactNode(node));
    nodes.push(node);
  }
  return {
    nodes,
    stats,
    close: async () => {
      await Promise.all(nodes.map((n) => new Promise<void>((r) => n.sock.close(() => r()))));
    },
  };
}
