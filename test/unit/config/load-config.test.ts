import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/config-schema.js';
import { ConfigError, loadConfig } from '../../../src/config/load-config.js';

const EXAMPLE = path.resolve('config/capture-daemon.example.yaml');

function tmpFile(text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'cd-config-'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, text);
  return file;
}

function leafPaths(value: unknown, prefix = ''): string[] {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
  }
  return [prefix];
}

function problems(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('the example config', () => {
  it('loads without problems and is what the embedded defaults are, except its documented examples', () => {
    const { config } = loadConfig({ file: EXAMPLE, env: {} });
    const defaults = configSchema.parse({});
    expect(config.filters.map((f) => f.name)).toEqual(['example']);
    expect(config.apiKeys.map((k) => k.name)).toEqual(['example']);
    expect(config.dht.bootstrap.length).toBeGreaterThan(0);
    // Every value the example writes out equals the schema default (the example documents defaults).
    const { filters: _f, apiKeys: _k, dht, ...rest } = config;
    const { filters: _df, apiKeys: _dk, dht: ddht, ...drest } = defaults;
    expect({ ...dht, bootstrap: [], ipv6: { ...dht.ipv6, bootstrap: [] } }).toEqual(ddht);
    for (const key of Object.keys(drest) as Array<keyof typeof drest>) {
      if (key === 'dataDir') continue;
      expect(rest[key as keyof typeof rest], key).toMatchObject(drest[key] as object);
    }
  });

  it('mentions every key of the schema', () => {
    const text = readFileSync(EXAMPLE, 'utf8');
    const full = configSchema.parse({
      apiKeys: [{ name: 'k', key: 'x'.repeat(16) }],
      filters: [{ name: 'f' }],
    });
    const keys = new Set(leafPaths(full).flatMap((p) => p.split('.')).filter((k) => !/^\d+$/.test(k)));
    for (const k of ['dataDir', 'path', 'socket', 'dir', 'countryDb', 'keySha256', 'user', 'password', 'bearerToken']) keys.add(k);
    for (const key of keys) expect(text, `example config should document "${key}"`).toMatch(new RegExp(`\\b${key}:`));
  });
});

describe('loadConfig', () => {
  it('runs on embedded defaults without a file', () => {
    const { config, file, sources } = loadConfig({ env: {} });
    expect(file).toBeUndefined();
    expect(config.http.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(config.dht.bootstrap).toEqual([]);
    expect(config.dataDir).toBe(path.resolve('data'));
    expect(config.database.path).toBe(path.resolve('data/capture.db'));
    expect(sources.get('http.listen.port')).toBe('default');
  });

  it('derives paths from $STATE_DIRECTORY and $RUNTIME_DIRECTORY (systemd)', () => {
    const { config } = loadConfig({ env: { STATE_DIRECTORY: '/var/lib/cd', RUNTIME_DIRECTORY: '/run/cd' } });
    expect(config.database.path).toBe('/var/lib/cd/capture.db');
    expect(config.pcap.dir).toBe('/var/lib/cd/pcap');
    expect(config.admin.socket).toBe('/run/cd/admin.sock');
  });

  it('reports every problem at once, each with its path', () => {
    const file = tmpFile(`
http:
  listen: { port: 70000 }
  bogus: 1
filters:
  - name: a
    infohashes: [abc]
    subnets: [10.0.0.0/33, nonsense]
    countryCodes: [DEU]
  - name: a
apiKeys:
  - name: k
    filters: [missing]
`);
    const p = problems(() => loadConfig({ file, env: {} }));
    const paths = p.map((x) => x.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'http.listen.port',
        'http',
        'filters.0.infohashes.0',
        'filters.0.subnets.0',
        'filters.0.subnets.1',
        'filters.0.countryCodes.0',
        'filters.1.name',
        'apiKeys.0',
        'apiKeys.0.filters.0',
      ]),
    );
    expect(p.find((x) => x.path === 'http')?.message).toMatch(/bogus/);
  });

  it('store.url: unset is the SQLite file at database.path; a path or sqlite:PATH is SQLite; postgres:// is PostgreSQL', () => {
    const at = (yaml: string): ReturnType<typeof loadConfig>['config'] => loadConfig({ file: tmpFile(yaml), env: {} }).config;
    const dflt = loadConfig({ env: { STATE_DIRECTORY: '/var/lib/cd' } }).config;
    expect(dflt.store.location).toEqual({ kind: 'sqlite', path: '/var/lib/cd/capture.db' });
    expect(at('dataDir: /srv/cd\nstore: { url: other.db }').store.location).toEqual({ kind: 'sqlite', path: '/srv/cd/other.db' });
    const viaScheme = at('dataDir: /srv/cd\nstore: { url: "sqlite:/data/x.db" }');
    expect(viaScheme.store.location).toEqual({ kind: 'sqlite', path: '/data/x.db' });
    // Everything that uses the SQLite file (backup, status, retention) uses the same one.
    expect(viaScheme.database.path).toBe('/data/x.db');
    const pg = at('role: api\ndataDir: /srv/cd\nstore: { url: "postgres://capture@db.example.net:5432/capture", schema: capture, poolSize: 20 }');
    expect(pg.store).toMatchObject({ location: { kind: 'postgres', url: 'postgres://capture@db.example.net:5432/capture' }, schema: 'capture', poolSize: 20 });
    expect(pg.database.path).toBe('/srv/cd/capture.db');
    const env = loadConfig({ env: { CAPTURE_DAEMON_ROLE: 'ingest', CAPTURE_DAEMON_STORE__URL: 'postgresql://u@127.0.0.1/test' } }).config;
    expect(env.store.location).toEqual({ kind: 'postgres', url: 'postgresql://u@127.0.0.1/test' });
  });

  it('store.url: an unknown scheme, a URL without database, a bad schema or two SQLite files are refused', () => {
    const p = (yaml: string): Array<{ path: string; message: string }> => problems(() => loadConfig({ file: tmpFile(yaml), env: {} }));
    expect(p('store: { url: "mysql://h/db" }')).toEqual([{ path: 'store.url', message: expect.stringMatching(/unknown scheme "mysql:"/) as unknown }]);
    expect(p('store: { url: "postgres://h" }')).toEqual([{ path: 'store.url', message: expect.stringMatching(/database name/) as unknown }]);
    expect(p('store: { url: "sqlite:" }')).toEqual([{ path: 'store.url', message: expect.stringMatching(/needs a file/) as unknown }]);
    expect(p('role: api\nstore: { url: "postgres://h/db", schema: "Bad-Name" }').map((x) => x.path)).toEqual(['store.schema']);
    expect(p('database: { path: a.db }\nstore: { url: b.db }')).toEqual([{ path: 'store.url', message: expect.stringMatching(/set only one/) as unknown }]);
    // A postgres URL beside database.path is fine (a center role: the file is not used).
    expect(loadConfig({ file: tmpFile('role: ingest\ndatabase: { path: a.db }\nstore: { url: "postgres://h/db" }'), env: {} }).config.store.location.kind).toBe('postgres');
  });

  it('store.url postgres://: only the ingest and api roles; no BTN server, no notifications from ingest (one clear problem each)', () => {
    const p = (yaml: string): Array<{ path: string; message: string }> => problems(() => loadConfig({ file: tmpFile(yaml), env: {} }));
    const url = 'store: { url: "postgres://h/db" }';
    expect(p(url)).toEqual([{ path: 'store.url', message: expect.stringMatching(/role all .*SQLite file: PostgreSQL is for the ingest and api roles/) as unknown }]);
    expect(p(`role: crawler\n${url}`)).toEqual([{ path: 'store.url', message: expect.stringMatching(/crawler keeps .* own SQLite file .*remove store.url/) as unknown }]);
    expect(p(`role: api\n${url}\nbtn: { enabled: true, publicUrl: "https://x.example" }`)).toEqual([{ path: 'btn.enabled', message: expect.stringMatching(/SQLite/) as unknown }]);
    expect(p(`role: ingest\n${url}\nnotify: { amqp: { enabled: true } }`)).toEqual([{ path: 'notify', message: expect.stringMatching(/no notifications/) as unknown }]);
    // The role from the command line (start --role) counts as the file's.
    expect(() => loadConfig({ file: tmpFile(url), env: { CAPTURE_DAEMON_ROLE: 'api' } })).not.toThrow();
    expect(loadConfig({ file: tmpFile(`role: api\n${url}`), env: {} }).config.retention.maxAgeDays.ingestedUids).toBe(30);
  });

  it('reports YAML syntax errors with their line', () => {
    const file = tmpFile('http:\n  listen: [unclosed\n');
    const p = problems(() => loadConfig({ file, env: {} }));
    expect(p[0]?.path).toMatch(/^line \d+/);
  });

  it('reports a missing file clearly', () => {
    const p = problems(() => loadConfig({ file: '/nonexistent/config.yaml', env: {} }));
    expect(p).toEqual([{ path: '(file)', message: 'cannot read: ENOENT' }]);
  });

  it('treats an empty section as defaults', () => {
    const file = tmpFile('admin:\nhttp:\n  listen:\n');
    expect(loadConfig({ file, env: {} }).config.http.listen.port).toBe(8080);
  });

  it('applies env overrides over the file, and tells where each value came from', () => {
    const file = tmpFile(`
http:
  pageSize: 50
notify:
  amqp:
    url: amqp://file
apiKeys:
  - name: partner-one
filters:
  - name: f
`);
    const { config, sources } = loadConfig({
      file,
      env: {
        CAPTURE_DAEMON_NOTIFY__AMQP__URL: 'amqps://user:secret@broker',
        CAPTURE_DAEMON_HTTP__LISTEN__PORT: '9090',
        CAPTURE_DAEMON_APIKEY_PARTNER_ONE: 'a-secret-from-the-environment',
      },
    });
    expect(config.notify.amqp.url).toBe('amqps://user:secret@broker');
    expect(config.http.listen.port).toBe(9090);
    expect(config.http.pageSize).toBe(50);
    expect(config.apiKeys[0]?.key).toBe('a-secret-from-the-environment');
    expect(sources.get('notify.amqp.url')).toBe('env CAPTURE_DAEMON_NOTIFY__AMQP__URL');
    expect(sources.get('http.listen.port')).toBe('env CAPTURE_DAEMON_HTTP__LISTEN__PORT');
    expect(sources.get('http.pageSize')).toBe('file');
    expect(sources.get('http.requestTimeoutMs')).toBe('default');
    // An API key's secret from the environment is labelled so, its other fields come from the file.
    expect(sources.get('apiKeys.0.key')).toBe('env CAPTURE_DAEMON_APIKEY_PARTNER_ONE');
    expect(sources.get('apiKeys.0.name')).toBe('file');
    expect(sources.get('apiKeys.0.state')).toBe('default');
  });

  it('CAPTURE_DAEMON_CONFIG names the config file: it is not read as a config value', () => {
    const file = tmpFile('http:\n  pageSize: 7\n');
    const { config } = loadConfig({ file, env: { CAPTURE_DAEMON_CONFIG: file } });
    expect(config.http.pageSize).toBe(7);
    expect(loadConfig({ env: { CAPTURE_DAEMON_CONFIG: '/nowhere.yaml' } }).config.http.pageSize).toBe(1000);
  });

  it('says what a key wants in the project\'s words, not the schema library\'s', () => {
    const file = tmpFile(`http:
  listen:
    port: "80a"
  pageSize: 0
  bodyLimitBytes: 1.5
  trustProxy: "yes"
  nope: 1
log:
  level: loud
dht:
  bootstrap: router.example:6881
filters:
  - name: ""
    notify:
      email: ["not-an-email"]
`);
    const p = problems(() => loadConfig({ file, env: { CAPTURE_DAEMON_CAPTURE__TYPO: '1' } }));
    expect(p).toEqual([
      { path: 'log.level', message: 'must be one of: "fatal", "error", "warn", "info", "debug", "trace", "silent"' },
      { path: 'http.listen.port', message: 'must be a number' },
      { path: 'http.pageSize', message: 'must be at least 1' },
      { path: 'http.bodyLimitBytes', message: 'must be a whole number' },
      { path: 'http.trustProxy', message: 'must be true or false' },
      { path: 'http', message: 'unknown key "nope": check the spelling (config/capture-daemon.example.yaml lists every key)' },
      { path: 'dht.bootstrap', message: 'must be a list' },
      {
        path: 'capture',
        message: 'unknown key "typo": check the spelling (config/capture-daemon.example.yaml lists every key) (set by CAPTURE_DAEMON_CAPTURE__TYPO)',
      },
      { path: 'filters.0.name', message: 'must not be empty' },
      { path: 'filters.0.name', message: 'may contain letters, digits, "_", "." and "-" only' },
      { path: 'filters.0.notify.email.0', message: 'must be an email address' },
    ]);
    for (const { message } of p) expect(message).not.toMatch(/Invalid input|expected|received|Too small/);
  });

  it('rejects env overrides that name nothing', () => {
    const p = problems(() => loadConfig({ env: { CAPTURE_DAEMON_HTTP__NOPE: '1', CAPTURE_DAEMON_APIKEY_GHOST: 'x'.repeat(20) } }));
    expect(p.map((x) => x.path)).toEqual(expect.arrayContaining(['http', 'env CAPTURE_DAEMON_APIKEY_GHOST']));
  });

  it('explains an all-digit infohash that YAML read as a number', () => {
    const file = tmpFile(`filters:\n  - name: f\n    infohashes: [${'12'.repeat(20)}]\n`);
    expect(problems(() => loadConfig({ file, env: {} }))).toEqual([
      { path: 'filters.0.infohashes.0', message: 'YAML read this infohash as a number: put it in quotes' },
    ]);
  });

  it('normalises infohashes and country codes', () => {
    const file = tmpFile(`filters:\n  - name: f\n    infohashes: [${'AB'.repeat(20)}]\n    countryCodes: [de]\n`);
    const f = loadConfig({ file, env: {} }).config.filters[0];
    expect(f?.infohashes).toEqual(['ab'.repeat(20)]);
    expect(f?.countryCodes).toEqual(['DE']);
  });
});
