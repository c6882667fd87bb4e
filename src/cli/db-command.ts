import type { Command } from 'commander';
import Database from 'better-sqlite3';
import { MIGRATIONS, migrate, schemaVersion } from '../store/migrations.js';
import { openDatabase } from '../store/open-database.js';
import { loadCliConfig, printJson, type GlobalOptions } from './cli-context.js';

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
}
