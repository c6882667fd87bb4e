/**
 * Child process of bench/hostile-peers.ts: the hostile swarm. For each hostile mode, 200 peers
 * (test/helpers/hostile-peer.ts) on their own addresses 127.20.<mode>.<1..200>, plus 50 honest
 * seeders (test/helpers/wire-peer-server.ts, full bitfield) on 127.21.0.<1..50>.
 *
 * Never run directly: it refuses to start outside the benchmark's network namespace.
 */
import { HOSTILE_MODES, startHostilePeer, type HostilePeer } from '../test/helpers/hostile-peer.js';
import { makeTorrent } from '../test/helpers/torrent-fixture.js';
import { startWirePeerServer, type WirePeerServer } from '../test/helpers/wire-peer-server.js';
import type { BenchPeer, SwarmMessage } from './hostile-peers-types.js';

if (process.env.CAPTURE_BENCH_IN_NETNS !== '1' || typeof process.send !== 'function') {
  console.error('hostile-peers-swarm: run bench/hostile-peers.ts instead (this must run inside its network namespace)');
  process.exit(2);
}

const PER_MODE = Number(process.env.HOSTILE_PER_MODE ?? 200);
const HONEST = 50;

async function start(): Promise<void> {
  const known = makeTorrent({ pieceCount: 2000 });
  // The torrent whose metadata the daemon lacks (the metadata modes lie about it).
  const missing = makeTorrent({ pieceCount: 400 });
  const servers: Array<HostilePeer | WirePeerServer> = [];
  const peers: BenchPeer[] = [];
  for (const [m, mode] of HOSTILE_MODES.entries()) {
    const torrent = mode.startsWith('meta-') ? missing : known;
    for (let i = 0; i < PER_MODE; i++) {
      const s = await startHostilePeer({ host: `127.20.${m + 1}.${i + 1}`, mode, infohash: torrent.infohash, pieceCount: torrent.pieceCount, info: torrent.info });
      servers.push(s);
      peers.push({ ip: s.host, port: s.port, infohash: torrent.infohash, kind: mode });
    }
  }
  for (let i = 0; i < HONEST; i++) {
    const s = await startWirePeerServer({
      host: `127.21.0.${i + 1}`,
      infohash: known.infohash,
      peerId: `-qB4650-${String(i).padStart(12, '0')}`,
      extendedVersion: 'qBittorrent/4.6.5',
      pieceCount: known.pieceCount,
      have: 'all',
      useFastExtension: false,
    });
    servers.push(s);
    peers.push({ ip: s.host, port: s.port, infohash: known.infohash, kind: 'honest' });
  }
  const ready: SwarmMessage = { type: 'ready', peers, knownInfohash: known.infohash, unknownInfohash: missing.infohash, pieceCount: known.pieceCount };
  process.send?.(ready);
  process.on('message', (msg: { type: string }) => {
    if (msg.type === 'stats') {
      const cpu = process.cpuUsage();
      const stats: SwarmMessage = { type: 'stats', cpuMs: (cpu.user + cpu.system) / 1000, rss: process.memoryUsage.rss() };
      process.send?.(stats);
    } else if (msg.type === 'stop') {
      void Promise.all(servers.map((s) => s.close())).finally(() => process.exit(0));
    }
  });
}

process.once('message', (msg: { type: string }) => {
  if (msg.type !== 'start') return;
  start().catch((err: unknown) => {
    console.error('hostile-peers-swarm:', err);
    process.exit(1);
  });
});
process.on('disconnect', () => process.exit(0));
