import { writeFileSync } from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { openDatabase } from '../../src/store/open-database.js';
import { announceFrom, type AnnounceTarget } from './dht-announcer.js';
import type { TorrentFixture } from './torrent-fixture.js';
import { startWirePeerServer, type WirePeerServer } from './wire-peer-server.js';

/**
 * Load for the fault tests: the daemon's own DHT node on loopback, fed with announces (test/helpers/
 * dht-announcer.ts) of honest seeders (wire peers on 127.61.0.x serving the torrent) and of addresses
 * where nothing listens (127.62.x.y: refused, stored as failed attempts); the Capture API read the way
 * a client reads it; and the database checks every fault test ends with.
 */
export const LOAD_KEY = 'fault-test-key-0123456789abcdef';
export const LOAD_FILTER = 'faults';

/** A UDP or TCP port that was free a moment ago on 127.0.0.1 (bound, then closed). */
export async function freePort(kind: 'udp' | 'tcp'): Promise<number> {
  if (kind === 'udp') {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const port = s.address().port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export interface LoadConfigOptions {
  dataDir: string;
  /** Where config.yaml and admin.sock go (default dataDir). */
  configDir?: string;
  dhtPort: number;
  infohash: string;
  /** AMQP URL (notify.amqp enabled, the filter publishes); omitted: no notifications. */
  amqpUrl?: string;
  amqpExchange?: string;
  pcap?: boolean;
  extra?: string;
}

/** Writes DIR/config.yaml for a loopback-only daemon; returns its path and the admin socket. */
export function writeLoadConfig(o: LoadConfigOptions): { configPath: string; adminSocket: string } {
  const configPath = path.join(o.configDir ?? o.dataDir, 'config.yaml');
  const adminSocket = path.join(o.configDir ?? o.dataDir, 'admin.sock');
  writeFileSync(
    configPath,
    `dataDir: ${o.dataDir}
log: { level: info }
admin: { socket: ${adminSocket} }
http:
  listen: { host: 127.0.0.1, port: 0 }
dht: { enabled: true, host: 127.0.0.1, port: ${o.dhtPort}, bootstrap: [], maxPacketsPerSecond: 5000, minQueryIntervalPerIpMs: 0, sampleInfohashes: false }
geoip: { countryDb: null }
metrics: { listen: { host: 127.0.0.1, port: 0 } }
capture:
  allowedPrivateRanges: [127.0.0.0/8]
  reverseDns: { enabled: false }
  recaptureIntervalMs: 0
  haveWindowMs: 200
  pieceStateWaitMs: 500
notify:
  amqp: { enabled: ${o.amqpUrl !== undefined}, url: "${o.amqpUrl ?? 'amqp://guest:guest@127.0.0.1:5672'}", exchange: ${o.amqpExchange ?? 'capture'} }
apiKeys:
  - name: test
    key: ${LOAD_KEY}
filters:
  - name: ${LOAD_FILTER}
    infohashes: [${o.infohash}]
    storeTCPDumpFile: ${o.pcap === true}
    storeTCPDumpAttempt: true
    notify: { amqp: ${o.amqpUrl !== undefined} }
${o.extra ?? ''}`,
  );
  return { configPath, adminSocket };
}

export interface ApiPeer {
  date: string;
  ip: string;
  port: number;
  infohash: string;
  error?: string;
  captureReport?: Record<string, unknown>;
}

/** "YYYY-MM-DDTHH:mm:ss.SSS+0000" → ms. */
export const apiDateMs = (d: string): number => Date.parse(d.replace('+0000', 'Z'));
export const peerKey = (p: { ip: string; port: number; foundAt: number }): string => `${p.ip}:${p.port}@${p.foundAt}`;

/** Every capture of the filter, following `hasMore` (GET /capture/peers/all/). */
export async function listCaptures(apiUrl: string, timeoutMs = 10_000): Promise<ApiPeer[]> {
  const out: ApiPeer[] = [];
  let from = 0;
  for (;;) {
    const res = await fetch(`${apiUrl}/capture/peers/all/?key=${LOAD_KEY}&filter=${LOAD_FILTER}&from=${from}`, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.status !== 200) throw new Error(`GET /capture/peers/all/: ${res.status} ${await res.text()}`);
    const page = (await res.json()) as { to: number; hasMore: boolean; peers: ApiPeer[] };
    out.push(...page.peers);
    if (!page.hasMore) return out;
    from = page.to;
  }
}

/**
 * Announces without end until stopped: the honest seeders again and again (the daemon captures each
 * ip:port once per de-duplication window, so only after a restart again), and a new refused address
 * each time. `inFlight` announces at once; errors (the daemon down, a timeout) are counted and ignored.
 */
export function startAnnouncing(target: AnnounceTarget, infohash: string, honest: WirePeerServer[], inFlight = 4): { stop: () => Promise<void>; stats: { ok: number; failed: number } } {
  const stats = { ok: 0, failed: 0 };
  let stopped = false;
  let n = 0;
  const worker = async (): Promise<void> => {
    while (!stopped) {
      const i = n++;
      const peer = i % 3 === 0 ? honest[(i / 3) % honest.length] : undefined;
      const ip = peer ? peer.host : `127.62.${(i >> 8) & 255}.${i & 255}`;
      const port = peer ? peer.port : 40_000 + (i % 20_000);
      try {
        await announceFrom(ip, target, infohash, port, 3_000);
        stats.ok++;
      } catch {
        stats.failed++;
        await new Promise((r) => setTimeout(r, 200));
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const workers = Array.from({ length: inFlight }, () => worker());
  return {
    stats,
    stop: async () => {
      stopped = true;
      await Promise.all(workers);
    },
  };
}

/** Honest seeders of the torrent on 127.61.0.1 … 127.61.0.N. */
export function startHonestSeeders(t: TorrentFixture, count: number): Promise<WirePeerServer[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      startWirePeerServer({
        host: `127.61.0.${i + 1}`,
        infohash: t.infohash,
        peerId: `-qB4650-${String(i).padStart(12, '0')}`,
        extendedVersion: 'qBittorrent/4.6.5',
        pieceCount: t.pieceCount,
        have: 'all',
        useFastExtension: true,
        metadata: t.info,
      }),
    ),
  );
}

export interface DbCheck {
  integrity: string;
  captures: number;
  /** Captures without a listing, listings without a capture, listings whose success flag is wrong. */
  unlisted: number;
  orphanListings: number;
  wrongSuccess: number;
  /** Captures without exactly one outbox row per notification target, outbox rows without a capture. */
  outboxMismatch: number;
  orphanOutbox: number;
  outboxRows: number;
  keys: Set<string>;
}

/** Opens the database file (daemon stopped or killed) and checks it. `outboxPerCapture`: rows each capture must have (null: not checked). */
export function checkDatabase(file: string, outboxPerCapture: number | null): DbCheck {
  const db = openDatabase(file);
  try {
    const one = (sql: string): number => db.prepare(sql).pluck().get() as number;
    const rows = db.prepare('SELECT ip, port, found_at AS foundAt FROM captures').all() as Array<{ ip: string; port: number; foundAt: number }>;
    return {
      integrity: String(db.pragma('integrity_check', { simple: true })),
      captures: rows.length,
      unlisted: one('SELECT count(*) FROM captures c WHERE NOT EXISTS (SELECT 1 FROM capture_filters f WHERE f.capture_id = c.id)'),
      orphanListings: one('SELECT count(*) FROM capture_filters f WHERE NOT EXISTS (SELECT 1 FROM captures c WHERE c.id = f.capture_id)'),
      wrongSuccess: one('SELECT count(*) FROM capture_filters f JOIN captures c ON c.id = f.capture_id WHERE f.success <> (c.report_at IS NOT NULL) OR f.found_at <> c.found_at'),
      outboxMismatch:
        outboxPerCapture === null
          ? 0
          : one(`SELECT count(*) FROM captures c WHERE (SELECT count(*) FROM outbox o WHERE o.capture_id = c.id) <> ${outboxPerCapture}`),
      orphanOutbox: one('SELECT count(*) FROM outbox o WHERE NOT EXISTS (SELECT 1 FROM captures c WHERE c.id = o.capture_id)'),
      outboxRows: one('SELECT count(*) FROM outbox'),
      keys: new Set(rows.map(peerKey)),
    };
  } finally {
    db.close();
  }
}
