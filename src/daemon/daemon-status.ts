import { fileSize } from '../util/file-size.js';
import type { CaptureModule } from '../capture/capture-module.js';
import type { ResolvedConfig } from '../config/load-config.js';
import type { DhtService } from '../dht/dht-module.js';
import type { FilterRegistry } from '../filter/filter-registry.js';
import type { Notifications } from '../notify/notifier.js';
import { VERSION } from '../util/version.js';

/** What `capture-daemon status` reads from the running daemon. */
export interface StatusSources {
  startedAt: number;
  configFile(): string | null;
  config(): ResolvedConfig;
  apiUrl(): string;
  apiKeys(): number;
  dht: DhtService;
  capture: CaptureModule;
  notify: Notifications;
  outbox: { countPending(): number };
  filters: Pick<FilterRegistry, 'list' | 'compiled'>;
  btn?: { status(): Record<string, unknown> };
  /** Health, retention and metrics (the ops module). */
  ops?: { status(): unknown };
}

/** The admin endpoint's status document (`capture-daemon status --json`). */
export function daemonStatus(s: StatusSources): Record<string, unknown> {
  const config = s.config();
  const { dht, capture } = s;
  return {
    version: VERSION,
    pid: process.pid,
    startedAt: new Date(s.startedAt).toISOString(),
    uptimeSeconds: Math.round((Date.now() - s.startedAt) / 1000),
    configFile: s.configFile(),
    api: s.apiUrl(),
    dht: (() => {
      const stats = dht.stats();
      const v6 = stats.ipv6;
      return {
        enabled: config.dht.enabled,
        nodes: dht.nodeCount(),
        address: dht.address(),
        // BEP 32: the IPv6 node's own routing table (null node: off, or no IPv6 on the host: see error).
        ipv6: { enabled: v6.enabled, running: v6.running, error: v6.error, nodes: v6.node?.nodes ?? 0, address: dht.address6() },
        stats,
      };
    })(),
    queues: { ...capture.queues(), outbox: s.outbox.countPending() },
    capture: capture.stats(),
    storage: capture.storage(),
    notify: s.notify.status(),
    capturesLastHour: capture.capturesLastHour(),
    filters: { total: s.filters.list().length, enabled: s.filters.compiled.filterCount },
    apiKeys: s.apiKeys(),
    ...(s.btn ? { btn: s.btn.status() } : {}),
    database: {
      path: config.database.path,
      bytes: fileSize(config.database.path) + fileSize(`${config.database.path}-wal`),
    },
    ...(s.ops ? { ops: s.ops.status() } : {}),
  };
}
