import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, writeFileSync, type WriteStream } from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { PeerJson } from '../../src/api-shape/peer-json.js';

/**
 * The daemon under test as an operator runs it: a separate process started by the CLI with a
 * config file, logging JSON lines on stdout; plus a small client for its Capture API.
 * Only used inside the isolated namespace (the daemon speaks DHT and BitTorrent).
 */

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** How to run the CLI: from source with tsx (default), or the build (E2E_DAEMON=dist, after npm run build). */
export function cliCommand(): string[] {
  if (process.env.E2E_DAEMON === 'dist') {
    if (!existsSync(path.join(ROOT, 'dist/cli/run.js'))) throw new Error('E2E_DAEMON=dist but dist/ is missing: npm run build');
    return [process.execPath, path.join(ROOT, 'bin/capture-daemon')];
  }
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return [process.execPath, '--import', tsx, path.join(ROOT, 'src/cli/run.ts')];
}

export interface DaemonConfig {
  dataDir: string;
  host: string;
  httpPort: number;
  dhtPort: number;
  bootstrap: string[];
  apiKey: string;
  lookupIntervalMs: number;
  filters: Array<{ name: string; infohashes: string[] }>;
  logLevel?: string;
  haveWindowMs?: number;
  /** spam.evidence.scanIntervalMs (default 1000: the spam list's evidence within a second or so). */
  spamScanIntervalMs?: number;
  /** The IPv6 DHT node (BEP 32) and the source address of IPv6 captures; absent: IPv4 only. */
  host6?: string;
  bootstrap6?: string[];
}

export function writeDaemonConfig(file: string, c: DaemonConfig): void {
  const filters = c.filters
    .map(
      (f) => `  - name: ${f.name}
    infohashes: [${f.infohashes.map((i) => `"${i}"`).join(', ')}]
    storeTCPDumpFile: true
    storeTCPDumpAttempt: true`,
    )
    .join('\n');
  writeFileSync(
    file,
    `# written by test/e2e (runs only inside the isolated namespace)
dataDir: ${c.dataDir}
log: { level: ${c.logLevel ?? 'info'} }
http:
  listen: { host: ${c.host}, port: ${c.httpPort} }
dht:
  enabled: true
  host: ${c.host}
  port: ${c.dhtPort}
  bootstrap: [${c.bootstrap.map((b) => `"${b}"`).join(', ')}]
  lookupIntervalMs: ${c.lookupIntervalMs}
${c.host6 ? `  ipv6: { enabled: true, host: "${c.host6}", port: ${c.dhtPort}, bootstrap: [${(c.bootstrap6 ?? []).map((b) => `"${b}"`).join(', ')}] }
` : ''}capture:
  # connect from the daemon's own address (its own /24), like a real host
  localAddress: ${c.host}
${c.host6 ? `  localAddress6: "${c.host6}"
` : ''}  allowedPrivateRanges: ["127.0.0.0/8"${c.host6 ? ', "fd00::/8"' : ''}]
  haveWindowMs: ${c.haveWindowMs ?? 500}
  # lt-utp takes no TCP: captured over uTP after the TCP attempts
  utp: fallback
  reverseDns: { enabled: false }
geoip: { countryDb: null }
metrics: { listen: { host: ${c.host}, port: 0 } }
spam:
  evidence: { scanIntervalMs: ${c.spamScanIntervalMs ?? 1000} }
apiKeys:
  - name: e2e
    key: ${c.apiKey}
filters:
${filters}
`,
  );
}

export interface LogLine {
  at: number;
  line: string;
  json: Record<string, unknown> | undefined;
}

export class DaemonProcess {
  child: ChildProcess | undefined;
  apiUrl = '';
  readonly lines: LogLine[] = [];
  private out: WriteStream | undefined;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: null, signal: null });
  readyAt = 0;
  startedAt = 0;

  constructor(
    readonly configFile: string,
    readonly logFile: string,
  ) {}

  /** Starts the daemon and resolves once it logged "ready" (with the API address). */
  start(timeoutMs = 30_000): Promise<void> {
    const [cmd, ...args] = cliCommand();
    this.startedAt = Date.now();
    this.out = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(cmd as string, [...args, 'start', '--config', this.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const onLine = (line: string): void => {
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(line) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      this.lines.push({ at: Date.now(), line, json });
      this.out?.write(`${line}\n`);
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', (l) => onLine(`[stderr] ${l}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`daemon not ready after ${timeoutMs} ms:\n${this.tail(30)}`)), timeoutMs);
      const check = setInterval(() => {
        const ready = this.lines.find((l) => l.json?.msg === 'ready' && typeof l.json.api === 'string');
        if (ready) {
          clearInterval(check);
          clearTimeout(timer);
          this.apiUrl = ready.json?.api as string;
          this.readyAt = ready.at;
          resolve();
        }
      }, 20);
      void this.exited.then(({ code, signal }) => {
        if (this.readyAt) return;
        clearInterval(check);
        clearTimeout(timer);
        reject(new Error(`daemon exited before ready (code ${code}, signal ${signal}):\n${this.tail(30)}`));
      });
    });
  }

  /** SIGTERM, then waits for the exit (SIGKILL after `timeoutMs`). */
  async stop(timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number; killed: boolean }> {
    const t0 = Date.now();
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      const r = await this.exited;
      return { ...r, ms: 0, killed: false };
    }
    child.kill('SIGTERM');
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const r = await this.exited;
    clearTimeout(timer);
    await new Promise<void>((resolve) => (this.out ? this.out.end(resolve) : resolve()));
    return { ...r, ms: Date.now() - t0, killed };
  }

  tail(n: number): string {
    return this.lines
      .slice(-n)
      .map((l) => l.line)
      .join('\n');
  }

  /** Log lines at warn level or above (levels print as names). */
  problems(): string[] {
    return this.lines.filter((l) => ['warn', 'error', 'fatal'].includes(String(l.json?.level))).map((l) => l.line);
  }
}

/** `capture-daemon status --json --config FILE` */
export function cliStatus(configFile: string): Promise<Record<string, unknown>> {
  const [cmd, ...args] = cliCommand();
  return new Promise((resolve, reject) => {
    execFile(cmd as string, [...args, 'status', '--json', '--config', configFile], { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`status failed: ${err.message}\n${stderr}`));
      try {
        resolve(JSON.parse(stdout) as Record<string, unknown>);
      } catch {
        reject(new Error(`status: not JSON: ${stdout}`));
      }
    });
  });
}

/** GET /status on the admin socket (what `capture-daemon status` asks), without the CLI's start-up. */
export function adminStatus(socketPath: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/status', method: 'GET', timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as Record<string, unknown>);
        } catch {
          reject(new Error(`admin /status ${res.statusCode}: ${body.slice(0, 200)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('admin /status timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** A peer as `GET /capture/peers/all/` returns it: the daemon's own wire type. */
export type ApiPeer = PeerJson;

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly key: string,
  ) {}

  async get<T>(p: string, query: Record<string, string>): Promise<{ status: number; body: T }> {
    const u = new URL(p, this.baseUrl);
    u.searchParams.set('key', this.key);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    const res = await fetch(u);
    return { status: res.status, body: (await res.json()) as T };
  }

  async getBytes(p: string, query: Record<string, string>): Promise<{ status: number; type: string | null; bytes: Buffer }> {
    const u = new URL(p, this.baseUrl);
    u.searchParams.set('key', this.key);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    const res = await fetch(u);
    return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) };
  }

  async postForm<T>(p: string, form: Record<string, string>): Promise<{ status: number; body: T }> {
    const res = await fetch(new URL(p, this.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ key: this.key, ...form }).toString(),
    });
    return { status: res.status, body: (await res.json()) as T };
  }

  async postTorrent<T>(torrent: Buffer, filename: string): Promise<{ status: number; body: T }> {
    const fd = new FormData();
    fd.set('key', this.key);
    fd.set('torrent', new Blob([torrent], { type: 'application/x-bittorrent' }), filename);
    const res = await fetch(new URL('/torrents/addTorrent/', this.baseUrl), { method: 'POST', body: fd });
    return { status: res.status, body: (await res.json()) as T };
  }

  /** Every peer of a filter from `from` (follows hasMore). */
  async peers(filter: string, from = 0): Promise<ApiPeer[]> {
    const out: ApiPeer[] = [];
    let f = from;
    const to = String(Date.now() + 1);
    for (let page = 0; page < 100; page++) {
      const r = await this.get<{ to: number; hasMore: boolean; peers: ApiPeer[]; error?: string }>('/capture/peers/all/', { filter, from: String(f), to });
      if (r.status !== 200) throw new Error(`peers/all ${r.status}: ${JSON.stringify(r.body)}`);
      out.push(...r.body.peers);
      if (!r.body.hasMore) break;
      f = r.body.to;
    }
    return out;
  }
}
