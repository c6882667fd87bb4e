import type { Command } from 'commander';
import { AppError } from '../util/app-error.js';
import { storageFault } from '../util/storage-fault.js';
import { CliError, configFile, type GlobalOptions } from './cli-context.js';

const ERRNO_WORDS: Record<string, string> = {
  EADDRINUSE: 'address already in use (another capture-daemon instance or another program listens there)',
  EADDRNOTAVAIL: 'no such local address on this host',
  EACCES: 'permission denied',
};

/** A start-up failure as one line: what failed, on what, and why in words (no stack trace). */
export function startupMessage(err: unknown): string {
  if (err instanceof AppError) return err.message;
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  const where = e.address !== undefined ? ` ${e.address}${e.port !== undefined ? `:${e.port}` : ''}` : e.path !== undefined ? ` ${e.path}` : '';
  const words = (e.code !== undefined ? ERRNO_WORDS[e.code] : undefined) ?? storageFault(err)?.reason ?? e.message;
  return `cannot start: ${e.syscall ?? 'start-up'}${where}: ${words}`;
}

const ROLES = ['all', 'crawler', 'ingest', 'api'] as const;

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the daemon in the foreground (systemd: Type=notify); SIGHUP reloads the config, SIGTERM stops')
    .option('-c, --config <path>', 'config file (default: $CAPTURE_DAEMON_CONFIG, /etc/capture-daemon/config.yaml, else embedded defaults)')
    .option('--role <role>', `what this process does: ${ROLES.join(' | ')} (default: the config's role, else all)`)
    .action(async (opts: GlobalOptions & { role?: string }) => {
      if (opts.role !== undefined && !(ROLES as readonly string[]).includes(opts.role)) {
        throw new CliError(`--role must be one of ${ROLES.join(', ')} (got "${opts.role}")`);
      }
      const role = opts.role as (typeof ROLES)[number] | undefined;
      // Loaded on demand: the other commands start fast without the daemon's modules.
      const { startDaemon } = await import('../main.js');
      let daemon;
      try {
        daemon = await startDaemon({ configFile: configFile(opts), handleSignals: true, role });
      } catch (err) {
        // AppError and ConfigError print as one line already; system errors (listen, bind, open) get words.
        if (!(err instanceof AppError) && ((err as NodeJS.ErrnoException).syscall !== undefined || storageFault(err))) throw new CliError(startupMessage(err));
        throw err;
      }
      await daemon.stopped;
      // Everything is closed and flushed: the process should end now. If a handle still holds the
      // event loop after 2 s, name it (a leak to fix) and exit anyway; the timer itself holds nothing.
      setTimeout(() => {
        const left = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
        process.stderr.write(`${JSON.stringify({ level: 'warn', msg: 'still running 2 s after stop: exiting', resources: left })}\n`);
        process.exit(0);
      }, 2_000).unref();
    });
}
