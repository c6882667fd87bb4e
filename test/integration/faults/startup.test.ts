import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inMountNamespace, mountNamespaceUnavailable } from '../../helpers/mount-namespace.js';
import { tempDir } from '../../helpers/temp-dir.js';

/** Start-up problems say what is wrong, with the path, in one line (no stack trace), before binding anything. */

const ROOT = path.resolve('.');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const CLI = [process.execPath, '--import', TSX, path.join(ROOT, 'src/cli/run.ts')];

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function writeConfig(file: string, dataDir: string, port: number): void {
  writeFileSync(
    file,
    `dataDir: ${dataDir}
log: { level: info }
http:
  listen: { host: 127.0.0.1, port: ${port} }
dht: { enabled: false }
geoip: { countryDb: null }
metrics: { listen: { host: 127.0.0.1, port: 0 } }
`,
  );
}

function run(argv: string[], cwd: string): { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> } {
  const child = spawn(argv[0] as string, argv.slice(1), { cwd });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, out: () => out, err: () => err, exited };
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('start-up: a second instance, a stale lock', () => {
  let dir: string;
  let cleanup: () => void;
  let config: string;
  let port: number;
  beforeAll(async () => {
    ({ dir, cleanup } = tempDir('startup-'));
    config = path.join(dir, 'config.yaml');
    port = await freePort();
    writeConfig(config, path.join(dir, 'data'), port);
  });
  afterAll(() => cleanup());

  it('a second daemon with the same config says another instance runs (pid, lock file), binds nothing, no stack trace', { timeout: 90_000 }, async () => {
    const first = run([...CLI, 'start', '--config', config], dir);
    try {
      await waitFor(() => first.out().includes('"ready"') || first.out().includes('ready'), 60_000);
      const second = run([...CLI, 'start', '--config', config], dir);
      expect(await second.exited).toBe(1);
      expect(second.err()).toMatch(
        new RegExp(`^capture-daemon: another capture-daemon instance runs with data directory ${path.join(dir, 'data')} \\(pid ${first.child.pid}, lock file .*capture-daemon\\.pid\\)`),
      );
      expect(second.err()).not.toMatch(/EADDRINUSE|\n\s+at /);
      expect(second.out()).not.toMatch(/"ready"/);
      // The first one still answers.
      expect((await fetch(`http://127.0.0.1:${port}/capture/filters/`)).status).toBe(401);
    } finally {
      first.child.kill('SIGTERM');
      await first.exited;
    }
    expect(existsSync(path.join(dir, 'data', 'capture-daemon.pid'))).toBe(false);
  });

  it('a lock file left by a killed instance (dead pid) does not stop the start; leftover .pcap.tmp files are removed', { timeout: 90_000 }, async () => {
    const data = path.join(dir, 'data');
    writeFileSync(path.join(data, 'capture-daemon.pid'), '999999\n');
    const day = path.join(data, 'pcap', '2026', '01', '02');
    mkdirSync(day, { recursive: true });
    writeFileSync(path.join(day, 'a-1.2.3.4-6881-20260102T000000000Z.pcap.tmp'), 'half');
    writeFileSync(path.join(day, 'b-1.2.3.4-6881-20260102T000000000Z.pcap'), 'kept');
    const d = run([...CLI, 'start', '--config', config], dir);
    try {
      await waitFor(() => d.out().includes('ready'), 60_000);
      expect(readFileSync(path.join(data, 'capture-daemon.pid'), 'utf8').trim()).toBe(String(d.child.pid));
      await waitFor(() => !existsSync(path.join(day, 'a-1.2.3.4-6881-20260102T000000000Z.pcap.tmp')), 10_000);
      await waitFor(() => /"deleted":1,"dir":"[^"]*","msg":"removed leftover \.pcap\.tmp files"/.test(d.out()), 10_000);
      expect(existsSync(path.join(day, 'b-1.2.3.4-6881-20260102T000000000Z.pcap'))).toBe(true);
    } finally {
      d.child.kill('SIGTERM');
      await d.exited;
    }
  });
});

describe.skipIf(mountNamespaceUnavailable !== undefined)(
  `start-up on a read-only, missing or full data dir${mountNamespaceUnavailable ? ` (skipped: ${mountNamespaceUnavailable})` : ''}`,
  () => {
    let dir: string;
    let cleanup: () => void;
    beforeAll(() => {
      ({ dir, cleanup } = tempDir('startup-ns-'));
    });
    afterAll(() => cleanup());

    it.each([
      ['read-only', (m: string) => [{ dir: m, sizeKb: 1024, ro: true }], (m: string) => m, /data directory (\S+) is on a read-only file system: writing a file failed/],
      ['missing (under a read-only parent)', (m: string) => [{ dir: m, sizeKb: 1024, ro: true }], (m: string) => path.join(m, 'not', 'there'), /data directory (\S+) does not exist and cannot be created \(is its parent missing or read-only\?\)/],
      ['full', (m: string) => [{ dir: m, sizeKb: 256, fill: true }], (m: string) => m, /data directory (\S+) is on a full disk: writing a file failed/],
    ])('%s: one line with the path, exit 1, no stack trace', { timeout: 60_000 }, async (name, mounts, dataDirOf, message) => {
      const mnt = path.join(dir, name.split(' ')[0] as string);
      const dataDir = dataDirOf(mnt);
      const config = path.join(dir, `${name.split(' ')[0]}.yaml`);
      writeConfig(config, dataDir, 0);
      const r = run(inMountNamespace(mounts(mnt), [...CLI, 'start', '--config', config]), dir);
      expect(await r.exited).toBe(1);
      const line = r.err().trim();
      expect(line).toMatch(message);
      expect(message.exec(line)?.[1]).toBe(dataDir);
      expect(line.split('\n')).toHaveLength(1);
      expect(r.out()).not.toMatch(/"ready"/);
    });
  },
);
