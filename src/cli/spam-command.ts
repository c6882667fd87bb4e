import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { parseInfoHash } from '../model/infohash.js';
import { nameKey, type SpamEntry } from '../spam/ports.js';
import { LIMITS } from '../spam/spam-service.js';
import { escapeTextName, textLine } from '../spam/spam-format.js';
import { SqliteSpamRepository } from '../store/spam-repository.js';
import { CliError, loadCliConfig, printJson, type GlobalOptions } from './cli-context.js';
import { withDatabase } from './offline-store.js';

function iso(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString();
}

function requireHash(value: string): string {
  const ih = parseInfoHash(value);
  if (!ih) throw new CliError(`"${value}" is not an infohash (40 hexadecimal characters)`, 2);
  return ih;
}

function positiveInt(value: string): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) === 0) throw new CliError(`"${value}" is not a positive integer`, 2);
  return Number(value);
}

function describe(e: SpamEntry): string {
  const reasons = e.reasons.map((r) => `\n    reason ${r.code} (${iso(r.at)}): ${r.detail}`).join('');
  return `${e.infohash}  count ${e.count}  first ${iso(e.firstReported)}  last ${iso(e.lastReported)}  ${escapeTextName(e.name)}${reasons}`;
}

/**
 * `capture-daemon spam`: the operator's view of the spam list, on the database directly (with or
 * without a running daemon). A removal keeps the torrent and its reports in the audit trail.
 */
export function registerSpam(program: Command): void {
  const spam = program.command('spam').description('the spam list: list, show, report and remove torrents');
  spam
    .command('list', { isDefault: true })
    .description('torrents on the list (above spam.listThreshold, or --all), in the order the API pages them')
    .option('-c, --config <path>', 'config file')
    .option('--all', 'every reported torrent, not only those above the threshold')
    .option('--after <id>', 'continue after this list id (printed with --json)', positiveInt)
    .option('--limit <n>', 'at most this many', positiveInt, 100)
    .option('--json', 'print JSON')
    .action((opts: GlobalOptions & { all?: boolean; after?: number; limit: number }) => {
      const loaded = loadCliConfig(opts);
      const page = withDatabase(loaded, (db) =>
        new SqliteSpamRepository(db).list(
          opts.all ? { kind: 'all', after: opts.after, limit: opts.limit } : { kind: 'above', threshold: loaded.config.spam.listThreshold, after: opts.after, limit: opts.limit },
        ),
      );
      if (opts.json) return printJson(page);
      if (page.entries.length === 0) process.stdout.write('no torrents listed\n');
      for (const e of page.entries) process.stdout.write(`${describe(e)}\n`);
      const last = page.entries[page.entries.length - 1];
      if (page.hasMore && last) process.stdout.write(`more: capture-daemon spam list${opts.all ? ' --all' : ''} --after ${last.id}\n`);
    });

  spam
    .command('show')
    .description('one torrent (by infohash, or by name, case-insensitive): count, reasons, every report, and its removals')
    .argument('<hash-or-name>')
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print JSON')
    .action((target: string, opts: GlobalOptions) => {
      const loaded = loadCliConfig(opts);
      const found = withDatabase(loaded, (db) => {
        const repo = new SqliteSpamRepository(db);
        const ih = parseInfoHash(target);
        const entries = ih ? [repo.byHash(ih)].filter((e): e is SpamEntry => e !== undefined) : repo.byName(nameKey(target), loaded.config.spam.maxNameMatches);
        const hashes = ih ? [ih as string] : entries.map((e) => e.infohash);
        return hashes.map((h) => ({ infohash: h, entry: entries.find((e) => e.infohash === h), reports: repo.reportsOf(h), removals: repo.removals(h) }));
      });
      if (opts.json) return printJson(found);
      if (found.length === 0 || found.every((f) => !f.entry && f.removals.length === 0)) throw new CliError(`"${target}" is not on the spam list`, 1);
      for (const f of found) {
        process.stdout.write(f.entry ? `${describe(f.entry)}\n` : `${f.infohash}  not listed now\n`);
        for (const r of f.reports) {
          process.stdout.write(`  report ${iso(r.reportedAt)}  ${r.reporter}  weight ${r.weight}${r.reason ? `  ${r.reason}: ${r.detail}` : ''}\n`);
        }
        for (const m of f.removals) {
          process.stdout.write(`  removed ${iso(m.removedAt)} by ${m.removedBy} (count ${m.count}, ${m.reports.length} reports): ${m.reason}\n`);
        }
      }
    });

  spam
    .command('report')
    .description('report a torrent as the operator (site "cli"; counts once per --creator)')
    .argument('<infohash>')
    .option('-c, --config <path>', 'config file')
    .option('--name <name>', 'the torrent\'s name', '')
    .option('--category <category>', 'its category', '')
    .option('--creator <creator>', 'who reports', userInfo().username)
    .option('--json', 'print JSON')
    .action((hash: string, opts: GlobalOptions & { name: string; category: string; creator: string }) => {
      const loaded = loadCliConfig(opts);
      const infohash = requireHash(hash);
      if ([...opts.name].length > LIMITS.name) throw new CliError(`--name is longer than ${LIMITS.name} characters`, 2);
      const result = withDatabase(loaded, (db) =>
        new SqliteSpamRepository(db).report({
          infohash,
          name: opts.name,
          category: opts.category.slice(0, LIMITS.category),
          reporter: `cli|creator:${nameKey(opts.creator)}`,
          site: 'cli',
          creator: opts.creator,
          weight: 1,
          at: Math.floor(Date.now() / 1000),
        }),
      );
      if (opts.json) return printJson(result);
      process.stdout.write(`${result.counted ? 'counted' : 'already counted'}: ${textLine(result.entry)}`);
    });

  spam
    .command('remove')
    .description('take a torrent off the list; it, its count and its reports stay in the audit trail (spam show)')
    .argument('<infohash>')
    .requiredOption('--reason <words>', 'why (kept in the audit trail)')
    .option('--by <name>', 'who removes it', userInfo().username)
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print JSON')
    .action((hash: string, opts: GlobalOptions & { reason: string; by: string }) => {
      const loaded = loadCliConfig(opts);
      const infohash = requireHash(hash);
      const removal = withDatabase(loaded, (db) => new SqliteSpamRepository(db).remove(infohash, opts.by, opts.reason, Math.floor(Date.now() / 1000)));
      if (!removal) throw new CliError(`${infohash} is not on the spam list`, 1);
      if (opts.json) return printJson(removal);
      process.stdout.write(`removed ${infohash} (count ${removal.count}, ${removal.reports.length} reports kept in the audit trail)\n`);
    });
}
