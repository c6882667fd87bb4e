/**
 * Issue 14's test: three crawlers, one ingester and two API servers on this machine. Each crawler
 * runs in its own network namespace (lo + one veth to the host, no default route) with a loopback
 * swarm inside (a stock DHT node, wire peers announced in waves); it reaches RabbitMQ through a TCP
 * proxy on its veth's host address (RabbitMQ itself listens on 127.0.0.1 only and is not touched).
 * Eight peers have the same addresses in every namespace: the same peers seen from three vantage
 * points (the work split must capture each once); sixteen per namespace are its own.
 * Mid-stream the ingester is killed (SIGKILL) and one crawler's link is cut; afterwards every peer
 * is in the API of both servers, every capture a crawler stored is in the center exactly once
 * (no redelivery or resend stored twice), and the peers two crawlers both captured (work-split
 * races around the reconnection) are counted and bounded (0 in most runs, 4 seen once in 7).
 * The center's store is PostgreSQL (a fresh schema per run, dropped afterwards): the ingester and
 * the two API servers are the real daemon on `store.url: postgres://…`, with no SQLite file; the
 * peers are read by paging with a small page size, each page from the other API server.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { clusterTopology } from '../../../src/cluster/topology.js';
import { adminRequest } from '../../../src/daemon/admin-client.js';
import { freshPgSchema } from '../../helpers/pg-test-schema.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.js';
import { makeTorrent } from '../../helpers/torrent-fixture.js';
import { canUseNetns, createNetns, startCrawlerIn, startRole, type Netns, type Proc } from './cluster-processes.js';
import { BROKER, brokerUrl, deleteTopology, queueDepth, teardownStack, uniquePrefix, waitFor } from './cluster-helpers.js';

const KEY = 'multi-node-test-key-0123456789';
const SHARED = Array.from({ length: 8 }, (_, i) => `127.0.1.${i + 1}`);
const uniqueOf = (n: number): string[] => Array.from({ length: 16 }, (_, i) => `127.0.2.${n * 20 + i + 1}`);
const SHARED_PORT = 7001;
const UNIQUE_PORT = 7002;

const teardown = teardownStack();

interface PeerRow {
  ip: string;
  port: number;
  captureReport?: { hasPieces: number };
  error?: string;
}

/** Every peer of filter `watch`, following hasMore; page i is read from server i mod n (a load balancer's view). */
async function apiPeers(apiUrls: string | readonly string[]): Promise<PeerRow[]> {
  const urls = typeof apiUrls === 'string' ? [apiUrls] : apiUrls;
  const out: PeerRow[] = [];
  let from = 0;
  for (let page = 0; page < 1000; page++) {
    const apiUrl = urls[page % urls.length] as string;
    const res = await fetch(`${apiUrl}/capture/peers/all/?key=${KEY}&filter=watch&from=${from}`);
    if (!res.ok) throw new Error(`${apiUrl}: HTTP ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { to: number; hasMore: boolean; peers: PeerRow[] };
    out.push(...body.peers);
    if (!body.hasMore) return out;
    from = body.to;
  }
  throw new Error('too many pages');
}

const json = (o: unknown): string => JSON.stringify(o, null, 1);

const reason = canUseNetns();
if (reason) console.warn(`multi-node test skipped: ${reason}`);

describe('multi-node: 3 crawlers in network namespaces, 1 ingester, 2 API servers, RabbitMQ', () => {
  it.skipIf(reason !== undefined)(
    `every peer seen by any crawler appears once in both APIs; ingester killed and a crawler cut mid-stream: nothing lost, nothing duplicated${reason ? ` (skipped: ${reason})` : ''}`,
    async () => {
      const t = tempDir('multi-node-');
      teardown.push(t.cleanup);
      const prefix = uniquePrefix();
      teardown.push(() => deleteTopology(prefix));
      const schema = await freshPgSchema('multinode');
      teardown.push(() => schema.drop());
      const torrent = makeTorrent({ pieceCount: 4 });
      const filters = [{ name: 'watch', infohashes: [torrent.infohash], storeTCPDumpFile: false, storeTCPDumpAttempt: false }];
      const clusterCommon = { amqp: { url: brokerUrl(), prefix, connectTimeoutMs: 3000 }, sharedConfig: { publishIntervalMs: 1000 } };
      const centerConfig = (name: string, role: 'ingest' | 'api'): string => {
        const file = path.join(t.dir, `${name}.yaml`);
        writeFileSync(
          file,
          json({
            role, dataDir: path.join(t.dir, name), log: { level: 'info' },
            store: { url: schema.url, schema: schema.schema, poolSize: 4 },
            dht: { enabled: false }, metrics: { enabled: false }, spam: { enabled: false }, dashboard: { enabled: false },
            // A small page: the peers span several pages, read alternately from both API servers.
            http: { listen: { host: '127.0.0.1', port: 0 }, pageSize: 7 },
            apiKeys: [{ name: 'test', key: KEY }], filters,
            cluster: { ...clusterCommon, nodeId: name, ingest: { prefetch: 100, batchSize: 10, batchWaitMs: 50, writeTimeoutMs: 20_000 } },
          }),
        );
        return file;
      };

      // The center: ingester first (it migrates the schema), then two API servers.
      const ingestFile = centerConfig('ingest', 'ingest');
      let ingest: Proc = startRole(ingestFile, 'ingest');
      teardown.push(() => ingest.stop());
      await ingest.waitLine((l) => l.msg === 'ready', 120_000, 'the ingester ready');
      const apis: Proc[] = [];
      const apiUrls: string[] = [];
      for (const name of ['api-1', 'api-2']) {
        const p = startRole(centerConfig(name, 'api'), 'api');
        teardown.push(() => p.stop());
        apis.push(p);
      }
      for (const p of apis) apiUrls.push(String((await p.waitLine((l) => l.msg === 'ready', 120_000, 'an API server ready')).api));

      // Three crawlers, each in its own namespace, its link to RabbitMQ through a proxy we can cut.
      const subnet = 100 + Math.floor(Math.random() * 150);
      const nets: Netns[] = [];
      const links: TcpProxy[] = [];
      const crawlers: Proc[] = [];
      const crawlerDirs: string[] = [];
      for (let i = 1; i <= 3; i++) {
        const ns = createNetns(i, subnet);
        teardown.push(() => ns.remove());
        nets.push(ns);
        const link = await startTcpProxy(BROKER, { host: ns.hostIp });
        teardown.push(() => link.close());
        links.push(link);
        const dataDir = path.join(t.dir, `crawler-${i}`);
        crawlerDirs.push(dataDir);
        const configFile = path.join(t.dir, `crawler-${i}.yaml`);
        writeFileSync(
          configFile,
          json({
            role: 'crawler', dataDir, log: { level: 'warn' }, metrics: { enabled: false },
            dht: { enabled: true, host: '127.0.0.1', port: 6881, bootstrap: ['127.0.0.2:6881'], lookupIntervalMs: 1000, minQueryIntervalPerIpMs: 0 },
            capture: {
              allowedPrivateRanges: ['127.0.0.0/8'], concurrency: 2, recaptureIntervalMs: 3_600_000, haveWindowMs: 300, pieceStateWaitMs: 1000,
              reverseDns: { enabled: false },
            },
            // No filters here: they come from the center (shared configuration).
            cluster: {
              nodeId: `crawler-${i}`, amqp: { url: brokerUrl(link.port, ns.hostIp), prefix, connectTimeoutMs: 3000 },
              forward: { batchSize: 10, pollIntervalMs: 50, confirmTimeoutMs: 5000 },
              workSplit: { heartbeatIntervalMs: 500, claimHoldMs: 3000, partitionHoldMs: 60_000 },
            },
          }),
        );
        const proc = startCrawlerIn(ns.name, {
          configFile, adminSocket: path.join(dataDir, 'admin.sock'), infohash: torrent.infohash, info: torrent.info.toString('hex'), shared: SHARED, unique: uniqueOf(i),
          sharedPort: SHARED_PORT, uniquePort: UNIQUE_PORT, waveSize: 4, waveMs: 2500,
        });
        teardown.push(() => proc.stop());
        crawlers.push(proc);
      }
      for (const p of crawlers) await p.waitLine((l) => l.event === 'ready', 120_000, 'a crawler ready');
      const socketOf = (i: number): string => path.join(crawlerDirs[i] as string, 'admin.sock');
      type CrawlerStatus = { cluster: { forward: { backlog: number; confirmed: number; sightings: number; sightingsDropped: number; sightingsBuffered: number }; mesh: { liveCrawlers: string[]; heldNow: number }; sharedConfig: { applied: number } } };
      const statusOf = (i: number): Promise<CrawlerStatus> => adminRequest<CrawlerStatus>(socketOf(i), 'GET', '/status');
      // Membership and the shared configuration reach every crawler.
      await waitFor(async () => (await Promise.all([0, 1, 2].map(statusOf))).every((s) => s.cluster.mesh.liveCrawlers.length === 3 && s.cluster.sharedConfig.applied >= 1), 60_000, 'three live crawlers with the shared filters');

      // Mid-stream: once some captures reached the center, kill the ingester and cut crawler 2's link.
      await waitFor(async () => (await apiPeers(apiUrls[0] as string)).length >= 6, 120_000, 'the first captures in the API');
      await ingest.kill9();
      links[1]!.cut();
      // Cut off, crawler 2 keeps working: what it finds waits for the others' claims (held), what it
      // captured waits for the broker's confirm (backlog); nothing is dropped.
      await waitFor(async () => {
        const s = (await statusOf(1)).cluster;
        return s.mesh.heldNow + s.forward.backlog > 0;
      }, 60_000, 'crawler 2 to keep finding peers while cut off');
      await new Promise((r) => setTimeout(r, 3000));
      const whileDown = (await apiPeers(apiUrls[0] as string)).length;
      links[1]!.restore();
      ingest = startRole(ingestFile, 'ingest');
      teardown.push(() => ingest.stop());
      await ingest.waitLine((l) => l.msg === 'ready', 120_000, 'the ingester ready again');

      // Everything: 8 shared peers + 3 × 16 own peers, each once, in both APIs.
      const expected = new Set([...SHARED.map((ip) => `${ip}:${SHARED_PORT}`), ...[1, 2, 3].flatMap((n) => uniqueOf(n).map((ip) => `${ip}:${UNIQUE_PORT}`))]);
      let missing: string[] = [];
      try {
        await waitFor(
          async () => {
            const got = new Set((await apiPeers(apiUrls[0] as string)).map((p) => `${p.ip}:${p.port}`));
            missing = [...expected].filter((k) => !got.has(k));
            return missing.length === 0;
          },
          240_000,
          'all 56 peers in the API',
        );
      } catch (err) {
        const statuses = await Promise.all([0, 1, 2].map((i) => adminRequest<Record<string, unknown>>(socketOf(i), 'GET', '/status').catch((e: unknown) => String(e))));
        const brief = statuses.map((s) => (typeof s === 'string' ? s : { cluster: s.cluster, pipeline: (s.capture as { pipeline?: unknown } | undefined)?.pipeline, dht: (s.dht as { stats?: { peersFound?: unknown } }).stats?.peersFound }));
        throw new Error(`${(err as Error).message}: missing ${missing.join(' ')}; crawlers ${JSON.stringify(brief)}; crawler lines ${JSON.stringify(crawlers.map((c) => c.lines.slice(-3)))}`);
      }
      // The crawlers' outboxes are empty and the queue is drained.
      await waitFor(async () => (await Promise.all([0, 1, 2].map(statusOf))).every((s) => s.cluster.forward.backlog === 0), 60_000, 'every forward backlog empty');
      await waitFor(async () => (await queueDepth(clusterTopology(prefix).ingestQueue)) === 0, 60_000, 'the ingest queue drained');
      await new Promise((r) => setTimeout(r, 1500));

      // Each server alone, and both alternately page by page (a load balancer): the same captures, each once.
      const [one, two, both] = await Promise.all([apiPeers(apiUrls[0] as string), apiPeers(apiUrls[1] as string), apiPeers([apiUrls[1] as string, apiUrls[0] as string])]);
      for (const rows of [one as PeerRow[], two as PeerRow[], both as PeerRow[]]) {
        const keys = rows.map((p) => `${p.ip}:${p.port}`);
        expect(new Set(keys)).toEqual(expected);
        expect(keys.length).toBe((one as PeerRow[]).length);
      }
      expect(both).toEqual(one);
      // Both API servers ready (PostgreSQL reachable), and their status names the store.
      for (const url of apiUrls) expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const apiStatus = await adminRequest<{ role: string; store: { kind: string; reachable: boolean } }>(path.join(t.dir, 'api-1', 'admin.sock'), 'GET', '/status');
      expect(apiStatus).toMatchObject({ role: 'api', store: { kind: 'postgres', reachable: true } });
      // Peers captured by two crawlers (the work split's races: a shared peer found by two crawlers
      // around the cut crawler's reconnection, when their views of who is live differ for a moment):
      // measured, bounded. A redelivery or a resend never adds one (checked below by uid and count).
      const splitDuplicates = (one as PeerRow[]).length - expected.size;
      expect(splitDuplicates).toBeLessThanOrEqual(8);
      expect(whileDown).toBeLessThan(expected.size);
      const ingestFull = await adminRequest<{ cluster: { ingest: { redelivered: number; duplicates: number; rejected: number } }; store: { reachable: boolean; retention?: { passes: number; failures: number } } }>(
        path.join(t.dir, 'ingest', 'admin.sock'), 'GET', '/status',
      );
      const ingestStatus = ingestFull.cluster.ingest;
      expect(ingestStatus.rejected).toBe(0);
      // The ingester runs the PostgreSQL retention (a pass at start).
      expect(ingestFull.store.reachable).toBe(true);
      expect(ingestFull.store.retention?.failures).toBe(0);
      expect(ingestFull.store.retention?.passes).toBeGreaterThanOrEqual(1);

      // Nothing lost: every capture a crawler stored is in the center (stop them to read their files).
      // Sightings (every peer each crawler's DHT showed it): all forwarded, none buffered or dropped.
      const forwardStats = (await Promise.all([0, 1, 2].map(statusOf))).map((s) => s.cluster.forward);
      for (const f of forwardStats) expect(f).toMatchObject({ backlog: 0, sightingsBuffered: 0, sightingsDropped: 0 });
      const sightingsSent = forwardStats.reduce((n, f) => n + f.sightings, 0);
      for (const p of crawlers) await p.stop();
      const center = new pg.Client({ connectionString: schema.url, options: `-c search_path=${schema.schema}` });
      await center.connect();
      teardown.push(() => center.end());
      const centerCount = async (sql: string): Promise<number> => Number((await center.query<{ n: string }>(sql)).rows[0]?.n);
      let local = 0;
      const perCrawler: number[] = [];
      for (const dir of crawlerDirs) {
        const db = new Database(path.join(dir, 'capture.db'), { readonly: true });
        const n = db.prepare('SELECT count(*) FROM captures').pluck().get() as number;
        expect(db.prepare('SELECT count(*) FROM forward_outbox').pluck().get()).toBe(0);
        db.close();
        perCrawler.push(n);
        local += n;
      }
      // Nothing lost, nothing stored twice: every capture a crawler stored is in the center once.
      expect(local).toBe((one as PeerRow[]).length);
      expect(await centerCount('SELECT count(DISTINCT uid) AS n FROM captures')).toBe(local);
      expect(await centerCount('SELECT count(*) AS n FROM captures')).toBe(local);
      expect(await centerCount('SELECT count(*) AS n FROM captures WHERE uid IS NULL')).toBe(0);
      // Sightings in the center's peers table: every peer once (ip, port, infohash), every sighting
      // counted once (ingested uids = sightings the crawlers wrote = the sum of seen counts).
      const peerKeys = (await center.query<{ ip: string; port: number }>('SELECT ip, port FROM peers')).rows.map((r) => `${r.ip}:${r.port}`);
      expect(new Set(peerKeys)).toEqual(expected);
      expect(peerKeys.length).toBe(expected.size);
      expect(await centerCount('SELECT count(*) AS n FROM ingested_sightings')).toBe(sightingsSent);
      expect(await centerCount('SELECT sum(seen_count) AS n FROM peers')).toBe(sightingsSent);
      expect(await centerCount(`SELECT min(seen_count) AS n FROM peers WHERE port = ${SHARED_PORT}`)).toBeGreaterThanOrEqual(3);
      console.log(
        `multi-node: captures per crawler ${perCrawler.join('/')}; peers captured twice by the work split: ${splitDuplicates}; ` +
          `in the API while the ingester was down: ${whileDown}; sightings forwarded: ${sightingsSent}; ingester after restart: ${JSON.stringify(ingestStatus)}`,
      );
    },
    600_000,
  );
});
