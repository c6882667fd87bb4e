import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, parseDocument } from 'yaml';
import type { z } from 'zod';
import { AppError } from '../util/app-error.js';
import { configIssueMessage } from './config-messages.js';
import { configSchema, type Config } from './config-schema.js';
import { parseStoreUrl, type StoreLocation } from '../store/store-url.js';

/** Environment variables that override the file: `CAPTURE_DAEMON_<SEG>__<SEG>…` (UPPER_SNAKE segments, camelCased). */
export const ENV_PREFIX = 'CAPTURE_DAEMON_';
/** The config file to use (`--config` wins): an environment variable of the CLI, not a config value. */
export const ENV_CONFIG_FILE = 'CAPTURE_DAEMON_CONFIG';
/** Variables with the prefix that are not `<SECTION>__<KEY>` overrides. */
const NOT_CONFIG_VALUES: ReadonlySet<string> = new Set([ENV_CONFIG_FILE]);
/** `CAPTURE_DAEMON_APIKEY_<NAME>` sets the secret of the API key named NAME (case-insensitive, "-" written "_"). */
export const ENV_APIKEY_PREFIX = 'CAPTURE_DAEMON_APIKEY_';

export interface ConfigProblem {
  path: string;
  message: string;
}

export class ConfigError extends AppError {
  readonly problems: ConfigProblem[];

  constructor(source: string, problems: ConfigProblem[]) {
    super('CONFIG_INVALID', `${source}: ${problems.length} problem(s):\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
    this.problems = problems;
  }
}

/** A config with every derived path filled in. */
export type ResolvedConfig = Config & {
  dataDir: string;
  database: Config['database'] & { path: string };
  /** Where captures, torrents and filter changes live (SQLite: the same file as database.path). */
  store: Config['store'] & { location: StoreLocation };
  admin: { socket: string };
  pcap: Config['pcap'] & { dir: string };
};

export type ValueSource = 'default' | 'default (bundled)' | 'file' | `env ${string}`;

export interface LoadedConfig {
  config: ResolvedConfig;
  /** Where each leaf value came from, keyed by dotted path (arrays are leaves). */
  sources: Map<string, ValueSource>;
  /** Absolute path of the file, or undefined when running on embedded defaults. */
  file: string | undefined;
}

export interface LoadOptions {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function camel(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Keys where `null` means something (e.g. "no database"); elsewhere an empty value means "default". */
const NULLABLE_KEYS = new Set(['countryDb', 'cityDb', 'asnDb']);

/** `section:` followed only by comments parses as null: treat it as absent, so defaults apply. */
function dropEmptyValues(node: unknown): void {
  if (Array.isArray(node)) node.forEach(dropEmptyValues);
  if (!isObj(node)) return;
  for (const [k, v] of Object.entries(node)) {
    if (v === null && !NULLABLE_KEYS.has(k)) delete node[k];
    else dropEmptyValues(v);
  }
}

function readFile(file: string): Obj {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '(file)', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }]);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: e.linePos ? `line ${e.linePos[0].line}:${e.linePos[0].col}` : '(yaml)', message: e.message.split('\n')[0] ?? e.message })),
    );
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return {};
  if (!isObj(value)) throw new ConfigError(file, [{ path: '(root)', message: 'must be a YAML mapping' }]);
  dropEmptyValues(value);
  return value;
}

/** Applies env overrides onto `raw` in place; returns the source of each overridden path. */
function applyEnv(raw: Obj, env: NodeJS.ProcessEnv, problems: ConfigProblem[]): Map<string, ValueSource> {
  const sources = new Map<string, ValueSource>();
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !name.startsWith(ENV_PREFIX) || NOT_CONFIG_VALUES.has(name)) continue;
    if (name.startsWith(ENV_APIKEY_PREFIX)) {
      const wanted = name.slice(ENV_APIKEY_PREFIX.length).toLowerCase();
      const keys = Array.isArray(raw.apiKeys) ? (raw.apiKeys as unknown[]) : [];
      const idx = keys.findIndex((k) => isObj(k) && typeof k.name === 'string' && k.name.toLowerCase().replace(/-/g, '_') === wanted);
      const entry = keys[idx];
      if (!isObj(entry)) {
        problems.push({ path: `env ${name}`, message: 'no API key with this name in the config file' });
        continue;
      }
      entry.key = value;
      delete entry.keySha256;
      sources.set(`apiKeys.${idx}.key`, `env ${name}`);
      continue;
    }
    const segments = name.slice(ENV_PREFIX.length).split('__').map(camel);
    let node: Obj = raw;
    for (const seg of segments.slice(0, -1)) {
      if (!isObj(node[seg])) node[seg] = {};
      node = node[seg] as Obj;
    }
    const leaf = segments[segments.length - 1] as string;
    let parsed: unknown;
    try {
      parsed = parseYaml(value);
    } catch {
      parsed = value;
    }
    node[leaf] = parsed ?? value;
    sources.set(segments.join('.'), `env ${name}`);
  }
  return sources;
}

function issuePath(issue: z.core.$ZodIssue): string {
  return issue.path.length ? issue.path.map(String).join('.') : '(root)';
}

/** A problem with a value that came from the environment says which variable set it. */
function withEnvSource(issue: z.core.$ZodIssue, envSources: Map<string, ValueSource>): string {
  const at = issue.path.map(String);
  const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...at, k].join('.')) : [at.join('.')];
  const vars = [...envSources.entries()].filter(([p]) => paths.some((q) => q === p || q.startsWith(`${p}.`) || p.startsWith(`${q}.`)));
  return vars.length ? `${issue.message} (set by ${vars.map(([, s]) => s.slice(4)).join(', ')})` : issue.message;
}

/** A list of mappings (apiKeys, filters): its entries' keys are leaves of their own, as `config show` lists them. */
function isObjList(v: unknown): v is unknown[] {
  return Array.isArray(v) && v.some(isObj);
}

function collectLeaves(value: unknown, prefix: string, out: string[]): void {
  if (isObj(value) || isObjList(value)) {
    for (const [k, v] of Object.entries(value)) collectLeaves(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out.push(prefix);
  }
}

function hasPath(raw: Obj, dotted: string): boolean {
  let node: unknown = raw;
  for (const seg of dotted.split('.')) {
    if (!(isObj(node) || Array.isArray(node)) || !Object.hasOwn(node, seg)) return false;
    node = (node as Obj)[seg];
  }
  return true;
}

/** Fills in the paths derived from dataDir (the systemd StateDirectory, else ./data). */
export function resolveConfig(config: Config, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const dataDir = path.resolve(config.dataDir ?? env.STATE_DIRECTORY?.split(':')[0] ?? './data');
  const runtimeDir = env.RUNTIME_DIRECTORY?.split(':')[0];
  const parsed = config.store.url === undefined ? undefined : parseStoreUrl(config.store.url);
  const located: StoreLocation | undefined = typeof parsed === 'object' ? parsed : undefined;
  const sqlitePath = path.resolve(dataDir, located?.kind === 'sqlite' ? located.path : (config.database.path ?? 'capture.db'));
  const location: StoreLocation = located?.kind === 'postgres' ? located : { kind: 'sqlite', path: sqlitePath };
  return {
    ...config,
    dataDir,
    database: { ...config.database, path: sqlitePath },
    store: { ...config.store, location },
    admin: { socket: path.resolve(dataDir, config.admin.socket ?? (runtimeDir ? path.join(runtimeDir, 'admin.sock') : 'admin.sock')) },
    pcap: { ...config.pcap, dir: path.resolve(dataDir, config.pcap.dir ?? 'pcap') },
  };
}

/** Loads defaults < file < env, validates, and reports every problem at once with its path. */
export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const file = options.file ? path.resolve(options.file) : undefined;
  const raw = file ? readFile(file) : {};
  const fileRaw = structuredClone(raw);
  const problems: ConfigProblem[] = [];
  const envSources = applyEnv(raw, env, problems);
  const result = configSchema.safeParse(raw, { error: configIssueMessage });
  if (!result.success) {
    for (const issue of result.error.issues) problems.push({ path: issuePath(issue), message: withEnvSource(issue, envSources) });
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(file ?? '(embedded defaults)', problems);

  const leaves: string[] = [];
  collectLeaves(result.data, '', leaves);
  const sources = new Map<string, ValueSource>();
  for (const leaf of leaves) {
    const fromEnv = [...envSources.entries()].find(([p]) => leaf === p || leaf.startsWith(`${p}.`));
    sources.set(leaf, fromEnv ? fromEnv[1] : hasPath(fileRaw, leaf) ? 'file' : 'default');
  }
  return { config: resolveConfig(result.data, env), sources, file };
}
