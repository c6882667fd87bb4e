import type { Command } from 'commander';
import { SqliteOutboxRepository, type OutboxTarget } from '../store/outbox-repository.js';
import { CliError, loadCliConfig, printJson, type GlobalOptions } from './cli-context.js';
import { withDatabase } from './offline-store.js';

const TARGETS: readonly OutboxTarget[] = ['amqp', 'email'];

function parseTarget(value: string): OutboxTarget {
  if ((TARGETS as readonly string[]).includes(value)) return value as OutboxTarget;
  throw new CliError(`unknown target "${value}": expected ${TARGETS.join(' or ')}`, 2);
}

/**
 * `capture-daemon outbox`: the notifications waiting in the database, and the parked ones (a
 * message the broker refused, a filter without recipients, …) with their reasons; `outbox unpark`
 * puts parked ones back in line once the cause is fixed. Works on the database directly, with or
 * without a running daemon: the relay polls the outbox, and the next email digest takes them.
 */
export function registerOutbox(program: Command): void {
  const outbox = program.command('outbox').description('notifications waiting for delivery; parked ones and how to retry them');
  outbox
    .command('list', { isDefault: true })
    .description('notifications waiting for delivery, and parked ones with their reasons (the default)')
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print JSON')
    .action((opts: GlobalOptions) => {
      const loaded = loadCliConfig(opts);
      const report = withDatabase(loaded, (db) => {
        const repo = new SqliteOutboxRepository(db);
        const counts = repo.countByTarget();
        return TARGETS.map((target) => {
          const c = counts.find((x) => x.target === target);
          return { target, pending: c?.pending ?? 0, parked: c?.parked ?? 0, parkedReasons: repo.parkedReasons(target, 20) };
        });
      });
      if (opts.json) return printJson({ targets: report });
      for (const t of report) {
        process.stdout.write(`${t.target.padEnd(6)} pending ${t.pending}, parked ${t.parked}\n`);
        for (const r of t.parkedReasons) process.stdout.write(`    ${String(r.count).padStart(7)}  ${r.filter}: ${r.reason}\n`);
      }
      if (report.some((t) => t.parked > 0)) {
        process.stdout.write('put parked notifications back in line with: capture-daemon outbox unpark <amqp|email> [--filter NAME]\n');
      }
    });
  outbox
    .command('unpark')
    .description('put parked notifications of a target back in line (after fixing their cause), as if never tried')
    .argument('<target>', `${TARGETS.join(' or ')}`)
    .option('-c, --config <path>', 'config file')
    .option('--filter <name>', "only this Capture Filter's notifications")
    .option('--json', 'print JSON')
    .action((target: string, opts: GlobalOptions & { filter?: string }) => {
      const t = parseTarget(target);
      const loaded = loadCliConfig(opts);
      const n = withDatabase(loaded, (db) => new SqliteOutboxRepository(db).unpark(t, opts.filter));
      if (opts.json) return printJson({ target: t, filter: opts.filter ?? null, unparked: n });
      process.stdout.write(`${t}: ${n} notification(s) put back in line${opts.filter ? ` for filter "${opts.filter}"` : ''}\n`);
    });
}
