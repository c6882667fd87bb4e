import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import bencode from 'bencode';

/**
 * Feeds the daemon's DHT node with peers the way the DHT does: from a source address (a loopback
 * 127.x.y.z, so each announcer looks like its own host), get_peers for the token, then announce_peer
 * with the peer's TCP port (BEP 5). The daemon harvests the announce and captures ip:port. Only
 * loopback targets and sources are accepted.
 */
export interface AnnounceTarget {
  host: string;
  port: number;
}

const loopback = (ip: string): boolean => /^127\.\d+\.\d+\.\d+$/.test(ip);

function query(sock: dgram.Socket, target: AnnounceTarget, q: string, a: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
  const t = randomBytes(2);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.off('message', onMessage);
      reject(new Error(`${q}: no answer from ${target.host}:${target.port} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (msg: Buffer): void => {
      let m: Record<string, unknown>;
      try {
        m = bencode.decode(msg) as Record<string, unknown>;
      } catch {
        return;
      }
      if (!(m.t instanceof Uint8Array) || Buffer.compare(Buffer.from(m.t), t) !== 0) return;
      clearTimeout(timer);
      sock.off('message', onMessage);
      const y = Buffer.from(m.y as Uint8Array).toString();
      if (y === 'r') resolve(m.r as Record<string, unknown>);
      else reject(new Error(`${q}: error reply ${JSON.stringify(m.e, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString() : v))}`));
    };
    sock.on('message', onMessage);
    sock.send(Buffer.from(bencode.encode({ t, y: 'q', q, a })), target.port, target.host);
  });
}

/** One announce of `infohash` (hex) at `fromIp`:`peerPort` to the node at `target`. */
export async function announceFrom(fromIp: string, target: AnnounceTarget, infohash: string, peerPort: number, timeoutMs = 5_000): Promise<void> {
  if (!loopback(fromIp) || !loopback(target.host)) throw new Error('announceFrom: loopback addresses only');
  const sock = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, fromIp, () => resolve());
    });
    const id = randomBytes(20);
    const ih = Buffer.from(infohash, 'hex');
    const r = await query(sock, target, 'get_peers', { id, info_hash: ih }, timeoutMs);
    if (!(r.token instanceof Uint8Array)) throw new Error('get_peers: no token in the reply');
    await query(sock, target, 'announce_peer', { id, info_hash: ih, port: peerPort, token: r.token, implied_port: 0 }, timeoutMs);
  } finally {
    sock.close();
  }
}
