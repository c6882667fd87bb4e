import type { Command } from 'commander';
import { hashPassword, randomPassword } from '../btn/passwords.js';
import { SqliteBtnUserRepository } from '../store/btn-user-repository.js';
import { CliError, loadCliConfig, printJson, type GlobalOptions } from './cli-context.js';
import { withDatabase } from './offline-store.js';

const NAME = /^[\w.@-]{1,64}$/;

/** The password from stdin (first line), or a random one that is printed once. */
async function readPassword(fromStdin: boolean | undefined): Promise<{ password: string; generated: boolean }> {
  if (!fromStdin) return { password: randomPassword(), generated: true };
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  if (password.length < 8) throw new CliError('the password must be at least 8 characters (first line of stdin)', 2);
  return { password, generated: false };
}

const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());

/**
 * `capture-daemon btn user add|list|remove|passwd`: query-API users kept in the database (WAL: works
 * with the daemon stopped or running, which reads them on every request). Users of `btn.users` in
 * the config are listed too but are changed in the config.
 */
export function registerBtnUser(btn: Command): void {
  const user = btn.command('user').description('query-API users: add, list, remove, set a password');

  user
    .command('add <name>')
    .description('add a user who logs in with a password (POST /api/user/login); prints a generated password unless --password-stdin')
    .option('--role <role>', 'admin or user', 'user')
    .option('--max-apps <n>', 'user applications the user may own', '10')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: GlobalOptions & { role: string; maxApps: string; passwordStdin?: boolean }) => {
      if (!NAME.test(name)) throw new CliError('a user name is 1-64 letters, digits, "_", ".", "@" or "-"', 2);
      if (opts.role !== 'admin' && opts.role !== 'user') throw new CliError('--role is admin or user', 2);
      const maxApps = Number(opts.maxApps);
      if (!Number.isInteger(maxApps) || maxApps < 0) throw new CliError('--max-apps is a whole number, 0 or more', 2);
      const loaded = loadCliConfig(opts);
      if (loaded.config.btn.users.some((u) => u.name === name)) throw new CliError(`"${name}" is a user of btn.users in the config`, 1);
      const { password, generated } = await readPassword(opts.passwordStdin);
      const hash = await hashPassword(password);
      const added = withDatabase(loaded, (db) => new SqliteBtnUserRepository(db).add({ name, role: opts.role as 'admin' | 'user', maxApps, password: hash }));
      if (!added) throw new CliError(`a user "${name}" already exists`, 1);
      if (opts.json) return printJson({ name, role: opts.role, maxApps, ...(generated ? { password } : {}) });
      process.stdout.write(`user ${name} added (${opts.role})\n${generated ? `password: ${password}\n(stored hashed: copy it now)\n` : ''}`);
    });

  user
    .command('list')
    .description('list the users (database and config)')
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print JSON')
    .action((opts: GlobalOptions) => {
      const loaded = loadCliConfig(opts);
      const stored = withDatabase(loaded, (db) => new SqliteBtnUserRepository(db).list());
      type Row = { name: string; role: string; maxApps: number; source: string; login: string; createdAt?: number; lastSeenAt?: number | null };
      const users: Row[] = [
        ...loaded.config.btn.users.map((u) => ({ name: u.name, role: u.role, maxApps: u.maxApps, source: 'config', login: 'token' })),
        ...stored.map((u) => ({
          name: u.name,
          role: u.role,
          maxApps: u.maxApps,
          source: 'database',
          login: u.provider !== null ? `oauth2:${u.provider}` : 'password',
          createdAt: u.createdAt,
          lastSeenAt: u.lastSeenAt,
        })),
      ];
      if (opts.json) return printJson({ users });
      if (users.length === 0) process.stdout.write('no users\n');
      for (const u of users) {
        const times = u.createdAt !== undefined ? `  created=${iso(u.createdAt)}  lastSeen=${iso(u.lastSeenAt ?? null)}` : '';
        process.stdout.write(`${u.name}  ${u.role}  maxApps=${u.maxApps}  ${u.source}  ${u.login}${times}\n`);
      }
    });

  user
    .command('remove <name>')
    .description('remove a database user and end its sessions (its applications stay, without an owner who can manage them)')
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print JSON')
    .action((name: string, opts: GlobalOptions) => {
      const removed = withDatabase(loadCliConfig(opts), (db) => new SqliteBtnUserRepository(db).remove(name));
      if (!removed) throw new CliError(`no database user "${name}" (users of btn.users are removed from the config)`, 1);
      if (opts.json) return printJson({ name, removed: true });
      process.stdout.write(`user ${name} removed\n`);
    });

  user
    .command('passwd <name>')
    .description('set a new password (ends the user\'s sessions); prints a generated one unless --password-stdin')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: GlobalOptions & { passwordStdin?: boolean }) => {
      const loaded = loadCliConfig(opts);
      const { password, generated } = await readPassword(opts.passwordStdin);
      const hash = await hashPassword(password);
      const changed = withDatabase(loaded, (db) => new SqliteBtnUserRepository(db).setPassword(name, hash));
      if (!changed) throw new CliError(`no database user "${name}"`, 1);
      if (opts.json) return printJson({ name, ...(generated ? { password } : {}) });
      process.stdout.write(`password of ${name} changed${generated ? `: ${password}\n(stored hashed: copy it now)` : ''}\n`);
    });
}
