/**
 * One crawler of the multi-node test, run INSIDE its own network namespace (multi-node.test.ts
 * starts it with `ip netns exec`): a loopback swarm (a stock bittorrent-dht node on 127.0.0.2 and
 * wire peers on 127.0.1.x / 127.0.2.x, announced through the DHT in waves), and the daemon with
 * role crawler (in this process), which reaches RabbitMQ only through the veth to the host.
 *
 * argv[2]: JSON { configFile, infohash, info (hex, the bencoded info dict), shared: [ip], unique: [ip],
 *                 sharedPort, uniquePort, waveSize, waveMs }
 * stdout: one JSON line per event ({"event":"ready"}, {"event":"announced","n":…}, {"event":"error",…}).
 * SIGTERM: stops the daemon and the swarm, exits 0.
 */
import { execFileSync } from 'node:child_process';
import DHT from 'bittorrent-dht';
import { adminRequest } from '../../../src/daemon/admin-client.js';
import { startDaemon } from '../../../src/main.js';
import { createLogger } from '../../../src/util/logger.js';
import { KrpcNode } from '../../e2e/swarm/krpc.js';
import { startWirePeerServer, type WirePeerServer } from '../../helpers/wire-peer-server.js';

interface Args {
  configFile: string;
  /** The daemon's admin socket: announcing starts once the shared configuration arrived. */
  adminSocket: string;
  infohash: string;
  info: string;
  shared: string[];
  unique: string[];
  sharedPort: number;
  uniquePort: number;
  waveSize: number;
  /**
   * Announce the whole swarm before the daemon starts (bench/crawler-scale.ts): the first lookup
   * then finds every peer at once, so captures/s measure the crawlers, not the announce waves.
   */
  announceFirst?: boolean;
  waveMs: number;
}

const say = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

/** Refuses to run in the host namespace: only lo and one veth, and no default route. */
function checkIsolation(): void {
  const links = execFileSync('ip', ['-o', 'link', 'show']).toString().trim().split('\n').map((l) => (l.split(': ')[1] ?? '').split('@')[0]);
  const routes = execFileSync('ip', ['route', 'show']).toString();
  if (links.length > 2 || !links.includes('lo') || /^default/m.test(routes)) {
    throw new Error(`not an isolated namespace (links ${links.join(',')}; routes ${routes.trim()})`);
  }
}

async function main(): Promise<void> {
  checkIsolation();
  const a = JSON.parse(process.argv[2] as string) as Args;
  const info = Buffer.from(a.info, 'hex');
  const dht = new DHT({ bootstrap: false, host: false });
  await new Promise<void>((resolve, reject) => {
    dht.once('error', reject);
    dht.listen(6881, '127.0.0.2', () => resolve());
  });
  const peers: WirePeerServer[] = [];
  const all = [...a.shared.map((ip) => ({ ip, port: a.sharedPort })), ...a.unique.map((ip) => ({ ip, port: a.uniquePort }))];
  for (const p of all) {
    peers.push(
      await startWirePeerServer({
        host: p.ip, port: p.port, infohash: a.infohash, peerId: '-qB4650-multinode000', pieceCount: 4, have: [0, 2], useFastExtension: true,
        metadata: info, pieceStateDelayMs: 200,
      }),
    );
  }
  // Waves of announcements: peers appear over time, so captures stream while the test cuts links.
  // Shared peers are interleaved with unique ones (every crawler sees the shared ones).
  const order = [...all].sort((x, y) => (x.ip < y.ip ? -1 : 1)).sort((x, y) => (x.port === y.port ? 0 : x.port === a.sharedPort ? -1 : 1));
  const mixed: typeof all = [];
  for (let i = 0; i < Math.max(a.shared.length, a.unique.length); i++) {
    if (order[i] && i < a.shared.length) mixed.push(order[i] as (typeof all)[number]);
    const u = order[a.shared.length + i];
    if (u) mixed.push(u);
  }
  let stopping = false;
  const announceAll = async (): Promise<void> => {
    let announced = 0;
    for (let w = 0; w < mixed.length && !stopping; w += a.waveSize) {
      await Promise.all(
        mixed.slice(w, w + a.waveSize).map(async (p) => {
          const node = new KrpcNode({ ip: p.ip, port: 0 }, true);
          await node.start();
          try {
            for (let attempt = 0; attempt < 5; attempt++) {
              const r = await node.announce(a.infohash, p.port, [{ ip: '127.0.0.2', port: 6881 }]);
              if (r.acked.length > 0) break;
              await new Promise((res) => setTimeout(res, 300));
            }
          } finally {
            node.close();
          }
        }),
      );
      announced = Math.min(mixed.length, w + a.waveSize);
      say({ event: 'announced', n: announced });
      if (!a.announceFirst) await new Promise((r) => setTimeout(r, a.waveMs));
    }
  };
  if (a.announceFirst) await announceAll();
  const daemon = await startDaemon({ configFile: a.configFile, role: 'crawler', logger: createLogger('warn') });
  say({ event: 'ready' });
  // The crawler starts without filters; announcing before the center's arrive would only show it
  // peers it cannot want yet (the DHT layer then ignores them for its de-duplication window).
  for (let i = 0; ; i++) {
    const s = await adminRequest<{ filters: { total: number } }>(a.adminSocket, 'GET', '/status').catch(() => undefined);
    if (s && s.filters.total > 0) break;
    if (i > 600) throw new Error('no shared configuration within 120 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  say({ event: 'configured' });
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      await daemon.stop();
      await Promise.all(peers.map((p) => p.close()));
      await new Promise<void>((r) => dht.destroy(() => r()));
      say({ event: 'stopped' });
      process.exit(0);
    })();
  });
  if (!a.announceFirst) await announceAll();
}

main().catch((err: unknown) => {
  say({ event: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) });
  process.exit(1);
});
