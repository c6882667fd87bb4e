import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** A child process whose stdout JSON lines are kept (and matched by waitLine). */
export interface Proc {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  stderr: string[];
  waitLine(pred: (l: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<Record<string, unknown>>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it exited. */
  stop(graceMs?: number): Promise<void>;
  kill9(): Promise<void>;
}

export function spawnProc(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      lines.push({ raw: line });
    }
    for (const w of waiters) w();
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 200) stderr.shift();
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    lines,
    stderr,
    waitLine(pred, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const hit = lines.find(pred);
          if (hit) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(hit);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}; last lines: ${JSON.stringify(lines.slice(-5))}; stderr: ${stderr.slice(-5).join(' | ')}`));
        }, timeoutMs);
        waiters.add(check);
        check();
        void exited.then(() => {
          if (waiters.has(check)) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`${what}: the process exited (${child.exitCode}); last lines: ${JSON.stringify(lines.slice(-3))}; stderr: ${stderr.slice(-8).join(" | ")}`));
          }
        });
      });
    },
    async stop(graceMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** `capture-daemon start --config FILE --role ROLE` from the sources (tsx), in the host namespace (no DHT, no BitTorrent). */
export function startRole(configFile: string, role: 'ingest' | 'api'): Proc {
  return spawnProc(process.execPath, ['--import', TSX, path.join(ROOT, 'src/cli/run.ts'), 'start', '--config', configFile, '--role', role]);
}

/** The crawler script inside network namespace `ns`. */
export function startCrawlerIn(ns: string, args: Record<string, unknown>): Proc {
  return spawnProc('ip', ['netns', 'exec', ns, process.execPath, '--import', TSX, path.join(ROOT, 'test/integration/cluster/netns-crawler.ts'), JSON.stringify(args)]);
}

export function canUseNetns(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (ip netns)';
  try {
    execFileSync('ip', ['netns', 'list']);
    return undefined;
  } catch {
    return 'ip netns is not available';
  }
}

/**
 * A network namespace with lo up and one veth to the host: host side `hostIp`/30, namespace side
 * `nsIp`/30, no default route (the namespace reaches the host's veth address and nothing else).
 */
export interface Netns {
  name: string;
  hostIp: string;
  nsIp: string;
  remove(): void;
}

export function createNetns(index: number, subnet: number): Netns {
  const tag = randomBytes(3).toString('hex');
  const name = `cdtest-${tag}-${index}`;
  const vh = `cdh${tag}${index}`;
  const vn = `cdn${tag}${index}`;
  const base = `10.${subnet}.${index}`;
  const hostIp = `${base}.1`;
  const nsIp = `${base}.2`;
  const ip = (...a: string[]): void => void execFileSync('ip', a, { stdio: 'pipe' });
  ip('netns', 'add', name);
  try {
    ip('link', 'add', vh, 'type', 'veth', 'peer', 'name', vn);
    ip('link', 'set', vn, 'netns', name);
    ip('addr', 'add', `${hostIp}/30`, 'dev', vh);
    ip('link', 'set', vh, 'up');
    ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
    ip('netns', 'exec', name, 'ip', 'addr', 'add', `${nsIp}/30`, 'dev', vn);
    ip('netns', 'exec', name, 'ip', 'link', 'set', vn, 'up');
  } catch (err) {
    try {
      ip('link', 'del', vh);
    } catch {
      // not created
    }
    ip('netns', 'del', name);
    throw err;
  }
  return {
    name,
    hostIp,
    nsIp,
    remove() {
      try {
        ip('link', 'del', vh);
      } catch {
        // gone with the namespace
      }
      try {
        ip('netns', 'del', name);
      } catch {
        // already gone
      }
    },
  };
}
