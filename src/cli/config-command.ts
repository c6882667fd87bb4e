import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load-config.js';
import { bundledCountryDbPath } from '../geoip/geoip-lookup.js';
import { configFile, printJson, type GlobalOptions } from './cli-context.js';

const SECRET = /(^|\.)(key|password|url|token|bearerToken|clientSecret)$/;

function redact(path: string, value: unknown): unknown {
  if (!SECRET.test(path) || typeof value !== 'string') return value;
  if (path.endsWith('url')) return value.replace(/\/\/([^:@/]+):([^@/]+)@/, '//$1:***@');
  return '***';
}

function flatten(value: unknown, prefix: string, out: Array<[string, unknown]>): void {
  const objectList = Array.isArray(value) && value.some((v) => typeof v === 'object' && v !== null);
  if ((typeof value === 'object' && value !== null && !Array.isArray(value)) || objectList) {
    for (const [k, v] of Object.entries(value as object)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.push([prefix, value]);
  }
}

/** The source of a path, or of its nearest ancestor (lists of objects are recorded as one value). */
function sourceOf(sources: Map<string, string>, path: string): string {
  for (let p = path; p; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
    const s = sources.get(p);
    if (s) return s;
  }
  return 'derived';
}

export function registerConfig(program: Command): void {
  const config = program.command('config').description('check or show the configuration');

  config
    .command('check')
    .description('validate the config file; lists every problem with its path')
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print JSON')
    .action((opts: GlobalOptions) => {
      const file = configFile(opts);
      try {
        const loaded = loadConfig({ file });
        if (opts.json) printJson({ ok: true, file: loaded.file ?? null, problems: [] });
        else process.stdout.write(`${loaded.file ?? '(embedded defaults)'}: OK (${loaded.config.filters.length} filters, ${loaded.config.apiKeys.length} API keys)\n`);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        if (opts.json) printJson({ ok: false, file: file ?? null, problems: err.problems });
        else process.stderr.write(`${err.message}\n`);
        process.exitCode = 1;
      }
    });

  config
    .command('show')
    .description('print the effective values and where each came from (default, file, env); secrets redacted')
    .option('-c, --config <path>', 'config file')
    .option('--json', 'print JSON')
    .action((opts: GlobalOptions) => {
      const loaded = loadConfig({ file: configFile(opts) });
      const rows: Array<[string, unknown]> = [];
      // geoip.countryDb unset means the bundled database: show the file actually in use.
      const shown =
        loaded.config.geoip.countryDb === undefined
          ? { ...loaded.config, geoip: { countryDb: bundledCountryDbPath() ?? null, ...loaded.config.geoip } }
          : loaded.config;
      if (loaded.config.geoip.countryDb === undefined) loaded.sources.set('geoip.countryDb', 'default (bundled)');
      flatten(shown, '', rows);
      const entries = rows.map(([path, value]) => ({
        path,
        value: redact(path, value),
        source: sourceOf(loaded.sources, path),
      }));
      if (opts.json) return printJson({ file: loaded.file ?? null, values: entries });
      const width = Math.max(...entries.map((e) => e.path.length));
      process.stdout.write(`# ${loaded.file ?? '(embedded defaults)'}\n`);
      for (const e of entries) {
        process.stdout.write(`${e.path.padEnd(width)}  ${JSON.stringify(e.value) ?? 'unset'}  (${e.source})\n`);
      }
    });
}
