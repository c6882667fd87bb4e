import type { Command } from 'commander';
import { configFile, type GlobalOptions } from './cli-context.js';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the daemon in the foreground (systemd: Type=notify); SIGHUP reloads the config, SIGTERM stops')
    .option('-c, --config <path>', 'config file (default: $CAPTURE_DAEMON_CONFIG, /etc/capture-daemon/config.yaml, else embedded defaults)')
    .action(async (opts: GlobalOptions) => {
      // Loaded on demand: the other commands start fast without the daemon's modules.
      const { startDaemon } = await import('../main.js');
      const daemon = await startDaemon({ configFile: configFile(opts), handleSignals: true });
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
