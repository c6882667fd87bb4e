import type { Command } from 'commander';
import { adminRequest } from '../daemon/admin-client.js';
import { AppError, errorMessage } from '../util/app-error.js';
import { CliError, findDaemonSocket, printJson, type GlobalOptions } from './cli-context.js';

export function registerReload(program: Command): void {
  program
    .command('reload')
    .description('make the running daemon re-read its config file (same as SIGHUP); an invalid file keeps the running config')
    .option('-c, --config <path>', 'config file (to find the admin socket)')
    .option('--socket <path>', 'admin socket of the daemon')
    .option('--json', 'print JSON')
    .action(async (opts: GlobalOptions) => {
      const { socket } = await findDaemonSocket(opts);
      let r: { ok: boolean; message: string };
      try {
        r = await adminRequest<{ ok: boolean; message: string }>(socket, 'POST', '/reload');
      } catch (err) {
        throw new CliError(errorMessage(err), 3, err instanceof AppError ? err.code : 'ADMIN_ERROR');
      }
      if (opts.json) printJson(r);
      else process.stdout.write(`${r.message}\n`);
      if (!r.ok) process.exitCode = 1;
    });
}
