import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/load-config.js';
import { AppError, errorMessage } from '../util/app-error.js';
import { VERSION } from '../util/version.js';
import { CliError, printJson } from './cli-context.js';
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

interface Failure {
  exitCode: number;
  /** Stable code for scripts (`--json`). */
  code: string;
  /** The line on stderr. */
  text: string;
  message: string;
  problems?: unknown;
}

function failure(err: unknown): Failure {
  if (err instanceof CliError) return { exitCode: err.exitCode, code: err.code, text: err.message, message: err.message };
  if (err instanceof ConfigError) {
    return { exitCode: 2, code: err.code, text: `invalid configuration, ${err.message}`, message: err.message, problems: err.problems };
  }
  if (err instanceof AppError) return { exitCode: 1, code: err.code, text: err.message, message: err.message };
  return { exitCode: 1, code: 'UNEXPECTED', text: `unexpected error: ${(err as Error).stack ?? String(err)}`, message: errorMessage(err) };
}

/**
 * Runs the CLI; errors become one clear message on stderr and a non-zero exit code, never a stack
 * trace. With `--json`, every failure also prints `{"ok": false, "error": CODE, "message": …}` on
 * stdout, so a script always gets JSON (e.g. `status --json` with no daemon: NOT_RUNNING, exit 3).
 */
export async function runCli(argv: string[] = process.argv): Promise<void> {
  const json = argv.slice(2).includes('--json');
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Usage errors and --help/--version: commander has printed them.
      process.exitCode = err.exitCode;
      if (json && err.exitCode !== 0) printJson({ ok: false, error: 'USAGE', message: err.message.replace(/^error: /, '') });
      return;
    }
    const f = failure(err);
    process.stderr.write(`capture-daemon: ${f.text}\n`);
    process.exitCode = f.exitCode;
    if (json) printJson({ ok: false, error: f.code, message: f.message, ...(f.problems ? { problems: f.problems } : {}) });
  }
}
