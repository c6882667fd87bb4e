import { parseStoreUrl, type StoreLocation } from '../store/store-url.js';
import { z } from 'zod';
import { isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';
import { isInfoHash } from '../model/infohash.js';
import { btnConfigSchema as btn } from './btn-config-schema.js';
import { clusterConfigSchema as cluster } from './cluster-config-schema.js';

/**
 * The one schema of the configuration file. The TypeScript type is inferred from it, every default
 * lives here, and `config/capture-daemon.example.yaml` documents each key (a test checks that).
 */

const hostPort = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8080),
});

/** A byte size: a number of bytes or a string such as "512 MiB", "20GiB", "1.5 TB". */
const byteSize = z.union([
  z.number().int().min(0),
  z
    .string()
    .regex(/^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$/i, 'must be a size such as 20 GiB, 500 MB or a number of bytes')
    .transform((s) => {
      const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(s) as RegExpExecArray;
      const units: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };
      return Math.round(Number(m[1]) * (units[(m[2] ?? '').toLowerCase()] ?? 1));
    }),
]);

const infohash = z
  .string({
    error: (issue) =>
      typeof issue.input === 'number' || typeof issue.input === 'bigint'
        ? 'YAML read this infohash as a number: put it in quotes'
        : 'must be 40 hexadecimal characters',
  })
  .refine(isInfoHash, 'must be 40 hexadecimal characters')
  .transform((s) => s.toLowerCase());

const cidr = z.string().refine((s) => {
  try {
    ipaddr.parseCIDR(s);
    return true;
  } catch {
    return false;
  }
}, 'must be a CIDR subnet such as 203.0.113.0/24 or 2001:db8::/32');

const countryCode = z
  .string()
  .regex(/^[A-Za-z]{2}$/, 'must be an ISO 3166-1 alpha-2 country code')
  .transform((s) => s.toUpperCase());

export const API_METHODS = [
  'peers',
  'filters',
  'addInfohash',
  'deleteInfohash',
  'addTorrent',
  'torrentState',
  'pcap',
  'spamReport',
  'spamList',
  'dashboard',
] as const;
export type ApiMethod = (typeof API_METHODS)[number];

const apiKey = z
  .strictObject({
    name: z.string().min(1),
    key: z.string().min(16, 'must be at least 16 characters').optional(),
    keySha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hexadecimal characters')
      .transform((s) => s.toLowerCase())
      .optional(),
    state: z.enum(['active', 'suspended']).default('active'),
    methods: z.array(z.enum(['*', ...API_METHODS])).default(['*']),
    filters: z.array(z.string().min(1)).default(['*']),
  })
  .refine((k) => (k.key === undefined) !== (k.keySha256 === undefined), {
    message: 'exactly one of key or keySha256 is required (or set it with CAPTURE_DAEMON_APIKEY_<NAME>)',
  });

const filter = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[\w.-]+$/, 'may contain letters, digits, "_", "." and "-" only'),
  description: z.string().default(''),
  infohashes: z.array(infohash).default([]),
  subnets: z.array(cidr).default([]),
  countryCodes: z.array(countryCode).default([]),
  storeTCPDumpFile: z.boolean().default(false),
  storeTCPDumpAttempt: z.boolean().default(false),
  enabled: z.boolean().default(true),
  notify: z
    .strictObject({
      amqp: z.boolean().default(false),
      email: z.array(z.email()).default([]),
    })
    .prefault({}),
});

/** A list of filters as the config holds it (the shared configuration a crawler receives is checked with it). */
export const filterListSchema = z.array(filter);

export const configSchema = z
  .strictObject({
    dataDir: z.string().min(1).optional(),
    database: z
      .strictObject({
        path: z.string().min(1).optional(),
        // The daemon's event loop waits at most this long for a lock; a locked write is retried later.
        busyTimeoutMs: z.number().int().min(0).max(60_000).default(50),
        // normal: commits survive a daemon crash; full: also an OS crash, a power cut, a failing disk (an fsync per commit).
        synchronous: z.enum(['normal', 'full']).default('normal'),
        // WAL checkpoints on a worker thread (its own connection) every intervalMs instead of inside
        // a commit on the event loop; false: SQLite's own (every 1,000 pages, on the committing thread).
        checkpoint: z
          .strictObject({
            worker: z.boolean().default(true),
            intervalMs: z.number().int().min(10).max(60_000).default(1000),
            // A WAL this long without a full checkpoint: the event loop checkpoints again until it starts over.
            walMaxBytes: byteSize.default(64 * 2 ** 20),
          })
          .prefault({}),
      })
      .prefault({}),
    store: z
      .strictObject({
        // A file path or sqlite:PATH (SQLite, relative to dataDir), or postgres://… (PostgreSQL).
        // Unset: SQLite at database.path. See README, "Storage".
        url: z
          .string()
          .min(1)
          .superRefine((url, ctx) => {
            const parsed = parseStoreUrl(url);
            if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
          })
          .optional(),
        // PostgreSQL: the schema holding the tables (default: the server's search_path, i.e. public).
        schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier').optional(),
        // PostgreSQL: connections in this process's pool.
        poolSize: z.number().int().min(1).max(200).default(10),
      })
      .prefault({}),
    log: z
      .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .prefault({}),
    http: z
      .strictObject({
        listen: hostPort.prefault({}),
        pageSize: z.number().int().min(1).max(100_000).default(1000),
        bodyLimitBytes: z.number().int().min(1024).default(10 * 1024 * 1024),
        requestTimeoutMs: z.number().int().min(100).default(30_000),
        keepAliveTimeoutMs: z.number().int().min(100).default(5_000),
        trustProxy: z.boolean().default(false),
      })
      .prefault({}),
    admin: z
      .strictObject({
        socket: z.string().min(1).optional(),
      })
      .prefault({}),
    dht: z
      .strictObject({
        enabled: z.boolean().default(true),
        host: z.string().default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(6881),
        bootstrap: z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port')).default([]),
        maxPacketsPerSecond: z.number().int().min(1).default(250),
        minQueryIntervalPerIpMs: z.number().int().min(0).default(1000),
        maxPendingQueries: z.number().int().min(1).default(1024),
        lookupIntervalMs: z.number().int().min(1000).default(15 * 60_000),
        sampleInfohashes: z.boolean().default(true),
        // BEP 32: a second node on IPv6 (own socket and routing table), beside the IPv4 one.
        ipv6: z
          .strictObject({
            enabled: z.boolean().default(false),
            host: z.string().refine((h) => isIPv6(h), 'must be an IPv6 address, e.g. "::"').default('::'),
            /** Default: dht.port. */
            port: z.number().int().min(0).max(65535).optional(),
            bootstrap: z.array(z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'must be [ipv6]:port or host:port')).default([]),
          })
          .prefault({}),
      })
      .prefault({}),
    capture: z
      .strictObject({
        concurrency: z.number().int().min(1).default(200),
        perIpConcurrency: z.number().int().min(1).default(2),
        queueSize: z.number().int().min(1).default(10_000),
        connectTimeoutMs: z.number().int().min(100).default(5_000),
        handshakeTimeoutMs: z.number().int().min(100).default(10_000),
        idleTimeoutMs: z.number().int().min(100).default(10_000),
        totalTimeoutMs: z.number().int().min(100).default(30_000),
        haveWindowMs: z.number().int().min(0).default(2_000),
        pieceStateWaitMs: z.number().int().min(0).default(5_000),
        memoryBudgetBytes: z.number().int().min(1024 * 1024).default(256 * 1024 * 1024),
        recaptureIntervalMs: z.number().int().min(0).default(6 * 3_600_000),
        allowedPrivateRanges: z.array(cidr).default([]),
        localAddress: z.string().min(1).optional(),
        /** Source address for IPv6 peers (localAddress is used for IPv4 peers only when it is IPv4). */
        localAddress6: z.string().refine((h) => isIPv6(h), 'must be an IPv6 address').optional(),
        encryption: z.enum(['prefer-plain', 'prefer-encrypted', 'plain-only', 'encrypted-only']).default('prefer-plain'),
        /** Peers remembered as taking only the other way (EncryptionMemory: ~25 B each, allocated at start). */
        encryptionMemoryPeers: z.number().int().min(1).max(20_000_000).default(500_000),
        utp: z.enum(['off', 'fallback']).default('off'),
        reverseDns: z
          .strictObject({
            enabled: z.boolean().default(true),
            timeoutMs: z.number().int().min(100).default(2_000),
            servers: z.array(z.string()).default([]),
            maxPerSecond: z.number().int().min(1).default(50),
          })
          .prefault({}),
      })
      .prefault({}),
    pcap: z
      .strictObject({
        dir: z.string().min(1).optional(),
        retentionDays: z.number().int().min(0).default(30),
        maxBytesPerCapture: z.number().int().min(4096).default(512 * 1024),
      })
      .prefault({}),
    metrics: z
      .strictObject({
        enabled: z.boolean().default(true),
        listen: z
          .strictObject({
            host: z.string().min(1).default('127.0.0.1'),
            port: z.number().int().min(0).max(65535).default(9464),
          })
          .prefault({}),
        bearerToken: z.string().min(16, 'must be at least 16 characters').optional(),
      })
      .prefault({}),
    dashboard: z
      .strictObject({
        enabled: z.boolean().default(true),
        tickMs: z.number().int().min(500).default(5_000),
        maxClients: z.number().int().min(1).max(1000).default(16),
        heartbeatMs: z.number().int().min(1_000).default(15_000),
        sessionTtlMs: z.number().int().min(60_000).default(12 * 3_600_000),
      })
      .prefault({}),
    health: z
      .strictObject({
        checkIntervalMs: z.number().int().min(100).default(5_000),
        dhtReplyWithinMs: z.number().int().min(1_000).default(120_000),
        noNodesWarnAfterMs: z.number().int().min(0).default(60_000),
        maxEventLoopDelayMs: z.number().int().min(10).default(2_000),
      })
      .prefault({}),
    retention: z
      .strictObject({
        enabled: z.boolean().default(true),
        intervalMs: z.number().int().min(1_000).default(10 * 60_000),
        maxAgeDays: z
          .strictObject({
            captures: z.number().min(0).default(90),
            sightings: z.number().min(0).default(30),
            outbox: z.number().min(0).default(30),
            btnSubmissions: z.number().min(0).default(90),
            spamReports: z.number().min(0).default(0),
            // The center's idempotency keys of forwarded items (SQLite ingested_uids, PostgreSQL
            // ingested_sightings): a copy arriving later than this after the first is stored again.
            ingestedUids: z.number().min(0).default(30),
          })
          .prefault({}),
        maxDatabaseBytes: byteSize.default(0),
        batchSize: z.number().int().min(1).max(100_000).default(500),
        maxBatchMs: z.number().min(1).max(10_000).default(10),
        pauseMs: z.number().int().min(0).default(20),
        vacuumPagesPerStep: z.number().int().min(1).default(1024),
        // The pace while under the size cap (0: unpaced, as fast as pauseMs and the duty cycle allow):
        // rows deleted per second (all tables together) and pages given back per second. It doubles
        // while the captures' lag behind their age limit grows (retention is falling behind) and is
        // ignored while the database is over maxDatabaseBytes (ops/retention-pace.ts).
        paceRowsPerSecond: z.number().int().min(0).default(1_000),
        paceVacuumPagesPerSecond: z.number().int().min(0).default(1_000),
        // Deletes and vacuum steps on a worker thread with its own connection (the event loop only
        // sends them); false: on the event loop (also the fallback while the thread is down).
        thread: z.boolean().default(true),
      })
      .prefault({}),
    shutdown: z
      .strictObject({
        drainTimeoutMs: z.number().int().min(0).default(10_000),
      })
      .prefault({}),
    geoip: z
      .strictObject({
        countryDb: z.string().min(1).nullable().optional(),
        cityDb: z.string().min(1).nullable().default(null),
        asnDb: z.string().min(1).nullable().default(null),
      })
      .prefault({}),
    spam: z
      .strictObject({
        enabled: z.boolean().default(true),
        openReports: z.boolean().default(false),
        publicLists: z.boolean().default(true),
        listThreshold: z.number().int().min(0).default(10),
        pageSize: z.number().int().min(1).max(50_000).default(5000),
        publicUrl: z.url().optional(),
        maxNameMatches: z.number().int().min(1).max(10_000).default(100),
        rateLimit: z
          .strictObject({
            perReporter: z.strictObject({ points: z.number().int().min(1).default(20), durationSeconds: z.number().int().min(1).default(3600) }).prefault({}),
            perIp: z.strictObject({ points: z.number().int().min(1).default(60), durationSeconds: z.number().int().min(1).default(3600) }).prefault({}),
          })
          .prefault({}),
        evidence: z
          .strictObject({
            scanIntervalMs: z.number().int().min(1000).default(60_000),
            batchSize: z.number().int().min(1).max(100_000).default(1000),
            disguisedExecutable: z.strictObject({ enabled: z.boolean().default(true), weight: z.number().int().min(1).default(11) }).prefault({}),
            noSeeder: z
              .strictObject({
                enabled: z.boolean().default(true),
                weight: z.number().int().min(1).default(5),
                minPeers: z.number().int().min(1).max(100_000).default(20),
                windowMs: z.number().int().min(60_000).default(24 * 3_600_000),
              })
              .prefault({}),
            metadataUnobtainable: z
              .strictObject({
                enabled: z.boolean().default(true),
                weight: z.number().int().min(1).default(5),
                minPeers: z.number().int().min(0).default(3),
                afterMs: z.number().int().min(60_000).default(24 * 3_600_000),
              })
              .prefault({}),
          })
          .prefault({}),
      })
      .prefault({}),
    apiKeys: z.array(apiKey).default([]),
    filters: z.array(filter).default([]),
    notify: z
      .strictObject({
        outboxMaxRows: z.number().int().min(1).default(1_000_000),
        amqp: z
          .strictObject({
            enabled: z.boolean().default(false),
            url: z.string().default('amqp://guest:guest@127.0.0.1:5672'),
            exchange: z.string().min(1).default('capture'),
            maxInFlight: z.number().int().min(1).default(1000),
            maxMessageBytes: z.number().int().min(1024).default(1024 * 1024),
          })
          .prefault({}),
        email: z
          .strictObject({
            enabled: z.boolean().default(false),
            from: z.string().default('capture-daemon@localhost'),
            digestMinutes: z.number().int().min(1).default(15),
            csvRowLimit: z.number().int().min(1).default(100),
            smtp: z
              .strictObject({
                host: z.string().default('127.0.0.1'),
                port: z.number().int().min(1).max(65535).default(25),
                secure: z.boolean().default(false),
                requireTLS: z.boolean().default(false),
                tls: z
                  .strictObject({
                    rejectUnauthorized: z.boolean().default(true),
                    caFile: z.string().min(1).optional(),
                    servername: z.string().min(1).optional(),
                  })
                  .prefault({}),
                user: z.string().optional(),
                password: z.string().optional(),
              })
              .prefault({}),
          })
          .prefault({}),
      })
      .prefault({}),
    btn,
    role: z.enum(['all', 'crawler', 'ingest', 'api']).default('all'),
    cluster,
  })
  .superRefine((cfg, ctx) => {
    if (cfg.store.url !== undefined && cfg.database.path !== undefined && typeof parseStoreUrl(cfg.store.url) === 'object' && (parseStoreUrl(cfg.store.url) as StoreLocation).kind === 'sqlite') {
      ctx.addIssue({ code: 'custom', path: ['store', 'url'], message: 'names a SQLite file and so does database.path: set only one of them' });
    }
    const storeLocation = cfg.store.url === undefined ? undefined : parseStoreUrl(cfg.store.url);
    if (typeof storeLocation === 'object' && storeLocation.kind === 'postgres') {
      for (const problem of postgresRoleProblems(cfg)) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
    }
    if (cfg.btn.enabled && cfg.btn.publicUrl === null) {
      ctx.addIssue({ code: 'custom', path: ['btn', 'publicUrl'], message: 'is required when btn.enabled is true (the URL clients reach the daemon at)' });
    }
    const split = cfg.cluster.workSplit;
    if (split.crawlerCount > 0 && split.crawlerIndex >= split.crawlerCount) {
      ctx.addIssue({ code: 'custom', path: ['cluster', 'workSplit', 'crawlerIndex'], message: `must be below crawlerCount (${split.crawlerCount})` });
    }
    const userNames = new Set<string>();
    cfg.btn.users.forEach((u, i) => {
      if (userNames.has(u.name)) ctx.addIssue({ code: 'custom', path: ['btn', 'users', i, 'name'], message: `duplicate user name "${u.name}"` });
      userNames.add(u.name);
    });
    const seen = new Set<string>();
    cfg.filters.forEach((f, i) => {
      if (seen.has(f.name)) {
        ctx.addIssue({ code: 'custom', path: ['filters', i, 'name'], message: `duplicate filter name "${f.name}"` });
      }
      seen.add(f.name);
    });
    const keyNames = new Set<string>();
    cfg.apiKeys.forEach((k, i) => {
      if (keyNames.has(k.name)) {
        ctx.addIssue({ code: 'custom', path: ['apiKeys', i, 'name'], message: `duplicate API key name "${k.name}"` });
      }
      keyNames.add(k.name);
      k.filters.forEach((name, j) => {
        if (name !== '*' && !seen.has(name)) {
          ctx.addIssue({ code: 'custom', path: ['apiKeys', i, 'filters', j], message: `unknown filter "${name}"` });
        }
      });
    });
  });

export type Config = z.infer<typeof configSchema>;

/**
 * What a `postgres://` store.url cannot be combined with (README, "Storage"): PostgreSQL is the
 * central store of the ingest and api roles; `all` and `crawler` keep their SQLite file; the BTN
 * server and the notification outbox live in SQLite only.
 */
function postgresRoleProblems(cfg: {
  role: string;
  btn: { enabled: boolean };
  notify: { amqp: { enabled: boolean }; email: { enabled: boolean } };
}): Array<{ path: string[]; message: string }> {
  const out: Array<{ path: string[]; message: string }> = [];
  if (cfg.role === 'all') {
    out.push({ path: ['store', 'url'], message: 'is PostgreSQL, but role all (the single-node daemon) keeps everything in its SQLite file: PostgreSQL is for the ingest and api roles (remove store.url, or set role)' });
  } else if (cfg.role === 'crawler') {
    out.push({ path: ['store', 'url'], message: 'is PostgreSQL, but a crawler keeps its captures and forward outbox in its own SQLite file (database.path) and reaches the center through cluster.amqp: remove store.url' });
  } else {
    if (cfg.btn.enabled) out.push({ path: ['btn', 'enabled'], message: 'the BTN server keeps its data in SQLite: not available with a PostgreSQL store.url (set btn.enabled: false)' });
    if (cfg.role === 'ingest' && (cfg.notify.amqp.enabled || cfg.notify.email.enabled)) {
      out.push({ path: ['notify'], message: 'the notification outbox is SQLite only: the ingest role on PostgreSQL sends no notifications (set notify.amqp.enabled and notify.email.enabled to false)' });
    }
  }
  return out;
}
export type FilterConfig = Config['filters'][number];
export type ApiKeyConfig = Config['apiKeys'][number];
export type BtnConfig = Config['btn'];
export type SpamConfig = Config['spam'];
