import type { Command } from 'commander';
import { FilterRegistry } from '../filter/filter-registry.js';
import { SqliteFilterOverlayRepository } from '../store/filter-overlay-repository.js';
import { SqliteTorrentRepository } from '../store/torrent-repository.js';
import { loadCliConfig, printJson, type GlobalOptions } from './cli-context.js';
import { withDatabase } from './offline-store.js';

export function registerFilters(program: Command): void {
  program
    .command('filters')
    .description('list the Capture Filters with their effective infohashes (config file + changes made through the API)')
    .option('-c, --config <path>', 'config file')
    .option('--reset <name>', 'forget the API changes of one filter: its config-file list becomes authoritative again (then reload)')
    .option('--json', 'print JSON')
    .action((opts: GlobalOptions & { reset?: string }) => {
      const loaded = loadCliConfig(opts);
      withDatabase(loaded, (db) => {
        const overlay = new SqliteFilterOverlayRepository(db);
        if (opts.reset) {
          const n = overlay.reset(opts.reset);
          process.stdout.write(`${opts.reset}: forgot ${n} API change(s); run "capture-daemon reload" to apply\n`);
          return;
        }
        const registry = new FilterRegistry({ overlay, torrents: new SqliteTorrentRepository(db) }, loaded.config.filters);
        const list = registry.list();
        if (opts.json) return printJson({ filters: list });
        if (list.length === 0) process.stdout.write('no filters configured\n');
        for (const f of list) {
          const all = (a: readonly string[], what: string): string => (a.length ? `${a.length} ${what}` : `all ${what}`);
          process.stdout.write(
            `${f.name}${f.enabled ? '' : ' (disabled)'}: ${all(f.infohashes, 'torrents')}, ${all(f.subnets, 'subnets')}, ` +
              `${f.countryCodes.length ? f.countryCodes.join(',') : 'all countries'}` +
              `${f.storeTCPDumpFile ? ', pcap' : ''}${f.description ? `  # ${f.description}` : ''}\n`,
          );
          for (const ih of f.infohashes) process.stdout.write(`    ${ih}\n`);
        }
      });
    });
}
