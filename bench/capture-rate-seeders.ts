/**
 * Child process of bench/capture-rate.ts: the synthetic swarm. Starts one wire-peer server
 * (test/helpers/wire-peer-server.ts) per peer on its own loopback address 127.10.A.B, sends the
 * list to the parent over IPC, answers CPU/connection questions, and stops on request.
 *
 * Never run directly: it refuses to start outside the benchmark's network namespace.
 */
import { startWirePeerServer, type WirePeerServer } from '../test/helpers/wire-peer-server.js';
import type { SeederReport, SwarmPeer, SwarmSpec } from './capture-rate-types.js';

if (process.env.CAPTURE_BENCH_IN_NETNS !== '1' || typeof process.send !== 'function') {
  console.error('capture-rate-seeders: run bench/capture-rate.ts instead (this must run inside its network namespace)');
  process.exit(2);
}

const send = (msg: SeederReport): void => {
  process.send?.(msg);
};

/** Peer i lives on 127.10.(1 + i / 250).(1 + i % 250): distinct addresses, no .0 / .255. */
function seederHost(i: number): string {
  return `127.10.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}

const CLIENTS = [
  { prefix: '-qB4650-', v: 'qBittorrent/4.6.5' },
  { prefix: '-TR4060-', v: 'Transmission 4.0.6' },
  { prefix: '-lt0D80-', v: 'libtorrent/2.0.10' },
  { prefix: '-DE13F0-', v: 'Deluge 2.1.1' },
];

async function start(spec: SwarmSpec): Promise<void> {
  const servers: WirePeerServer[] = [];
  const peers: SwarmPeer[] = [];
  const total = spec.seeders + spec.partials;
  // A fixed half of the torrent for every partial peer (deterministic, cheap to build).
  const half = Array.from({ length: spec.pieceCount }, (_, i) => i).filter((i) => i % 2 === 0);
  for (let i = 0; i < total; i++) {
    const partial = i >= spec.seeders;
    const client = CLIENTS[i % CLIENTS.length] as (typeof CLIENTS)[number];
    const server = await startWirePeerServer({
      host: seederHost(i),
      infohash: spec.infohash,
      peerId: client.prefix + String(i).padStart(12, '0'),
      extendedVersion: client.v,
      pieceCount: spec.pieceCount,
      // Half the peers speak BEP 6 (have_all), half send a full bitfield.
      useFastExtension: i % 2 === 0,
      have: partial ? half : 'all',
      // Partial peers keep announcing: odd pieces as HAVEs, spaced out across the HAVE window.
      ...(partial ? { haves: [1, 3, 5], haveIntervalMs: spec.partialHaveIntervalMs } : {}),
    });
    servers.push(server);
    peers.push({ ip: server.host, port: server.port, kind: partial ? 'partial' : 'seeder' });
  }
  // Seeders that require encryption (libtorrent `forced`, Transmission `encryption: 2`): 127.12.x.y.
  for (let i = 0; i < spec.encryptedSeeders; i++) {
    const client = CLIENTS[i % CLIENTS.length] as (typeof CLIENTS)[number];
    const server = await startWirePeerServer({
      host: `127.12.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`,
      infohash: spec.infohash,
      peerId: client.prefix + String(100_000 + i).padStart(12, '0'),
      extendedVersion: client.v,
      pieceCount: spec.pieceCount,
      useFastExtension: i % 2 === 0,
      have: 'all',
      encryption: 'required',
      coalesceWrites: true,
    });
    servers.push(server);
    peers.push({ ip: server.host, port: server.port, kind: 'seeder', encrypted: true });
  }
  send({ type: 'ready', peers });

  process.on('message', (msg: { type: string }) => {
    if (msg.type === 'stats') {
      let accepted = 0;
      for (const s of servers) accepted += s.accepted;
      const cpu = process.cpuUsage();
      send({ type: 'stats', cpuUserUs: cpu.user, cpuSystemUs: cpu.system, accepted, rss: process.memoryUsage().rss });
    } else if (msg.type === 'stop') {
      void Promise.all(servers.map((s) => s.close())).finally(() => process.exit(0));
    }
  });
}

process.once('message', (msg: { type: string; spec?: SwarmSpec }) => {
  if (msg.type !== 'start' || msg.spec === undefined) return;
  start(msg.spec).catch((err: unknown) => {
    console.error('capture-rate-seeders:', err);
    process.exit(1);
  });
});
process.on('disconnect', () => process.exit(0));
