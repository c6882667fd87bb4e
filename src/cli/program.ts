import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/load-config.js';
import { AppError } from '../util/app-error.js';
import { VERSION } from '../util/version.js';
import { CliError } from './cli-context.js';
import { registerBtn } from './btn-command.js';
import { registerConfig } from './config-command.js';
import { registerDb } from './db-command.js';
import { registerFilters } from './filters-command.js';
import { registerOutbox } from './outbox-command.js';
import { registerReload } from './reload-command.js';
import { registerSpam } from './spam-command.js';
import { registerStart } from './start-command.js';
import { registerStatus } from './status-command.js';
import { registerTorrent } from './torrent-command.js';

export function buildProgram(): Command {
  const program = new Command('capture-daemon')
    .description('BitTorrent peer-intelligence daemon: DHT crawl, Capture Filters, wire captures, Capture API')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();
  registerStart(program);
  registerStatus(program);
  registerReload(program);
  registerConfig(program);
  registerFilters(program);
  registerTorrent(program);
  registerDb(program);
  registerOutbox(program);
  registerBtn(program);
  registerSpam(program);
  return program;
}

/** Runs the CLI; errors become one clear message on stderr and a non-zero exit code, never a stack trace. */
export async function runCli(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof CliError) {
      process.stderr.write(`capture-daemon: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`capture-daemon: invalid configuration, ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (err instanceof AppError) {
      process.stderr.write(`capture-daemon: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`capture-daemon: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}
