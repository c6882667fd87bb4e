import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ApiPeer } from './daemon.js';
import type { TsharkFrame } from './scenario.js';
import type { Manifest } from './swarm/swarm.js';

/**
 * End to end: the daemon (a real process, started by its CLI) against real, independently written
 * BitTorrent clients (libtorrent seeder and partial peer, Transmission, aria2) on a private DHT.
 *
 * Nothing BitTorrent runs in this process or in the host network namespace: this test only spawns
 * test/e2e/run-in-namespace.sh (a loopback-only network namespace) running test/e2e/scenario.ts,
 * and asserts on the JSON that scenario prints. Needs root and the Debian packages of
 * .ci/install-e2e-deps.sh; skipped, with the reason in its name, otherwise (or with E2E_SKIP=1).
 */

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

function skipReason(): string | undefined {
  if (process.env.E2E_SKIP === '1') return 'E2E_SKIP=1';
  if (process.platform !== 'linux') return 'needs Linux (network namespaces)';
  if (process.getuid?.() !== 0) return 'needs root (unshare --net); CI runs it as root';
  const missing: string[] = [];
  for (const bin of ['unshare', 'ip', 'tshark', 'transmission-daemon', 'aria2c']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) missing.push(bin);
  }
  if (spawnSync('/usr/bin/python3', ['-c', 'import libtorrent']).status !== 0) missing.push('python3-libtorrent');
  if (missing.length > 0) return `missing ${missing.join(', ')}: run .ci/install-e2e-deps.sh`;
  return undefined;
}

interface BenchSeries {
  samples: Array<{ ip: string; visibleMs?: number | null; captured?: boolean; error?: string }>;
  visible: Record<string, number | null>;
  found: Record<string, number | null>;
}

interface ScenarioResult {
  ok: boolean;
  errors: string[];
  daemonIp: string;
  daemonIp6: string;
  manifest?: Manifest;
  timings: Record<string, unknown> & {
    discovery?: Record<string, { visibleAfterDaemonReadyMs: number | null; foundAfterDaemonReadyMs: number | null; reportAfterFoundMs: number | null }>;
    probeMs?: Record<string, number>;
    libtorrentLookup?: { found: Record<string, number | null>; firstDhtNodeMs: number | null; complete: boolean; elapsedMs: number };
    /** The daemon's first lookup of the settled swarm: ms from its DHT start to each peer found. */
    firstLookup?: { found: Record<string, number | null>; allFoundMs: number | null };
  };
  upload?: { status: number; body: { state?: string; pieceCount?: number } };
  addInfohash?: { status: number; body: { state?: string } };
  captures: Record<string, ApiPeer[]>;
  metadata?: { final?: { state?: string; pieceCount?: number; name?: string }; metaFilterPeers: ApiPeer[] };
  spam?: { state?: { state?: string; name?: string }; checkXml?: string; checkText?: string; listXml?: string; badgeStatus?: number; reportedAfterMetadataMs?: number };
  pcaps: Record<string, { status: number; type: string | null; bytes: number; magic: string; tshark?: { rc: number; summary: string[]; frames: TsharkFrame[] } }>;
  bench?: BenchSeries;
  benchViaLookup?: BenchSeries;
  restart?: {
    /** `status --json` before the restart: how the peers were found, per DHT family. */
    statusBefore?: { capture?: { outcomes?: { byTransport?: Record<string, { attempts: number; captured: number }> } }; dht?: { stats?: { peersFoundByFamily?: { ipv4: number; ipv6: number }; ipv6?: { running?: boolean; node?: { nodes?: number; lookups?: { peers?: number } } } } } };
    stop?: { code: number | null; signal: string | null; killed: boolean; ms: number };
    dhtListening?: { restored?: number };
    statusAfter?: { dht?: { nodes?: number; ipv6?: { running?: boolean; nodes?: number } } };
    nodesAfterReadyMs?: number;
    refound?: Record<string, number>;
  };
  daemonProblems: string[];
  daemonLogs: string[];
}

const PCAP_MAGIC = ['a1b2c3d4', 'd4c3b2a1', 'a1b23c4d', '4d3cb2a1', '0a0d0d0a'];
/** peer id prefixes of each client family (BEP 20 / the clients' own conventions) */
const PEER_ID: Record<string, RegExp> = {
  'lt-seed': /^-LT\w{4}-/,
  'lt-partial': /^-LT\w{4}-/,
  'lt-enc': /^-LT\w{4}-/,
  'lt-utp': /^-LT\w{4}-/,
  transmission: /^-TR\d{4}-/,
  'transmission-enc': /^-TR\d{4}-/,
  aria2: /^A2-\d+-\d+-\d+-/,
  'lt-seed6': /^-LT\w{4}-/,
  transmission6: /^-TR\d{4}-/,
};

/**
 * Capture success per client and transport, IPv4 beside IPv6 (BEP 32): one row per client
 * software ("transmission" and "transmission6" are the same client, reached each way).
 */
function familyTable(m: Manifest, captures: Record<string, ApiPeer[]>, discovery: NonNullable<ScenarioResult['timings']['discovery']>): string[] {
  const cell = (name: string | undefined): string => {
    if (!name) return '-';
    const rep = (captures[name] ?? []).find((p) => p.captureReport)?.captureReport;
    const c = m.clients.find((x) => x.name === name);
    if (!rep || !c) return `${name}: NOT captured`;
    return `${name} ${rep.hasPieces}/${rep.totalPiecesInTorrent} ${rep.clientName ?? '?'} (found +${discovery[name]?.foundAfterDaemonReadyMs ?? '?'} ms)`;
  };
  const rows = new Map<string, { v4?: string; v6?: string }>();
  for (const c of m.clients) {
    const base = c.family === 6 ? c.name.replace(/6$/, '') : c.name;
    const row = rows.get(base) ?? {};
    row[c.family === 6 ? 'v6' : 'v4'] = c.name;
    rows.set(base, row);
  }
  const out = [`capture per client and transport:  ${'client'.padEnd(13)} | ${'IPv4 (plain DHT)'.padEnd(58)} | IPv6 (BEP 32 DHT)`];
  for (const [base, row] of rows) out.push(`  ${base.padEnd(13)} | ${cell(row.v4).padEnd(58)} | ${cell(row.v6)}`);
  return out;
}
const MSG = { have: 4, bitfield: 5, haveAll: 14, extended: 20 };

const TEST_TIMEOUT_MS = 300_000;

function runScenario(runDir: string): Promise<{ code: number | null; result: ScenarioResult | undefined; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(path.join(HERE, 'run-in-namespace.sh'), ['--', process.execPath, '--import', TSX, path.join(HERE, 'scenario.ts')], {
      cwd: ROOT,
      env: { ...process.env, E2E_RUN_DIR: runDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // SIGTERM makes run-in-namespace.sh kill the whole namespace (clients and daemon included)
    const killer = setTimeout(() => child.kill('SIGTERM'), TEST_TIMEOUT_MS - 15_000);
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    });
    child.on('close', (code) => {
      clearTimeout(killer);
      const line = stdout.split('\n').find((l) => l.startsWith('E2E-RESULT '));
      resolve({ code, result: line ? (JSON.parse(line.slice('E2E-RESULT '.length)) as ScenarioResult) : undefined, stderr });
    });
  });
}

const reason = skipReason();
if (reason) console.warn(`e2e test skipped: ${reason}`);

describe('e2e: the daemon against real BitTorrent clients in an isolated network namespace', () => {
  it.skipIf(reason !== undefined)(
    `discovers, captures, fetches metadata, stores decodable pcaps, resumes after restart${reason ? ` (skipped: ${reason})` : ''}`,
    async () => {
      const runDir = mkdtempSync('/tmp/capture-e2e.');
      // keep the work dir (logs of every client and of the daemon, pcaps, result.json) on failure
      onTestFinished(({ task }) => {
        if (task.result?.state === 'pass') rmSync(runDir, { recursive: true, force: true });
        else console.log(`e2e work dir kept: ${runDir}`);
      });
      const { code, result: r, stderr } = await runScenario(runDir);
      const context = `(scenario exit ${code}; work dir kept: ${runDir})\n--- scenario log ---\n${stderr.slice(-6000)}`;
      expect(r, `the scenario printed no result ${context}`).toBeDefined();
      if (!r) return;
      const m = r.manifest as Manifest;

      // ---- figures for the report ----
      const lines = [`e2e timings (ms): swarm ready ${String(r.timings.swarmReadyMs)}, daemon start ${String(r.timings.daemonStartMs)}, all captured after daemon ready ${String(r.timings.allCapturedAfterDaemonReadyMs)}, metadata ${String(r.timings.metadataKnownAfterDaemonReadyMs)}, total ${String(r.timings.totalMs)}`];
      for (const [name, t] of Object.entries(r.timings.discovery ?? {})) {
        lines.push(
          `  ${name}: found +${t.foundAfterDaemonReadyMs} ms, visible in the API +${t.visibleAfterDaemonReadyMs} ms (report ${t.reportAfterFoundMs} ms after found); ` +
            `side by side, from a fresh node: libtorrent get_peers ${name in (r.timings.libtorrentLookup?.found ?? {}) ? `${String(r.timings.libtorrentLookup?.found[name])} ms` : 'n/a (IPv4 reference only)'}, our KRPC probe ${String(r.timings.probeMs?.[name])} ms`,
        );
      }
      const lt = r.timings.libtorrentLookup;
      if (lt) lines.push(`libtorrent get_peers from a fresh node: all found ${lt.complete ? `after ${Math.max(...Object.values(lt.found).map(Number))} ms` : 'NOT all'} (first DHT node after ${lt.firstDhtNodeMs} ms)`);
      const fl = r.timings.firstLookup;
      if (fl) {
        lines.push(
          `settled swarm, first lookup from a fresh node: daemon all found ${fl.allFoundMs ?? 'NOT all'} ms after its DHT start ` +
            `(${Object.entries(fl.found).map(([n, ms]) => `${n} ${String(ms)}`).join(', ')}), ` +
            `libtorrent ${lt?.complete ? Math.max(...Object.values(lt.found).map(Number)) : 'NOT all'} ms after its session start`,
        );
      }
      if (r.bench) lines.push(`bench announce -> capture visible in the API: n=${r.bench.visible.n} median ${r.bench.visible.median} ms, p95 ${r.bench.visible.p95} ms (min ${r.bench.visible.min}, max ${r.bench.visible.max}); announce -> found: median ${r.bench.found.median} ms, p95 ${r.bench.found.p95} ms`);
      if (r.benchViaLookup) lines.push(`bench, announce not sent to the daemon (found by its own lookups): n=${r.benchViaLookup.visible.n} median ${r.benchViaLookup.visible.median} ms, p95 ${r.benchViaLookup.visible.p95} ms`);
      if (r.spam) lines.push(`spam list: the fake reported ${String(r.spam.reportedAfterMetadataMs)} ms after its metadata was known`);
      lines.push(...familyTable(m, r.captures, r.timings.discovery ?? {}));
      if (r.restart) lines.push(`restart: stop ${r.restart.stop?.ms} ms, dht nodes ${r.restart.statusAfter?.dht?.nodes} after ${r.restart.nodesAfterReadyMs} ms, restored ${r.restart.dhtListening?.restored}, found again: ${JSON.stringify(r.restart.refound)}`);
      console.log(lines.join('\n'));

      expect.soft(r.errors, `scenario phases failed ${context}\n--- daemon ---\n${r.daemonLogs.join('\n')}`).toEqual([]);

      // ---- every client discovered through the DHT and captured, with the right state ----
      expect.soft(r.upload?.status, 'addTorrent').toBe(200);
      expect.soft(m.clients.filter((c) => c.family === 6).map((c) => c.name).sort(), 'IPv6-only peers in the swarm').toEqual(['lt-seed6', 'transmission6']);
      for (const c of m.clients) {
        const rows = r.captures[c.name] ?? [];
        const rep = rows.find((p) => p.captureReport)?.captureReport;
        expect.soft(rep, `${c.name} (${c.ip}:${c.port}) captured: ${JSON.stringify(rows)}`).toBeDefined();
        if (!rep) continue;
        expect.soft(rows[0]?.infohash, `${c.name} infohash`).toBe(m.infohash);
        expect.soft(rep.totalPiecesInTorrent, `${c.name} totalPiecesInTorrent`).toBe(m.numPieces);
        // what the client actually sent, as tshark reads the capture's pcap
        const wire = `\n${(r.pcaps[c.name]?.tshark?.summary ?? []).join('\n')}`;
        expect.soft(rep.hasPieces, `${c.name} hasPieces (${c.role})${wire}`).toBe(c.expectedPieces);
        expect.soft(rep.hasTotal, `${c.name} hasTotal (${c.role})${wire}`).toBe(c.role === 'seeder');
        expect.soft(rep.clientName, `${c.name} clientName`).toMatch(new RegExp(c.expectedClientName));
      }

      // ---- the IPv6 peers came through the daemon's IPv6 DHT node (BEP 32) ----
      const dhtStats = r.restart?.statusBefore?.dht?.stats;
      expect.soft(dhtStats?.ipv6?.running, 'IPv6 DHT node running').toBe(true);
      expect.soft(dhtStats?.ipv6?.node?.nodes ?? 0, 'IPv6 routing table filled').toBeGreaterThan(0);
      expect.soft(dhtStats?.ipv6?.node?.lookups?.peers ?? 0, 'values returned to the IPv6 node\'s own get_peers lookups').toBeGreaterThanOrEqual(2);
      expect.soft(dhtStats?.peersFoundByFamily?.ipv6 ?? 0, 'IPv6 peers passed to the capture pipeline').toBeGreaterThanOrEqual(2);

      // ---- metadata fetched for the infohash added bare ----
      expect.soft(r.addInfohash?.status, 'addInfohash').toBe(200);
      expect.soft(r.metadata?.final?.state, 'metadata state').toBe('known');
      expect.soft(r.metadata?.final?.pieceCount, 'metadata pieceCount').toBe(m.metadataTorrent.numPieces);
      const seed = m.clients.find((c) => c.name === 'lt-seed');
      const metaRep = r.metadata?.metaFilterPeers.find((p) => p.ip === seed?.ip && p.captureReport)?.captureReport;
      expect.soft(metaRep?.totalPiecesInTorrent, 'lt-seed under the metadata filter: totalPiecesInTorrent').toBe(m.metadataTorrent.numPieces);
      expect.soft(metaRep?.hasTotal, 'lt-seed under the metadata filter: hasTotal').toBe(true);

      // ---- the spam list: the fake's metadata, from lt-seed over BEP 9, holds a disguised executable ----
      const fake = m.disguisedTorrent;
      expect.soft(r.spam?.state?.state, 'the fake torrent\'s metadata fetched').toBe('known');
      expect.soft(r.spam?.state?.name, 'the fake torrent\'s name, from its metadata').toBe(fake.name);
      const reasonXml = `<reason code="disguised-executable" at="\\d+">file &quot;${fake.files[0]?.replaceAll('.', '\\.')}&quot; is an executable with a double extension \\(\\.mkv\\.exe\\)</reason>`;
      expect.soft(r.spam?.checkXml ?? '', 'op=check by hash: the fake with its reason').toMatch(new RegExp(`<hash>${fake.infohash}</hash>[\\s\\S]*${reasonXml}`));
      expect.soft(r.spam?.checkText, 'op=check by name (text)').toBe(`${fake.name} --- ${fake.infohash} --- 11\n`);
      expect.soft(r.spam?.listXml ?? '', 'op=list (count above 10) holds the fake').toContain(`<name>${fake.name}</name>`);
      expect.soft(r.spam?.listXml ?? '', 'op=list: nothing but the fake is spam here').toContain('<spamList count="1">');
      expect.soft(r.spam?.badgeStatus, 'badge').toBe(200);

      // ---- pcaps of real captures, decoded by tshark ----
      for (const c of m.clients) {
        const p = r.pcaps[c.name];
        expect.soft(p, `${c.name}: a pcap is linked and downloadable`).toBeDefined();
        if (!p) continue;
        expect.soft(p.status, `${c.name} pcap download`).toBe(200);
        expect.soft(PCAP_MAGIC, `${c.name} pcap magic`).toContain(p.magic);
        // Only a capture made over MSE/PE or uTP is written as pcapng (the conversation, with a note saying how it was carried).
        expect.soft(p.magic === '0a0d0d0a', `${c.name}: pcapng exactly for the clients that require encryption and the uTP-only one`).toBe(c.name === 'lt-enc' || c.name === 'transmission-enc' || c.name === 'lt-utp');
        expect.soft(p.tshark?.rc, `${c.name} tshark exit`).toBe(0);
        const frames = p.tshark?.frames ?? [];
        const fromClient = frames.filter((f) => f.srcPort === c.port);
        const hs = fromClient.find((f) => f.protocol === 'BitTorrent protocol');
        const summary = (p.tshark?.summary ?? []).join('\n');
        // the daemon connects from its own address (capture.localAddress): both ends as on the wire
        expect.soft(fromClient.every((f) => f.src === c.ip), `${c.name}: frames from the client carry its address\n${summary}`).toBe(true);
        const ours = frames.find((f) => f.srcPort !== c.port && f.protocol === 'BitTorrent protocol');
        expect.soft(ours?.src, `${c.name}: the daemon's handshake, from the daemon's address (IPv6 headers for an IPv6 peer)`).toBe(c.family === 6 ? r.daemonIp6 : r.daemonIp);
        expect.soft(ours?.infohash, `${c.name}: the daemon's handshake infohash`).toBe(m.infohash);
        expect.soft(hs, `${c.name}: tshark decodes the client's handshake\n${summary}`).toBeDefined();
        expect.soft(hs?.infohash, `${c.name}: handshake infohash`).toBe(m.infohash);
        expect.soft(Buffer.from(hs?.peerId ?? '', 'hex').toString('latin1'), `${c.name}: handshake peer id`).toMatch(PEER_ID[c.name] as RegExp);
        const types = new Set(fromClient.flatMap((f) => f.msgTypes));
        expect.soft(types.has(MSG.extended), `${c.name}: extended handshake decoded\n${summary}`).toBe(true);
        expect
          .soft(types.has(MSG.bitfield) || types.has(MSG.haveAll) || (c.role === 'partial' && types.has(MSG.have)), `${c.name}: bitfield / have_all decoded\n${summary}`)
          .toBe(true);
      }

      // ---- announce -> capture (benchmark figures are printed above) ----
      if (r.bench) {
        for (const s of r.bench.samples) expect.soft(s.captured, `bench peer ${s.ip} captured: ${JSON.stringify(s)}`).toBe(true);
        if (process.env.E2E_ASSERT_BENCH === '1') expect.soft(r.bench.visible.median, 'bench median (target 2000 ms)').toBeLessThanOrEqual(2000);
      }

      // ---- transports: lt-utp over uTP, lt-enc and transmission-enc over MSE/PE, as status counts them ----
      const transports = r.restart?.statusBefore?.capture?.outcomes?.byTransport;
      expect.soft(transports?.utp?.captured ?? 0, `status: captured over uTP ${JSON.stringify(transports)}`).toBeGreaterThanOrEqual(1);
      expect.soft(transports?.['tcp+mse']?.captured ?? 0, 'status: captured over MSE/PE (lt-enc, transmission-enc)').toBeGreaterThanOrEqual(2);

      // ---- a restarted daemon resumes with its routing table ----
      expect.soft(r.restart?.stop?.code, 'graceful stop on SIGTERM').toBe(0);
      expect.soft(r.restart?.stop?.killed, 'stopped without SIGKILL').toBe(false);
      expect.soft(r.restart?.statusAfter?.dht?.nodes ?? 0, 'dht nodes after restart without bootstrap').toBeGreaterThan(0);
      expect.soft(r.restart?.statusAfter?.dht?.ipv6?.running, 'the IPv6 DHT node runs after the restart').toBe(true);
      expect.soft(r.restart?.statusAfter?.dht?.ipv6?.nodes ?? 0, 'IPv6 dht nodes after restart without bootstrap (its own table restored)').toBeGreaterThan(0);
      expect.soft(r.restart?.nodesAfterReadyMs ?? Infinity, 'dht nodes within seconds of the restart').toBeLessThanOrEqual(10_000);
      if (r.restart?.dhtListening && 'restored' in r.restart.dhtListening) {
        expect.soft(r.restart.dhtListening.restored ?? 0, 'routing table restored from the database').toBeGreaterThan(0);
      }
      for (const c of m.clients) expect.soft(r.restart?.refound?.[c.name], `${c.name} found again after the restart`).toBeDefined();

      if (r.daemonProblems.length > 0) console.log(`daemon warnings/errors:\n${r.daemonProblems.slice(0, 20).join('\n')}`);
    },
    TEST_TIMEOUT_MS,
  );
});
