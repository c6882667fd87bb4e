import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { configSchema } from '../config/config-schema.js';
import { ENV_CONFIG_FILE, loadConfig, resolveConfig, type LoadedConfig } from '../config/load-config.js';
import { socketIsLive } from '../daemon/admin-server.js';

/** Where the systemd unit keeps its config and admin socket. */
export const SYSTEM_CONFIG = '/etc/capture-daemon/config.yaml';
export const SYSTEM_SOCKET = '/run/capture-daemon/admin.sock';

export interface GlobalOptions {
  config?: string;
  json?: boolean;
  socket?: string;
}

/** The config file to use: --config, else $CAPTURE_DAEMON_CONFIG, else /etc/capture-daemon/config.yaml if present, else embedded defaults. */
export function configFile(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (opts.config) return opts.config;
  if (env[ENV_CONFIG_FILE]) return env[ENV_CONFIG_FILE];
  return existsSync(SYSTEM_CONFIG) ? SYSTEM_CONFIG : undefined;
}

export function loadCliConfig(opts: GlobalOptions): LoadedConfig {
  return loadConfig({ file: configFile(opts) });
}

function socketFromInvalidConfig(file: string | undefined): string | undefined {
  try {
    const raw = (file ? parseYaml(readFileSync(file, 'utf8')) : {}) as { dataDir?: unknown; admin?: { socket?: unknown } } | null;
    const config = configSchema.parse({});
    if (typeof raw?.dataDir === 'string') config.dataDir = raw.dataDir;
    if (typeof raw?.admin?.socket === 'string') config.admin.socket = raw.admin.socket;
    return resolveConfig(config).admin.socket;
  } catch {
    return undefined;
  }
}

/** Finds the running daemon's admin socket: --socket, the config's, or the systemd default. */
export async function findDaemonSocket(opts: GlobalOptions): Promise<{ socket: string; tried: string[] }> {
  const candidates: string[] = [];
  if (opts.socket) candidates.push(opts.socket);
  else {
    try {
      candidates.push(loadCliConfig(opts).config.admin.socket);
    } catch {
      // An invalid config must not stop `status` or `reload` from finding the daemon that runs:
      // derive the socket from the file's dataDir and admin.socket alone.
      const socket = socketFromInvalidConfig(configFile(opts));
      if (socket) candidates.push(socket);
    }
    candidates.push(SYSTEM_SOCKET);
  }
  for (const socket of candidates) {
    if (await socketIsLive(socket)) return { socket, tried: candidates };
  }
  return { socket: candidates[0] as string, tried: candidates };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [d && `${d}d`, h && `${h}h`, m && `${m}m`, `${s}s`].filter(Boolean).join(' ');
}

/** A failure the CLI reports in one clear message and a non-zero exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    /** Stable code for `--json` output. */
    readonly code = 'FAILED',
  ) {
    super(message);
  }
}
