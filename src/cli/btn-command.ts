import type { Command } from 'commander';
import { BtnApps } from '../btn/btn-apps.js';
import { SqliteBtnAppRepository } from '../store/btn-app-repository.js';
import { registerBtnUser } from './btn-user-command.js';
import { CliError, loadCliConfig, printJson, type GlobalOptions } from './cli-context.js';
import { withDatabase } from './offline-store.js';

/** Runs fn on the BTN app store of the daemon's database (works while the daemon runs: WAL). */
function withApps<T>(opts: GlobalOptions, fn: (repo: SqliteBtnAppRepository, apps: BtnApps) => T): T {
  const loaded = loadCliConfig(opts);
  return withDatabase(loaded, (db) => {
    const repo = new SqliteBtnAppRepository(db);
    return fn(repo, new BtnApps(repo, { autoAccount: false }));
  });
}

const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());

export function registerBtn(program: Command): void {
  const btn = program.command('btn').description('BTN server: user applications of PeerBanHelper clients, query-API users');
  registerBtnUser(btn);
  const app = btn.command('app').description('create, list, ban, unban user applications, or reset their secret');

  app
    .command('create')
    .description('create a user application; prints its AppID and AppSecret (the secret is shown only now)')
    .requiredOption('--name <name>', 'what the application is for (its comment)')
    .option('--owner <user>', 'btn.users name that owns it (may then manage it through the query API)')
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print {"appId", "appSecret"}')
    .action((opts: GlobalOptions & { name: string; owner?: string }) => {
      const { app: a, appSecret } = withApps(opts, (_repo, apps) => apps.create(opts.name, opts.owner ?? null));
      if (opts.json) return printJson({ appId: a.appId, appSecret });
      process.stdout.write(`AppID:     ${a.appId}\nAppSecret: ${appSecret}\n(the secret is stored hashed: copy it now)\n`);
    });

  app
    .command('list')
    .description('list the user applications')
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print JSON')
    .action((opts: GlobalOptions) => {
      const list = withApps(opts, (repo) => repo.list());
      if (opts.json) return printJson({ apps: list });
      if (list.length === 0) process.stdout.write('no user applications\n');
      for (const a of list) {
        process.stdout.write(
          `${a.appId}  ${a.comment || '-'}  owner=${a.owner ?? '-'}  created=${iso(a.createdAt)}  lastSeen=${iso(a.lastSeenAt)}` +
            `${a.bannedAt !== null ? `  BANNED ${iso(a.bannedAt)}${a.bannedReason ? ` (${a.bannedReason})` : ''}` : ''}\n`,
        );
      }
    });

  const need = (ok: boolean, appId: string): void => {
    if (!ok) throw new CliError(`no user application "${appId}"`, 1);
  };

  app
    .command('ban <appId>')
    .description('ban an application: its client gets 403 until unbanned')
    .option('--reason <text>', 'shown to the client', '')
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print JSON')
    .action((appId: string, opts: GlobalOptions & { reason: string }) => {
      need(withApps(opts, (repo) => repo.ban(appId, opts.reason)), appId);
      if (opts.json) return printJson({ appId, banned: true });
      process.stdout.write(`${appId}: banned\n`);
    });

  app
    .command('unban <appId>')
    .description('lift a ban')
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print JSON')
    .action((appId: string, opts: GlobalOptions) => {
      need(withApps(opts, (repo) => repo.unban(appId)), appId);
      if (opts.json) return printJson({ appId, banned: false });
      process.stdout.write(`${appId}: unbanned\n`);
    });

  app
    .command('reset-secret <appId>')
    .description('give an application a new secret (the old one stops working at once)')
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print {"appId", "appSecret"}')
    .action((appId: string, opts: GlobalOptions) => {
      const appSecret = withApps(opts, (_repo, apps) => apps.resetSecret(appId));
      need(appSecret !== undefined, appId);
      if (opts.json) return printJson({ appId, appSecret });
      process.stdout.write(`AppID:     ${appId}\nAppSecret: ${appSecret as string}\n`);
    });
}
