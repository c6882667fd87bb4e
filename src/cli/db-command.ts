import type { Command } from 'commander';
import Database from 'better-sqlite3';
import path from 'node:path';
import { socketIsLive } from '../daemon/admin-server.js';
import { backupDatabase, restoreDatabase } from '../store/backup.js';
import { MIGRATIONS, migrate, schemaVersion } from '../store/migrations.js';
import { openDatabase } from '../store/open-database.js';
import { CliError, formatBytes, loadCliConfig, printJson, type GlobalOptions } from './cli-context.js';
import { ProgressBar } from './progress-bar.js';

export function registerDb(program: Command): void {
  const db = program.command('db').description('database maintenance');
  db.command('migrate')
    .description('apply pending schema migrations (the daemon also does this at start)')
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print JSON')
    .action((opts: GlobalOptions) => {
      const loaded = loadCliConfig(opts);
      const file = loaded.config.database.path;
      const handle = openDatabase(file, { migrate: false, busyTimeoutMs: Math.max(loaded.config.database.busyTimeoutMs, 5000) });
      try {
        const before = schemaVersion(handle);
        const applied = migrate(handle);
        const result = { database: file, before, after: schemaVersion(handle), latest: MIGRATIONS.length, applied };
        if (opts.json) return printJson(result);
        process.stdout.write(
          applied.length
            ? `${file}: migrated from version ${before} to ${result.after}\n`
            : `${file}: already at version ${before} (latest)\n`,
        );
      } finally {
        (handle as Database.Database).close();
      }
    });

  db.command('backup')
    .description('copy the database to FILE while the daemon runs (SQLite online backup), then check the copy')
    .argument('<file>', 'where to write the backup (must not exist)')
    .option('-c, --config <path>', 'config file')
    .option('--force', 'overwrite FILE if it exists')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: GlobalOptions & { force?: boolean }) => {
      const loaded = loadCliConfig(opts);
      const bar = new ProgressBar('backup');
      const result = await backupDatabase(loaded.config.database.path, path.resolve(file), {
        busyTimeoutMs: loaded.config.database.busyTimeoutMs,
        overwrite: opts.force === true,
        onProgress: (p) => bar.update(p.totalPages - p.remainingPages, p.totalPages, `${p.totalPages - p.remainingPages}/${p.totalPages} pages`),
      });
      bar.done();
      if (opts.json) return printJson(result);
      process.stdout.write(
        `${result.file}: ${formatBytes(result.bytes)}, schema version ${result.schemaVersion}, integrity ok (${result.durationMs} ms)\n`,
      );
    });
  db.command('restore')
    .description('replace the database with a backup (stop the daemon first); the backup is checked before')
    .argument('<file>', 'a backup written by `db backup`')
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: GlobalOptions) => {
      const loaded = loadCliConfig(opts);
      if (await socketIsLive(loaded.config.admin.socket)) {
        throw new CliError(`a daemon is running (${loaded.config.admin.socket}): stop it before restoring`);
      }
      const target = loaded.config.database.path;
      const result = restoreDatabase(path.resolve(file), target);
      if (opts.json) return printJson({ database: target, from: path.resolve(file), ...result });
      process.stdout.write(`${target}: restored from ${path.resolve(file)} (${formatBytes(result.bytes)}, schema version ${result.schemaVersion})\n`);
    });
}
