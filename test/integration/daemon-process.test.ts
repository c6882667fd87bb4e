import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { createInterface } from 'node:readline';
import bencode from 'bencode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { openDatabase } from '../../src/store/open-database.js';
import { startNotifyListener, type Listener } from '../helpers/notify-listener.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * The daemon as an operator runs it: a real process started by the CLI, a real config file,
 * a real SQLite file, the admin socket, signals, and the CLI talking to it.
 */

const ROOT = path.resolve('.');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const CLI = [process.execPath, '--import', TSX, path.join(ROOT, 'src/cli/run.ts')];
const KEY = 'integration-test-key-0123456789';

let dir: string;
let cleanupDir: () => void;
let configPath: string;
const cleanups: Array<() => void> = [];

function writeConfig(filters: string): void {
  writeFileSync(
    configPath,
    `dataDir: ${dir}
log: { level: info }
http:
  listen: { host: 127.0.0.1, port: 0 }
dht: { enabled: false }
geoip: { countryDb: null }
metrics: { listen: { host: 127.0.0.1, port: 0 } }
apiKeys:
  - name: test
    key: ${KEY}
filters:
${filters}
`,
  );
}

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(CLI[0] as string, [...CLI.slice(1), ...args], { env: { ...process.env, ...env }, cwd: dir });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

interface Daemon {
  child: ChildProcess;
  apiUrl: string;
  logs: string[];
  exited: Promise<number | null>;
}

function startDaemonProcess(env: NodeJS.ProcessEnv = {}): Promise<Daemon> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLI[0] as string, [...CLI.slice(1), 'start', '--config', configPath], {
      env: { ...process.env, ...env },
      cwd: dir,
    });
    const logs: string[] = [];
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    cleanups.push(() => child.kill('SIGKILL'));
    const timer = setTimeout(() => reject(new Error(`daemon did not become ready:\n${logs.join('\n')}`)), 20_000);
    child.stderr?.on('data', (c: Buffer) => logs.push(c.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      logs.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; api?: string };
        if (entry.msg === 'ready' && entry.api) {
          clearTimeout(timer);
          resolve({ child, apiUrl: entry.api, logs, exited });
        }
      } catch {
        // not JSON: kept in logs
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code}:\n${logs.join('\n')}`));
    });
  });
}

async function waitFor(predicate: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function torrentFile(name: string): { buf: Buffer; infohash: string } {
  const info = { length: 65536 * 3, name: Buffer.from(name), 'piece length': 65536, pieces: randomBytes(60) };
  const buf = Buffer.from(bencode.encode({ info }));
  return { buf, infohash: createHash('sha1').update(bencode.encode(info)).digest('hex') };
}

async function filterNames(apiUrl: string): Promise<Array<{ name: string; infohashes: string[] }>> {
  const res = await fetch(`${apiUrl}/capture/filters/?key=${KEY}`);
  return ((await res.json()) as { filters: Array<{ name: string; infohashes: string[] }> }).filters;
}

const IH1 = 'a1'.repeat(20);

beforeAll(() => {
  ({ dir, cleanup: cleanupDir } = tempDir('cd-daemon-'));
  configPath = path.join(dir, 'config.yaml');
  writeConfig(`  - name: alpha\n    infohashes: [${IH1}]`);
});

afterAll(() => {
  for (const c of cleanups.splice(0)) c();
  cleanupDir();
});

describe('the daemon process', () => {
  let daemon: Daemon;
  let notify: Listener;
  let added: string;

  it('starts, binds the API, then tells systemd READY=1', async () => {
    notify = await startNotifyListener(path.join(dir, 'notify.sock'), cleanups);
    daemon = await startDaemonProcess({ NOTIFY_SOCKET: notify.address, WATCHDOG_USEC: '2000000' });
    await notify.waitFor((all) => all.some((d) => d.data.startsWith('READY=1')));
    const ready = notify.received.find((d) => d.data.startsWith('READY=1'));
    expect(ready?.pid).toBe(daemon.child.pid);
    expect(ready?.data).toContain(daemon.apiUrl);
    await notify.waitFor((all) => all.some((d) => d.data === 'WATCHDOG=1'));
    const res = await fetch(`${daemon.apiUrl}/capture/filters/?key=${KEY}`);
    expect(res.status).toBe(200);
  });

  it('answers `status` with uptime, version, config, DHT, queues, captures and DB size', async () => {
    const r = await cli(['status', '--json', '--config', configPath]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({
      version: expect.any(String),
      pid: daemon.child.pid,
      configFile: configPath,
      api: daemon.apiUrl,
      dht: { nodes: 0 },
      queues: expect.objectContaining({ outbox: 0 }),
      capturesLastHour: 0,
      database: { path: path.join(dir, 'capture.db'), bytes: expect.any(Number) },
    });
    expect(s.uptimeSeconds).toBeGreaterThanOrEqual(0);
    const human = await cli(['status', '--config', configPath]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/running \(pid \d+\), up /);
    expect(human.stdout).toMatch(/database +.*capture\.db \(/);
  });

  it('answers /healthz and /readyz without a key, and serves Prometheus metrics on its own listener', async () => {
    expect(await (await fetch(`${daemon.apiUrl}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${daemon.apiUrl}/readyz`);
    const report = (await ready.json()) as { ready: boolean; checks: Record<string, { ok: boolean; detail: string }> };
    expect(ready.status).toBe(200);
    expect(report.ready).toBe(true);
    expect(report.checks.database).toEqual({ ok: true, detail: 'writable' });
    expect(report.checks.dht).toEqual({ ok: true, detail: 'disabled' });
    const s = JSON.parse((await cli(['status', '--json', '--config', configPath])).stdout) as { ops: { metrics: { url: string } } };
    expect(s.ops.metrics.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(new URL(s.ops.metrics.url).port).not.toBe(new URL(daemon.apiUrl).port);
    const text = await (await fetch(s.ops.metrics.url)).text();
    expect(text).toMatch(/^capture_daemon_http_request_duration_seconds_count\{route="\/readyz",method="GET",status="200"\} 1$/m);
    expect(text).toMatch(/^capture_daemon_queue_depth\{stage="capture"\} 0$/m);
    expect((await fetch(`${daemon.apiUrl}/metrics`)).status).toBe(404);
  });

  it('keeps an infohash added through the API', async () => {
    const t = torrentFile('persisted');
    added = t.infohash;
    const form = new FormData();
    form.set('key', KEY);
    form.set('torrent', new Blob([t.buf]), 'x.torrent');
    expect((await fetch(`${daemon.apiUrl}/torrents/addTorrent/`, { method: 'POST', body: form })).status).toBe(200);
    const res = await fetch(`${daemon.apiUrl}/capture/filters/addInfohash/`, {
      method: 'POST',
      body: new URLSearchParams({ key: KEY, filter: 'alpha', infohash: added }),
    });
    expect(res.status).toBe(200);
    expect((await filterNames(daemon.apiUrl))[0]?.infohashes).toEqual([IH1, added].sort());
  });

  it('re-reads the config on SIGHUP, keeping API changes', async () => {
    writeConfig(`  - name: alpha\n    infohashes: [${IH1}]\n  - name: beta\n    countryCodes: [DE]`);
    daemon.child.kill('SIGHUP');
    await waitFor(async () => (await filterNames(daemon.apiUrl)).length === 2);
    const filters = await filterNames(daemon.apiUrl);
    expect(filters.map((f) => f.name)).toEqual(['alpha', 'beta']);
    expect(filters[0]?.infohashes).toEqual([IH1, added].sort());
    await notify.waitFor((all) => all.some((d) => d.data.startsWith('RELOADING=1')));
  });

  it('keeps the running config when `reload` finds the file invalid, and says why', async () => {
    writeFileSync(configPath, `dataDir: ${dir}\nfilters:\n  - name: alpha\n    infohashes: [nope]\n`);
    const r = await cli(['reload', '--config', configPath]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/running config is kept/);
    expect(r.stdout).toMatch(/filters\.0\.infohashes\.0/);
    expect((await filterNames(daemon.apiUrl)).map((f) => f.name)).toEqual(['alpha', 'beta']);
  });

  it('stops on SIGTERM with STOPPING=1 and exit code 0; `status` then says it is not running', async () => {
    writeConfig(`  - name: alpha\n    infohashes: [${IH1}]`);
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    expect(notify.received.some((d) => d.data.startsWith('STOPPING=1'))).toBe(true);
    const r = await cli(['status', '--config', configPath]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/not running/);
  });

  it('after a restart, still has the infohash added through the API', async () => {
    daemon = await startDaemonProcess();
    expect((await filterNames(daemon.apiUrl))[0]?.infohashes).toEqual([IH1, added].sort());
    const offline = await cli(['filters', '--json', '--config', configPath]);
    expect(JSON.parse(offline.stdout).filters[0].infohashes).toEqual([IH1, added].sort());
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
  });
});

// Each CLI call is a fresh node + tsx process (1-4 s on a busy 2-core machine), and these tests make several in a row.
describe('the CLI without a daemon', { timeout: 90_000 }, () => {
  it('`config check` exits non-zero listing every problem with its path', async () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'http:\n  listen: { port: -1 }\nfilters:\n  - name: x\n    subnets: [300.1.1.1/8]\n');
    const r = await cli(['config', 'check', '--config', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/http\.listen\.port/);
    expect(r.stderr).toMatch(/filters\.0\.subnets\.0/);
  });

  it('`start` with an invalid config exits non-zero and does not start', async () => {
    const bad = path.join(dir, 'bad2.yaml');
    writeFileSync(bad, 'http: [1, 2]\n');
    const r = await cli(['start', '--config', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid configuration/);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
  });

  it('`config show` tells each value and its source, secrets redacted', async () => {
    const r = await cli(['config', 'show', '--json', '--config', configPath], { CAPTURE_DAEMON_HTTP__PAGE_SIZE: '77' });
    const values = (JSON.parse(r.stdout) as { values: Array<{ path: string; value: unknown; source: string }> }).values;
    const get = (p: string) => values.find((v) => v.path === p);
    expect(get('http.pageSize')).toEqual({ path: 'http.pageSize', value: 77, source: 'env CAPTURE_DAEMON_HTTP__PAGE_SIZE' });
    expect(get('http.listen.port')).toMatchObject({ value: 0, source: 'file' });
    expect(get('capture.concurrency')).toMatchObject({ source: 'default' });
    expect(get('database.path')).toMatchObject({ source: 'derived' });
    expect(r.stdout).not.toContain(KEY);
  });

  it('`torrent add` stores a .torrent and a bare infohash; `db migrate` reports the version', async () => {
    const t = torrentFile('cli');
    const file = path.join(dir, 'cli.torrent');
    writeFileSync(file, t.buf);
    const a = await cli(['torrent', 'add', file, '--json', '--config', configPath]);
    expect(JSON.parse(a.stdout)).toMatchObject({ infohash: t.infohash, state: 'known', pieceCount: 3 });
    const b = await cli(['torrent', 'add', 'AB'.repeat(20), '--config', configPath]);
    expect(b.stdout).toMatch(/pending/);
    const c = await cli(['torrent', 'add', 'not-a-file', '--config', configPath]);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/neither an infohash/);
    const m = await cli(['db', 'migrate', '--json', '--config', configPath]);
    expect(JSON.parse(m.stdout)).toMatchObject({ applied: [], after: MIGRATIONS.length, latest: MIGRATIONS.length });
  });

  it('`outbox` lists parked notifications with their reasons; `outbox unpark` puts them back in line', async () => {
    const db = openDatabase(path.join(dir, 'capture.db'));
    try {
      // Rows as a relay leaves them: parked with a reason (dangling capture ids: no FK check on this connection).
      db.pragma('foreign_keys = OFF');
      const insert = db.prepare('INSERT INTO outbox (capture_id, filter, target, created_at, attempts, parked_reason) VALUES (?, ?, ?, ?, ?, ?)');
      insert.run(900_001, 'alpha', 'amqp', Date.now(), 1, 'refused by RabbitMQ: message too large');
      insert.run(900_002, 'alpha', 'amqp', Date.now(), 1, 'refused by RabbitMQ: message too large');
      insert.run(900_003, 'beta', 'amqp', Date.now(), 1, 'refused by RabbitMQ: message too large');
      insert.run(900_004, 'beta', 'email', Date.now(), 0, null);
    } finally {
      db.close();
    }
    const list = await cli(['outbox', '--json', '--config', configPath]);
    expect(list.code, list.stderr).toBe(0);
    const targets = (JSON.parse(list.stdout) as { targets: Array<{ target: string; pending: number; parked: number; parkedReasons: unknown[] }> }).targets;
    expect(targets.find((t) => t.target === 'amqp')).toMatchObject({
      pending: 0,
      parked: 3,
      parkedReasons: [
        { filter: 'alpha', reason: 'refused by RabbitMQ: message too large', count: 2 },
        { filter: 'beta', reason: 'refused by RabbitMQ: message too large', count: 1 },
      ],
    });
    expect(targets.find((t) => t.target === 'email')).toMatchObject({ pending: 1, parked: 0 });
    const text = await cli(['outbox', '--config', configPath]);
    expect(text.stdout).toMatch(/amqp\s+pending 0, parked 3/);
    expect(text.stdout).toMatch(/outbox unpark/);

    const one = await cli(['outbox', 'unpark', 'amqp', '--filter', 'beta', '--json', '--config', configPath]);
    expect(JSON.parse(one.stdout)).toEqual({ target: 'amqp', filter: 'beta', unparked: 1 });
    const rest = await cli(['outbox', 'unpark', 'amqp', '--config', configPath]);
    expect(rest.stdout).toMatch(/amqp: 2 notification\(s\) put back in line/);
    const bad = await cli(['outbox', 'unpark', 'pigeon', '--config', configPath]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown target "pigeon": expected amqp or email/);

    const check = openDatabase(path.join(dir, 'capture.db'));
    try {
      expect(check.prepare("SELECT count(*) FROM outbox WHERE target = 'amqp' AND parked_reason IS NULL AND attempts = 0").pluck().get()).toBe(3);
      check.prepare('DELETE FROM outbox WHERE capture_id >= 900001').run();
    } finally {
      check.close();
    }
  });

  it('every command has --help', { timeout: 120_000 }, async () => {
    const cmds = [['start'], ['status'], ['reload'], ['config', 'check'], ['config', 'show'], ['filters'], ['torrent', 'add'], ['db', 'migrate'], ['outbox', 'list'], ['outbox', 'unpark']];
    const results = await Promise.all(cmds.map((cmd) => cli([...cmd, '--help'])));
    results.forEach((r, i) => {
      expect(r.code, cmds[i]?.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: capture-daemon /);
    });
  });
});
