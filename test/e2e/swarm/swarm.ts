import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeContent, placeData, SWARM_TORRENT, METADATA_TORRENT, DISGUISED_TORRENT, type Content } from './content.js';
import { KrpcNode, keepAnnounced, addrKey, hostPort, type Addr } from './krpc.js';

/**
 * The e2e swarm: real, independently written BitTorrent clients on a private Mainline DHT.
 *
 *   name          software                          address           role            DHT
 *   bootstrap     libtorrent-rasterbar (python)     127.0.0.1:6881    DHT node only   native
 *   lt-seed       libtorrent-rasterbar              127.1.0.2:6882    seeder 64/64    native (also seeds the metadata torrent and the fake)
 *   lt-partial    libtorrent-rasterbar              127.2.0.2:6883    partial 32/64   native
 *   transmission  transmission-daemon 3.00          127.3.0.2:51413   seeder 64/64    helper announces it (drops DHT from 127/8)
 *   transmission-enc  the same, encryption required 127.9.0.2:51414   seeder 64/64    helper announces it (refuses plaintext: MSE/PE only)
 *   aria2         aria2c 1.36                       127.6.0.2:6886    partial 16/64   native
 *   lt-enc        libtorrent, encryption forced     127.7.0.2:6888    seeder 64/64    native (drops plaintext handshakes: MSE/PE RC4 only)
 *   lt-utp        libtorrent, TCP off               127.8.0.2:6889    seeder 64/64    native (uTP only: TCP accepted and closed)
 *   lt-bench      libtorrent, no DHT, N addresses   127.10+i.0.2:7000 seeder 64/64    announced on demand (benchmark)
 *   IPv6 (BEP 32; ULA addresses on lo, a DHT of its own):
 *   bootstrap6    libtorrent-rasterbar              [fd00:cd::1]:6881 DHT node only   native (IPv6 DHT)
 *   lt-seed6      libtorrent-rasterbar              [fd00:cd::2]:6889 seeder 64/64    native, IPv6 only
 *   transmission6 the same transmission-daemon      [fd00:cd::3]:51413 (its IPv6 side) helper announces it into the IPv6 DHT
 *
 * One /24 per simulated host (libtorrent keeps one routing-table entry per /24 by default).
 *
 * REFUSES to run unless the only network interface is lo (see run-in-namespace.sh): nothing here
 * may ever speak DHT or BitTorrent outside an isolated namespace.
 */

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PY = '/usr/bin/python3';

export const BOOTSTRAP: Addr = { ip: '127.0.0.1', port: 6881 };
export const BOOTSTRAP6: Addr = { ip: 'fd00:cd::1', port: 6881 };
const TR_RPC_PORT = 9091;
const TR_HELPER_PORT = 6887;
const ARIA2_RPC_PORT = 6800;
export const BENCH_PORT = 7000;
export const benchIp = (i: number): string => `127.${10 + i}.0.2`;

export type Role = 'seeder' | 'partial';

export interface ClientInfo {
  name: string;
  software: string;
  /** Debian package version */
  version: string;
  ip: string;
  port: number;
  role: Role;
  expectedPieces: number;
  /** what the daemon should report as clientName (regexp source) */
  expectedClientName: string;
  dht: string;
  pid: number | undefined;
  /** 6: reachable over IPv6 and announced in the IPv6 DHT only (BEP 32). */
  family: 4 | 6;
}

export interface Manifest {
  startedAt: number;
  readyAt?: number;
  bootstrap: string;
  /** The IPv6 DHT's bootstrap node, [addr]:port. */
  bootstrap6: string;
  infohash: string;
  torrent: string;
  numPieces: number;
  metadataTorrent: { infohash: string; torrent: string; numPieces: number; seededBy: string[] };
  /** A fake video torrent whose metadata holds `Holiday.Movie.2024.1080p.mkv.exe` (seeded by lt-seed). */
  disguisedTorrent: { infohash: string; name: string; files: string[]; seededBy: string[] };
  clients: ClientInfo[];
  bench: { ips: string[]; port: number };
  runDir: string;
}

export interface SwarmOptions {
  runDir: string;
  /** number of addresses the bench peer listens on (0 = no bench peer) */
  benchPeers?: number;
  log?: (s: string) => void;
}

function debVersion(pkg: string): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** "1:2.0.8-1+b1" -> "2.0.8" */
export function upstreamVersion(deb: string): string {
  return deb.replace(/^\d+:/, '').replace(/-[^-]*$/, '');
}

const reEscape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Throws unless `lo` is the only network interface (we are in an isolated namespace). */
export function assertIsolated(): void {
  const names = readFileSync('/proc/net/dev', 'utf8')
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0]?.trim())
    .filter((n): n is string => !!n);
  const others = names.filter((n) => n !== 'lo');
  if (others.length > 0 || !names.includes('lo')) {
    throw new Error(`refusing to start BitTorrent/DHT clients: interfaces other than lo exist (${others.join(', ')}); use test/e2e/run-in-namespace.sh`);
  }
}

interface Proc {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
}

export class Swarm {
  readonly manifest: Manifest;
  private readonly procs: Proc[] = [];
  private readonly stoppers: Array<() => void> = [];
  private readonly log: (s: string) => void;
  private swarmContent!: Content;
  private metaContent!: Content;
  private fakeContent!: Content;
  /** Transmission's RPC session id, per instance (its RPC address). */
  private readonly trSessions = new Map<string, string>();
  private readonly runDir: string;

  constructor(private readonly opts: SwarmOptions) {
    this.runDir = opts.runDir;
    this.log = opts.log ?? ((s) => process.stderr.write(`[swarm] ${s}\n`));
    this.manifest = {
      startedAt: 0,
      bootstrap: addrKey(BOOTSTRAP),
      bootstrap6: hostPort(BOOTSTRAP6),
      infohash: '',
      torrent: '',
      numPieces: 0,
      metadataTorrent: { infohash: '', torrent: '', numPieces: 0, seededBy: ['lt-seed'] },
      disguisedTorrent: { infohash: '', name: '', files: [], seededBy: ['lt-seed'] },
      clients: [],
      bench: { ips: [], port: BENCH_PORT },
      runDir: opts.runDir,
    };
  }

  private spawnProc(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const dir = path.join(this.runDir, name);
    mkdirSync(dir, { recursive: true });
    const fd = openSync(path.join(dir, 'log'), 'a');
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
    closeSync(fd);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('exit', (code, sig) => {
      if (!this.stopping) this.log(`${name} exited early (code ${code}, signal ${sig}); see ${dir}/log`);
    });
    this.procs.push({ name, child, exited });
    return child;
  }

  private stopping = false;

  private async waitUdp(addr: Addr, timeoutMs: number): Promise<void> {
    const hex = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
    const v6 = addr.ip.includes(':');
    // /proc/net/udp6: the 16 bytes as four 32-bit words, each in host (little-endian) order
    const ipHex = v6
      ? (() => {
          const halves = addr.ip.split('::');
          const head = halves[0] ? halves[0].split(':') : [];
          const tail = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
          const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail].map((g) => g.padStart(4, '0'));
          const bytes = Buffer.from(groups.join(''), 'hex');
          let out = '';
          for (let i = 0; i < 16; i += 4) out += Buffer.from(bytes.subarray(i, i + 4)).reverse().toString('hex').toUpperCase();
          return out;
        })()
      : addr.ip
          .split('.')
          .map((x) => Number(x).toString(16).toUpperCase().padStart(2, '0'))
          .reverse()
          .join('');
    const want = `${ipHex}:${hex(addr.port)}`;
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (readFileSync(v6 ? '/proc/net/udp6' : '/proc/net/udp', 'utf8').includes(want)) return;
      await sleep(50);
    }
    throw new Error(`nothing listens on udp ${addrKey(addr)}`);
  }

  async start(): Promise<Manifest> {
    assertIsolated();
    const run = this.runDir;
    mkdirSync(run, { recursive: true });
    const contentDir = path.join(run, 'content');
    this.swarmContent = makeContent(SWARM_TORRENT, contentDir);
    this.metaContent = makeContent(METADATA_TORRENT, contentDir);
    this.fakeContent = makeContent(DISGUISED_TORRENT, contentDir);
    const m = this.manifest;
    m.infohash = this.swarmContent.infohash;
    m.torrent = this.swarmContent.torrentPath;
    m.numPieces = this.swarmContent.numPieces;
    m.metadataTorrent = {
      infohash: this.metaContent.infohash,
      torrent: this.metaContent.torrentPath,
      numPieces: this.metaContent.numPieces,
      seededBy: ['lt-seed'],
    };
    m.disguisedTorrent = {
      infohash: this.fakeContent.infohash,
      name: DISGUISED_TORRENT.name,
      files: this.fakeContent.files.map((f) => path.basename(f)),
      seededBy: ['lt-seed'],
    };
    m.startedAt = Date.now();

    const ltDeb = debVersion('python3-libtorrent');
    const ltName = `^libtorrent/${reEscape(upstreamVersion(ltDeb))}`;
    const boot = addrKey(BOOTSTRAP);

    // 1. the private DHT's bootstrap node; everybody else starts once its UDP port is open
    this.spawnProc('bootstrap', PY, [path.join(HERE, 'ltnode.py'), '--name', 'bootstrap', '--listen', boot, '--mode', 'dht',
      '--status', path.join(run, 'bootstrap', 'status.json')]);
    await this.waitUdp(BOOTSTRAP, 10_000);
    // the IPv6 DHT's bootstrap node (BEP 32: a network of its own)
    this.spawnProc('bootstrap6', PY, [path.join(HERE, 'ltnode.py'), '--name', 'bootstrap6', '--listen', hostPort(BOOTSTRAP6), '--mode', 'dht',
      '--status', path.join(run, 'bootstrap6', 'status.json')]);
    await this.waitUdp(BOOTSTRAP6, 10_000);

    // 2. libtorrent seeder (also seeds the metadata-only torrent) and partial peer
    const ltClient = (name: string, ip: string, port: number, keepFiles: number | undefined, extra: string[], flags: string[] = [], family: 4 | 6 = 4): void => {
      const save = path.join(run, name, 'data');
      const pieces = placeData(this.swarmContent, save, keepFiles);
      const torrents = [`${this.swarmContent.torrentPath}=${save}${keepFiles === undefined ? '' : ':partial'}`, ...extra];
      const child = this.spawnProc(name, PY, [path.join(HERE, 'ltnode.py'), '--name', name, '--listen', hostPort({ ip, port }),
        '--bootstrap', family === 6 ? hostPort(BOOTSTRAP6) : boot, '--mode', 'torrents', ...torrents.flatMap((t) => ['--torrent', t]),
        '--status', path.join(run, name, 'status.json'), ...flags]);
      m.clients.push({ name, software: `libtorrent-rasterbar (python3-libtorrent)${flags.length > 0 ? ` ${flags.join(' ')}` : ''}`, version: ltDeb, ip, port,
        role: keepFiles === undefined ? 'seeder' : 'partial', expectedPieces: pieces, expectedClientName: ltName,
        dht: family === 6 ? 'native (IPv6 DHT)' : 'native', pid: child.pid, family });
    };
    const metaSave = path.join(run, 'lt-seed', 'meta-data');
    placeData(this.metaContent, metaSave);
    const fakeSave = path.join(run, 'lt-seed', 'fake-data');
    placeData(this.fakeContent, fakeSave);
    ltClient('lt-seed', '127.1.0.2', 6882, undefined, [`${this.metaContent.torrentPath}=${metaSave}`, `${this.fakeContent.torrentPath}=${fakeSave}`]);
    ltClient('lt-partial', '127.2.0.2', 6883, 2, []);
    // a peer set to require encryption: the daemon's plain handshake is dropped, its MSE retry is not
    ltClient('lt-enc', '127.7.0.2', 6888, undefined, [], ['--encryption', 'forced']);
    // an IPv6-only peer, in the IPv6 DHT only
    ltClient('lt-seed6', 'fd00:cd::2', 6889, undefined, [], [], 6);
    // a peer that takes no TCP (libtorrent accepts and closes it): uTP (BEP 29) only
    ltClient('lt-utp', '127.8.0.2', 6889, undefined, [], ['--transport', 'utp-only']);

    // 3. Transmission, and the helper that announces it into the DHT
    await this.startTransmission('transmission', '127.3.0.2', 51413, 'fd00:cd::3', 1);
    // a Transmission set to require encryption (encryption: 2): the daemon's plain handshake is refused, its MSE retry is not
    await this.startTransmission('transmission-enc', '127.9.0.2', 51414, undefined, 2);
    // 4. aria2 (partial: only file 1 selected and present)
    this.startAria2('127.6.0.2', 6886, 1);

    // 5. the bench peer: a libtorrent seeder on N addresses, without DHT (announced on demand)
    const nBench = this.opts.benchPeers ?? 0;
    if (nBench > 0) {
      const ips = Array.from({ length: nBench }, (_, i) => benchIp(i));
      const save = path.join(run, 'lt-bench', 'data');
      placeData(this.swarmContent, save);
      this.spawnProc('lt-bench', PY, [path.join(HERE, 'ltnode.py'), '--name', 'lt-bench', '--no-dht',
        '--listen', ips.map((ip) => `${ip}:${BENCH_PORT}`).join(','), '--mode', 'torrents',
        '--torrent', `${this.swarmContent.torrentPath}=${save}`, '--status', path.join(run, 'lt-bench', 'status.json')]);
      m.bench = { ips, port: BENCH_PORT };
    }
    writeFileSync(path.join(run, 'manifest.json'), JSON.stringify(m, null, 1));
    return m;
  }

  private async trRpc(ip: string, method: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await fetch(`http://${ip}:${TR_RPC_PORT}/transmission/rpc`, {
        method: 'POST',
        headers: { 'X-Transmission-Session-Id': this.trSessions.get(ip) ?? '', 'content-type': 'application/json' },
        body: JSON.stringify({ method, arguments: args }),
      });
      if (res.status === 409) {
        this.trSessions.set(ip, res.headers.get('x-transmission-session-id') ?? '');
        continue;
      }
      const body = (await res.json()) as { result: string; arguments: Record<string, unknown> };
      if (body.result !== 'success') throw new Error(`transmission ${method}: ${body.result}`);
      return body.arguments;
    }
    throw new Error(`transmission ${method}: no session id`);
  }

  /** encryption: Transmission's setting, 1 = prefer encrypted (plain accepted), 2 = require encryption. ip6: also reached over IPv6 (as `${name}6`). */
  private async startTransmission(name: string, ip: string, port: number, ip6: string | undefined, encryption: 1 | 2): Promise<void> {
    const dir = path.join(this.runDir, name);
    const data = path.join(dir, 'data');
    const cfg = path.join(dir, 'config');
    mkdirSync(cfg, { recursive: true });
    const pieces = placeData(this.swarmContent, data);
    const settings = {
      'bind-address-ipv4': ip,
      'bind-address-ipv6': ip6 ?? '::1',
      'blocklist-enabled': false,
      'dht-enabled': true,
      'lpd-enabled': false,
      'utp-enabled': true,
      'pex-enabled': true,
      'port-forwarding-enabled': false,
      'peer-port': port,
      'peer-port-random-on-start': false,
      encryption,
      'download-dir': data,
      'incomplete-dir-enabled': false,
      'rename-partial-files': false,
      'ratio-limit-enabled': false,
      'idle-seeding-limit-enabled': false,
      'start-added-torrents': true,
      'trash-original-torrent-files': false,
      'watch-dir-enabled': false,
      'message-level': 2,
      'rpc-enabled': true,
      'rpc-bind-address': ip,
      'rpc-port': TR_RPC_PORT,
      'rpc-authentication-required': false,
      'rpc-whitelist-enabled': false,
      'rpc-host-whitelist-enabled': false,
    };
    writeFileSync(path.join(cfg, 'settings.json'), JSON.stringify(settings, null, 1));
    // Transmission reads extra DHT bootstrap nodes from here (it drops 127/8 anyway, see below).
    writeFileSync(path.join(cfg, 'dht.bootstrap'), `${BOOTSTRAP.ip} ${BOOTSTRAP.port}\n`);
    const child = this.spawnProc(name, 'transmission-daemon', ['-f', '-g', cfg, '--logfile', path.join(dir, 'transmission.log')], { HOME: dir });
    const end = Date.now() + 15_000;
    for (;;) {
      try {
        await this.trRpc(ip, 'session-get', {});
        break;
      } catch (err) {
        if (Date.now() > end) throw new Error(`transmission RPC did not come up: ${String(err)}`);
        await sleep(100);
      }
    }
    const added = await this.trRpc(ip, 'torrent-add', { metainfo: this.swarmContent.torrentBytes.toString('base64'), 'download-dir': data });
    this.log(`transmission: torrent-add ${JSON.stringify(added)}`);
    // Transmission 3.00's DHT (jech/dht) drops every packet from 127.0.0.0/8 as martian: a helper
    // node on Transmission's own IP announces its peer port (the DHT stores the source IP).
    const helper = new KrpcNode({ ip, port: TR_HELPER_PORT });
    await helper.start();
    const stopAnnouncing = keepAnnounced(helper, this.swarmContent.infohash, port, [BOOTSTRAP], (s) => this.log(`${name}-dht-helper: ${s}`), 30_000);
    this.stoppers.push(() => {
      stopAnnouncing();
      helper.close();
    });
    if (ip6 !== undefined) {
      // Its IPv6 side: Transmission runs its IPv6 DHT only with a global IPv6 address, never on ULA,
      // so a helper on its IPv6 address announces it into the IPv6 DHT the same way.
      const helper6 = new KrpcNode({ ip: ip6, port: TR_HELPER_PORT });
      await helper6.start();
      const stopAnnouncing6 = keepAnnounced(helper6, this.swarmContent.infohash, port, [BOOTSTRAP6], (s) => this.log(`${name}-dht6-helper: ${s}`), 30_000, 1);
      this.stoppers.push(() => {
        stopAnnouncing6();
        helper6.close();
      });
    }
    const ver = debVersion('transmission-daemon');
    const common = { software: `transmission-daemon${encryption === 2 ? ' (encryption required)' : ''}`, version: ver, port, role: 'seeder' as const, expectedPieces: pieces,
      expectedClientName: `^Transmission ${reEscape(upstreamVersion(ver))}`, pid: child.pid };
    this.manifest.clients.push({ name, ip, dht: `helper ${ip}:${TR_HELPER_PORT}`, family: 4, ...common });
    if (ip6 !== undefined) this.manifest.clients.push({ name: `${name}6`, ip: ip6, dht: `helper [${ip6}]:${TR_HELPER_PORT} (IPv6 DHT)`, family: 6, ...common });
  }

  private startAria2(ip: string, port: number, keepFiles: number): void {
    const name = 'aria2';
    const dir = path.join(this.runDir, name);
    const data = path.join(dir, 'data');
    const pieces = placeData(this.swarmContent, data, keepFiles);
    const child = this.spawnProc(name, 'aria2c', [
      '--enable-dht=true', '--enable-dht6=false', '--disable-ipv6=true',
      `--dht-listen-addr=${ip}`, `--dht-listen-port=${port}`, `--dht-entry-point=${addrKey(BOOTSTRAP)}`,
      `--dht-file-path=${path.join(dir, 'dht.dat')}`,
      `--interface=${ip}`, `--listen-port=${port}`, `--bt-external-ip=${ip}`,
      '--bt-enable-lpd=false', '--enable-peer-exchange=true',
      '--check-integrity=true', '--seed-ratio=0.0', `--select-file=${Array.from({ length: keepFiles }, (_, i) => i + 1).join(',')}`,
      `--dir=${data}`, '--file-allocation=none', '--bt-save-metadata=false',
      '--enable-rpc=true', `--rpc-listen-port=${ARIA2_RPC_PORT}`, '--rpc-listen-all=false',
      '--summary-interval=0', '--console-log-level=notice', `--log=${path.join(dir, 'aria2.log')}`, '--log-level=info',
      this.swarmContent.torrentPath,
    ], { HOME: dir });
    const ver = debVersion('aria2');
    this.manifest.clients.push({ name, software: 'aria2c', version: ver, ip, port, role: 'partial', expectedPieces: pieces,
      expectedClientName: `^aria2/${reEscape(upstreamVersion(ver))}`, dht: 'native', pid: child.pid, family: 4 });
  }

  /** Pieces each client holds and whether it finished checking, asked from the client itself. */
  async clientStates(): Promise<Record<string, { ready: boolean; pieces: number; detail: string }>> {
    const out: Record<string, { ready: boolean; pieces: number; detail: string }> = {};
    const ih = this.manifest.infohash;
    const ltState = (name: string): void => {
      try {
        const st = JSON.parse(readFileSync(path.join(this.runDir, name, 'status.json'), 'utf8')) as {
          dht_nodes: number;
          torrents: Array<{ infohash: string; state: string; num_pieces: number; total_pieces: number }>;
        };
        const all = st.torrents;
        const t = all.find((x) => x.infohash === ih);
        const ready = all.every((x) => x.state === 'seeding' || x.state === 'finished');
        out[name] = { ready, pieces: t?.num_pieces ?? 0, detail: `${all.map((x) => `${x.infohash.slice(0, 8)}:${x.state}:${x.num_pieces}/${x.total_pieces}`).join(' ')} dht_nodes=${st.dht_nodes}` };
      } catch {
        out[name] = { ready: false, pieces: 0, detail: 'no status yet' };
      }
    };
    for (const c of this.manifest.clients) {
      if (c.name.startsWith('lt-')) ltState(c.name);
    }
    if (this.manifest.bench.ips.length > 0) ltState('lt-bench');
    for (const tr of this.manifest.clients.filter((c) => c.software.startsWith('transmission-daemon') && c.family === 4)) {
      let state: { ready: boolean; pieces: number; detail: string };
      try {
        const r = (await this.trRpc(tr.ip, 'torrent-get', { fields: ['status', 'haveValid', 'pieceSize', 'pieceCount', 'percentDone', 'error', 'errorString'] })) as {
          torrents: Array<{ status: number; haveValid: number; pieceSize: number; pieceCount: number; percentDone: number; error: number; errorString: string }>;
        };
        const t = r.torrents[0];
        // status 6 = seeding; 1/2 = check wait / checking
        state = t
          ? { ready: t.status === 6, pieces: Math.floor(t.haveValid / t.pieceSize), detail: `status=${t.status} have=${t.haveValid} done=${t.percentDone} ${t.errorString}` }
          : { ready: false, pieces: 0, detail: 'no torrent' };
      } catch (err) {
        state = { ready: false, pieces: 0, detail: String(err) };
      }
      out[tr.name] = state;
      // its IPv6 side is the same process
      if (this.manifest.clients.some((c) => c.name === `${tr.name}6`)) out[`${tr.name}6`] = state;
    }
    if (this.manifest.clients.some((c) => c.name === 'aria2')) {
      try {
        const res = await fetch(`http://127.0.0.1:${ARIA2_RPC_PORT}/jsonrpc`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 'e2e', method: 'aria2.tellActive', params: [['status', 'seeder', 'bitfield', 'numPieces', 'verifyIntegrityPending', 'verifiedLength']] }),
        });
        const body = (await res.json()) as { result: Array<{ status: string; seeder?: string; bitfield?: string; numPieces: string }> };
        const t = body.result[0];
        const pieces = t?.bitfield ? [...Buffer.from(t.bitfield, 'hex')].reduce((n, b) => n + popcount(b), 0) : 0;
        out.aria2 = t
          ? { ready: t.seeder === 'true', pieces, detail: `status=${t.status} seeder=${t.seeder} pieces=${pieces}/${t.numPieces}` }
          : { ready: false, pieces: 0, detail: 'no active download' };
      } catch (err) {
        out.aria2 = { ready: false, pieces: 0, detail: String(err) };
      }
    }
    return out;
  }

  /** Waits until every client finished hash-checking and holds exactly its expected pieces. */
  async waitReady(timeoutMs = 60_000): Promise<number> {
    const t0 = Date.now();
    let last: Record<string, { ready: boolean; pieces: number; detail: string }> = {};
    while (Date.now() - t0 < timeoutMs) {
      last = await this.clientStates();
      const ok =
        this.manifest.clients.every((c) => last[c.name]?.ready && last[c.name]?.pieces === c.expectedPieces) &&
        (this.manifest.bench.ips.length === 0 || last['lt-bench']?.ready === true);
      if (ok) {
        this.manifest.readyAt = Date.now();
        writeFileSync(path.join(this.runDir, 'manifest.json'), JSON.stringify(this.manifest, null, 1));
        return Date.now() - t0;
      }
      await sleep(250);
    }
    throw new Error(`swarm not ready after ${timeoutMs} ms: ${JSON.stringify(last)}`);
  }

  /**
   * An independent check of the private DHT: an iterative get_peers from a throw-away node until
   * every client's ip:port is listed. Resolves with ms until each was found.
   */
  async probe(timeoutMs = 30_000, bind: Addr = { ip: '127.250.0.1', port: 6881 }): Promise<Record<string, number>> {
    // the clients of bind's family, through that family's DHT
    const family = bind.ip.includes(':') ? 6 : 4;
    const clients = this.manifest.clients.filter((c) => c.family === family);
    const boot = family === 6 ? BOOTSTRAP6 : BOOTSTRAP;
    const node = new KrpcNode(bind, true);
    await node.start();
    const t0 = Date.now();
    const found: Record<string, number> = {};
    try {
      while (Date.now() - t0 < timeoutMs) {
        const r = await node.lookup(this.manifest.infohash, [boot]);
        const keys = new Set(r.peers.map(addrKey));
        for (const c of clients) {
          if (found[c.name] === undefined && keys.has(`${c.ip}:${c.port}`)) found[c.name] = Date.now() - t0;
        }
        if (clients.every((c) => found[c.name] !== undefined)) return found;
        await sleep(500);
      }
    } finally {
      node.close();
    }
    throw new Error(`DHT probe (IPv${family}): not every client found in ${timeoutMs} ms: ${JSON.stringify(found)}`);
  }

  /**
   * The reference for the daemon's lookups: a fresh libtorrent node (ltnode.py --mode lookup) on
   * `bind` bootstraps from the private DHT and runs libtorrent's own get_peers until every client's
   * ip:port is listed. Resolves with ms since its session started, per client.
   */
  async libtorrentLookup(
    timeoutMs = 30_000,
    bind: Addr = { ip: '127.251.0.1', port: 6881 },
  ): Promise<{ found: Record<string, number | null>; firstDhtNodeMs: number | null; complete: boolean; elapsedMs: number }> {
    const status = path.join(this.runDir, 'lt-lookup', 'status.json');
    const expect = this.manifest.clients.filter((c) => c.family === 4).map((c) => `${c.ip}:${c.port}`);
    const child = this.spawnProc('lt-lookup', PY, [path.join(HERE, 'ltnode.py'), '--name', 'lt-lookup', '--listen', addrKey(bind),
      '--bootstrap', addrKey(BOOTSTRAP), '--mode', 'lookup', '--lookup', this.manifest.infohash, '--expect', expect.join(','),
      '--timeout', String(timeoutMs / 1000), '--status', status]);
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
    });
    const r = JSON.parse(readFileSync(status, 'utf8')) as { found: Record<string, number>; firstDhtNodeMs: number | null; complete: boolean; elapsedMs: number };
    const found = Object.fromEntries(this.manifest.clients.filter((c) => c.family === 4).map((c) => [c.name, r.found[`${c.ip}:${c.port}`] ?? null]));
    return { found, firstDhtNodeMs: r.firstDhtNodeMs, complete: r.complete, elapsedMs: r.elapsedMs };
  }

  /**
   * Announces bench peer i (its address, BENCH_PORT) from a one-shot node on its own IP, to the
   * closest nodes except `exclude` (e.g. the daemon's DHT node, to time its lookups alone).
   */
  async announceBenchPeer(
    i: number,
    exclude: string[] = [],
    include: Addr[] = [],
  ): Promise<{ ip: string; port: number; sentAt: number; ackedAt: number | undefined; acks: number; acked: string[]; gaveToken: string[]; lookupMs: number }> {
    const ip = benchIp(i);
    const node = new KrpcNode({ ip, port: BENCH_PORT + 1 }, true);
    await node.start();
    try {
      const r = await node.announce(this.manifest.infohash, BENCH_PORT, [BOOTSTRAP], exclude, include);
      return {
        ip,
        port: BENCH_PORT,
        sentAt: r.sentAt,
        ackedAt: r.firstAckAt,
        acks: r.acked.length,
        acked: r.acked.map(addrKey),
        gaveToken: r.tokens.map(addrKey),
        lookupMs: r.lookupMs,
      };
    } finally {
      node.close();
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const s of this.stoppers) s();
    for (const p of this.procs) p.child.kill('SIGTERM');
    const all = Promise.all(this.procs.map((p) => p.exited));
    const timedOut = await Promise.race([all.then(() => false), sleep(5000).then(() => true)]);
    if (timedOut) {
      for (const p of this.procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await all;
    }
  }
}

function popcount(b: number): number {
  let n = 0;
  for (let x = b; x; x &= x - 1) n++;
  return n;
}
