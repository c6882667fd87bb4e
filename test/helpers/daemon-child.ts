import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { adminRequest } from '../../src/daemon/admin-client.js';

/**
 * The daemon as an operator runs it, for the fault tests and the soak: `capture-daemon start --config
 * FILE` as a child process (node + tsx on the sources), its JSON log lines kept, ready when it logs
 * `ready`. `wrap` runs it under another command (a mount namespace: the wrapper must exec node, so
 * the child's pid is the daemon's).
 */
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
export const DAEMON_ARGV = [process.execPath, '--import', TSX, path.join(ROOT, 'src/cli/run.ts')];

export interface LogLine {
  level: number | string;
  msg: string;
  [k: string]: unknown;
}

export interface DaemonChild {
  child: ChildProcess;
  pid: number;
  apiUrl: string;
  /** Every stdout line parsed as JSON (non-JSON lines as `{ msg: line }`), and stderr text. */
  lines: LogLine[];
  stderr: string[];
  exited: Promise<number | null>;
  /** `GET /status` on the admin socket. */
  status<T = Record<string, unknown>>(): Promise<T>;
  /** SIGKILL, resolved once the process is gone. */
  kill9(): Promise<void>;
}

export interface StartDaemonOptions {
  configPath: string;
  /** Admin socket (as written in the config). */
  adminSocket: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  wrap?: (argv: string[]) => string[];
  readyTimeoutMs?: number;
}

export function startDaemonChild(o: StartDaemonOptions): Promise<DaemonChild> {
  const base = [...DAEMON_ARGV, 'start', '--config', o.configPath];
  const argv = o.wrap ? o.wrap(base) : base;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: LogLine[] = [];
    const stderr: string[] = [];
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`daemon not ready within ${o.readyTimeoutMs ?? 60_000} ms:\n${tail()}`));
    }, o.readyTimeoutMs ?? 60_000);
    const tail = (): string => [...lines.slice(-30).map((l) => JSON.stringify(l)), ...stderr.slice(-10)].join('\n');
    child.stderr.on('data', (c: Buffer) => stderr.push(c.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry: LogLine;
      try {
        entry = JSON.parse(line) as LogLine;
      } catch {
        entry = { level: 'text', msg: line };
      }
      lines.push(entry);
      if (entry.msg === 'ready' && typeof entry.api === 'string') {
        clearTimeout(timer);
        const d: DaemonChild = {
          child,
          pid: child.pid as number,
          apiUrl: entry.api,
          lines,
          stderr,
          exited,
          status: <T>() => adminRequest<T>(o.adminSocket, 'GET', '/status', 20_000),
          kill9: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
            await exited;
          },
        };
        resolve(d);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before it was ready:\n${tail()}`));
    });
  });
}

/** Polls `cond` every `stepMs` until true; throws with `what` after `timeoutMs`. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string, stepMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
