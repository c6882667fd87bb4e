/**
 * Soak (issue 9): the real daemon process for SOAK_SECONDS (default 3600) in a simulated DHT of
 * SOAK_NODES (default 2,000) KRPC responders (bench/soak-dht.ts), at several times normal load, and
 * whether its RSS, open file descriptors and event-loop delay stay flat.
 *
 *   nice -n 10 node --import tsx bench/soak.ts
 *   SOAK_SECONDS=600 SOAK_SAMPLE_S=30     a 10-minute run, a sample every 30 s
 *   SOAK_INFOHASHES=20 SOAK_ANNOUNCES_PER_S=20 SOAK_NODES=2000
 *
 * Load (normal = the defaults: lookups of a watched torrent every 15 min, announces as they come):
 * SOAK_INFOHASHES watched torrents looked up every 60 s (15× the default rate) through the simulated
 * DHT, whose nodes answer get_peers for them with values 30 % of the time (1-4 peers: honest
 * seeders of that torrent — 5 per torrent, wire peers serving it — or new addresses where nothing
 * listens, stored as failed attempts), plus SOAK_ANNOUNCES_PER_S announces to the daemon's node
 * (test/helpers/dht-announcer.ts), each from a new 127.x address. pcap on, failed attempts kept.
 * Every SOAK_SAMPLE_S: RSS (/proc/PID/status), open fds (/proc/PID/fd), worst event-loop delay
 * since the last sample (the daemon's metrics endpoint), captures stored, DHT table size, one API
 * page's latency. At the end: a table, least-squares slopes over the samples after the first fifth
 * (warm-up), and a verdict per series (flat or growing).
 *
 * Network safety: everything (the daemon included) runs in a private network namespace holding only
 * loopback (the script re-executes itself under `unshare --net --fork`, brings lo up and aborts
 * unless lo is alone). The daemon bootstraps only from simulated nodes.
 */
import { isolateNetwork, runInIsolatedNetwork } from './isolated-network.js';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { announceFrom } from '../test/helpers/dht-announcer.js';
import { startDaemonChild, type DaemonChild } from '../test/helpers/daemon-child.js';
import { makeTorrent, type TorrentFixture } from '../test/helpers/torrent-fixture.js';
import { startWirePeerServer, type WirePeerServer } from '../test/helpers/wire-peer-server.js';
import { fmtBytes, header } from './lib.js';
import { compactPeer, startSimDht } from './soak-dht.js';

const SELF = fileURLToPath(import.meta.url);
const KEY = 'soak-bench-key-0123456789abcdef';

await runInIsolatedNetwork('soak', SELF, main);

interface Sample {
  t: number;
  rss: number;
  /** V8 heap used and external memory (Buffers): RSS minus these is native memory (SQLite's page cache, …). */
  heap: number;
  external: number;
  fds: number;
  eldMaxMs: number;
  eldP99Ms: number;
  stored: number;
  nodes: number;
  apiMs: number;
}

/** Least-squares slope of y over x. */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
    den += ((xs[i] as number) - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^capture_daemon_${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

async function main(): Promise<void> {
  isolateNetwork('soak');
  const seconds = Number(process.env.SOAK_SECONDS ?? 3600);
  const sampleS = Number(process.env.SOAK_SAMPLE_S ?? Math.max(10, Math.min(60, Math.round(seconds / 30))));
  const nodeCount = Number(process.env.SOAK_NODES ?? 2000);
  const ihCount = Number(process.env.SOAK_INFOHASHES ?? 20);
  const announcesPerS = Number(process.env.SOAK_ANNOUNCES_PER_S ?? 20);
  header(`soak: ${seconds} s, ${nodeCount} simulated DHT nodes, ${ihCount} watched torrents looked up every 60 s, ${announcesPerS} announces/s`);

  const torrents: TorrentFixture[] = Array.from({ length: ihCount }, () => makeTorrent({ pieceCount: 16 }));
  const seeders = new Map<string, WirePeerServer[]>();
  for (const [k, t] of torrents.entries()) {
    seeders.set(
      t.infohash,
      await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          startWirePeerServer({
            host: `127.61.${k}.${i + 1}`, infohash: t.infohash, peerId: `-qB4650-${String(k * 10 + i).padStart(12, '0')}`,
            extendedVersion: 'qBittorrent/4.6.5', pieceCount: t.pieceCount, have: 'all', useFastExtension: true, metadata: t.info,
          }),
        ),
      ),
    );
  }
  let fresh = 0;
  const refused = (): { ip: string; port: number } => {
    const i = fresh++;
    return { ip: `127.${62 + ((i >> 16) & 7)}.${(i >> 8) & 255}.${i & 255}`, port: 10_000 + (i % 50_000) };
  };
  const watched = new Set(torrents.map((t) => t.infohash));
  const dht = await startSimDht(nodeCount, watched, (ih) => {
    const n = 1 + Math.floor(Math.random() * 4);
    return Array.from({ length: n }, () => {
      const s = seeders.get(ih) ?? [];
      const honest = Math.random() < 0.3 ? s[Math.floor(Math.random() * s.length)] : undefined;
      const p = honest ? { ip: honest.host, port: honest.port } : refused();
      return compactPeer(p.ip, p.port);
    });
  });
  console.log(`simulated DHT: ${dht.nodes.length} nodes on 127.100.x.y:6881; ${[...seeders.values()].flat().length} honest seeders`);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'soak-'));
  const configPath = path.join(dir, 'config.yaml');
  const adminSocket = path.join(dir, 'admin.sock');
  const bootstrap = dht.nodes.slice(0, 8).map((n) => `${n.host}:${n.port}`);
  writeFileSync(
    configPath,
    `dataDir: ${dir}
log: { level: info }
admin: { socket: ${adminSocket} }
http: { listen: { host: 127.0.0.1, port: 0 } }
dht: { enabled: true, host: 127.0.0.1, port: 6881, bootstrap: [${bootstrap.join(', ')}], lookupIntervalMs: 60000, sampleInfohashes: false }
geoip: { countryDb: null }
metrics: { listen: { host: 127.0.0.1, port: 0 } }
capture: { allowedPrivateRanges: [127.0.0.0/8], reverseDns: { enabled: false } }
apiKeys: [{ name: soak, key: ${KEY} }]
filters:
  - name: soak
    infohashes: [${torrents.map((t) => t.infohash).join(', ')}]
    storeTCPDumpFile: true
    storeTCPDumpAttempt: true
`,
  );
  const daemon: DaemonChild = await startDaemonChild({ configPath, adminSocket, cwd: dir, readyTimeoutMs: 180_000 });
  const st0 = await daemon.status<{ ops: { metrics: { url: string } } }>();
  const metricsUrl = st0.ops.metrics.url;
  console.log(`daemon pid ${daemon.pid}, API ${daemon.apiUrl}, metrics ${metricsUrl}; sample every ${sampleS} s\n`);

  // Announces: a steady rate, each from a new address (a refused one, or now and then an honest seeder).
  let announced = 0;
  let announceFailed = 0;
  let stopping = false;
  const announcer = (async () => {
    const every = 1000 / announcesPerS;
    let next = performance.now();
    const inflight = new Set<Promise<void>>();
    while (!stopping) {
      const t = torrents[Math.floor(Math.random() * torrents.length)] as TorrentFixture;
      const s = seeders.get(t.infohash) ?? [];
      const honest = Math.random() < 0.1 ? s[Math.floor(Math.random() * s.length)] : undefined;
      const p = honest ? { ip: honest.host, port: honest.port } : refused();
      const pr: Promise<void> = announceFrom(p.ip, { host: '127.0.0.1', port: 6881 }, t.infohash, p.port, 5_000)
        .then(() => void announced++, () => void announceFailed++)
        .finally(() => inflight.delete(pr));
      inflight.add(pr);
      if (inflight.size > 200) await Promise.race(inflight);
      next += every;
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      else next = performance.now();
    }
    await Promise.allSettled(inflight);
  })();

  const samples: Sample[] = [];
  const t0 = Date.now();
  console.log('   min      RSS    JS heap  external   fds  ELD max  ELD p99  captures  DHT nodes   API ms  load');
  // A first scrape resets the metrics' event-loop histogram.
  await fetch(metricsUrl).then((r) => r.text()).catch(() => '');
  while (Date.now() - t0 < seconds * 1000) {
    await new Promise((r) => setTimeout(r, Math.min(sampleS * 1000, seconds * 1000 - (Date.now() - t0))));
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${daemon.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    const fds = readdirSync(`/proc/${daemon.pid}/fd`).length;
    const text = await fetch(metricsUrl, { signal: AbortSignal.timeout(30_000) }).then((r) => r.text());
    const st = await daemon.status<{ capture: { pipeline: { stored: number } }; dht: { nodes: number } }>();
    const a0 = performance.now();
    const res = await fetch(`${daemon.apiUrl}/capture/peers/all/?key=${KEY}&filter=soak&from=${Date.now() - 60_000}`, { signal: AbortSignal.timeout(30_000) });
    await res.arrayBuffer();
    const s: Sample = {
      t: (Date.now() - t0) / 1000, rss, fds,
      heap: metric(text, 'nodejs_heap_size_used_bytes'), external: metric(text, 'nodejs_external_memory_bytes'),
      eldMaxMs: metric(text, 'nodejs_eventloop_lag_max_seconds') * 1000,
      eldP99Ms: metric(text, 'nodejs_eventloop_lag_p99_seconds') * 1000,
      stored: st.capture.pipeline.stored, nodes: st.dht.nodes, apiMs: performance.now() - a0,
    };
    samples.push(s);
    console.log(
      `${(s.t / 60).toFixed(1).padStart(6)} ${fmtBytes(s.rss).padStart(10)} ${fmtBytes(s.heap).padStart(10)} ${fmtBytes(s.external).padStart(9)} ${String(s.fds).padStart(5)} ${s.eldMaxMs.toFixed(0).padStart(8)} ${s.eldP99Ms.toFixed(0).padStart(8)} ${String(s.stored).padStart(9)} ${String(s.nodes).padStart(10)} ${s.apiMs.toFixed(0).padStart(8)} ${(os.loadavg()[0] ?? 0).toFixed(1).padStart(5)}`,
    );
  }
  stopping = true;
  await announcer;
  const final = await daemon.status<Record<string, unknown>>();
  await daemon.kill9();
  await dht.close();
  await Promise.all([...seeders.values()].flat().map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });

  const hours = seconds / 3600;
  const steady = samples.slice(Math.floor(samples.length / 5));
  const xs = steady.map((s) => s.t / 3600);
  const perHour = (f: (s: Sample) => number): number => slope(xs, steady.map(f));
  const mean = (f: (s: Sample) => number): number => steady.reduce((a, s) => a + f(s), 0) / Math.max(1, steady.length);
  const rssSlope = perHour((s) => s.rss);
  const heapSlope = perHour((s) => s.heap);
  const nativeSlope = perHour((s) => s.rss - s.heap - s.external);
  const fdSlope = perHour((s) => s.fds);
  const eldSlope = perHour((s) => s.eldMaxMs);
  const verdict = (growth: number, bound: number, unit = ''): string => (growth > bound ? `GROWING (+${growth.toFixed(1)}${unit} over the run > ${bound.toFixed(1)}${unit})` : 'flat');
  const last = samples.at(-1);
  console.log(`\nannounces: ${announced} answered, ${announceFailed} not; simulated DHT answered ${JSON.stringify(dht.stats.queries)}, ${dht.stats.valuesSent} peer values`);
  console.log(`captures stored: ${last?.stored ?? 0} (${((last?.stored ?? 0) / seconds).toFixed(1)}/s); outbox ${JSON.stringify((final.queues as Record<string, unknown>) ?? {})}`);
  console.log(`steady state (after the first fifth, ${steady.length} samples):`);
  console.log(`  RSS     mean ${fmtBytes(mean((s) => s.rss))}, first ${fmtBytes(samples[0]?.rss ?? 0)}, last ${fmtBytes(last?.rss ?? 0)}, peak ${fmtBytes(Math.max(...samples.map((s) => s.rss)))}, slope ${(rssSlope / 2 ** 20).toFixed(1)} MiB/h: ${verdict((rssSlope * hours) / 2 ** 20, Math.max(16, (0.1 * mean((s) => s.rss)) / 2 ** 20), ' MiB')}`);
  console.log(`  JS heap mean ${fmtBytes(mean((s) => s.heap))}, slope ${(heapSlope / 2 ** 20).toFixed(1)} MiB/h; RSS − heap − external (native: SQLite's page cache, capped at 64 MiB by cache_size, …) slope ${(nativeSlope / 2 ** 20).toFixed(1)} MiB/h`);
  console.log(`  fds     mean ${mean((s) => s.fds).toFixed(0)}, min ${Math.min(...samples.map((s) => s.fds))}, max ${Math.max(...samples.map((s) => s.fds))}, slope ${fdSlope.toFixed(1)}/h: ${verdict(fdSlope * hours, 20)}`);
  console.log(`  ELD max mean ${mean((s) => s.eldMaxMs).toFixed(0)} ms, worst ${Math.max(...samples.map((s) => s.eldMaxMs)).toFixed(0)} ms, slope ${eldSlope.toFixed(1)} ms/h: ${verdict(eldSlope * hours, 50, ' ms')}`);
  console.log(`  API     mean ${mean((s) => s.apiMs).toFixed(0)} ms, worst ${Math.max(...samples.map((s) => s.apiMs)).toFixed(0)} ms`);
}
