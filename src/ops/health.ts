import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { DhtStats } from '../dht/dht-module.js';
import { errorMessage } from '../util/app-error.js';
import type { Logger } from '../util/logger.js';
import type { OpsStore } from './ports.js';

export interface HealthOptions {
  /** How often the checks run (ms). */
  checkIntervalMs: number;
  /** The DHT counts as healthy while one of our queries was answered within this time (when it has nodes). */
  dhtReplyWithinMs: number;
  /** Warn (log and status) when the DHT still has no nodes this long after start. */
  noNodesWarnAfterMs: number;
  /** The event loop counts as stuck when its delay (p99 since the last check) exceeds this. */
  maxEventLoopDelayMs: number;
  /** Number of configured DHT bootstrap nodes (for the no-nodes advice). */
  bootstrapCount: number;
}

export interface HealthCheck {
  ok: boolean;
  detail: string;
}

export interface HealthReport {
  ready: boolean;
  checkedAt: string;
  checks: { api: HealthCheck; database: HealthCheck; dht: HealthCheck; eventLoop: HealthCheck };
  warnings: string[];
}

export interface HealthDeps {
  store: Pick<OpsStore, 'probeWrite'>;
  dht: () => DhtStats;
  /** True once the API listener is bound. */
  /** 'none': this role serves no API (crawler, ingest). */
  apiBound: () => boolean | 'none';
  logger: Logger;
  now?: () => number;
}

/**
 * The daemon's health: readiness for /readyz, the gate of the systemd watchdog ping, and warnings
 * for `status`. Checks run on a timer (a write probe of the database every checkIntervalMs), so
 * /readyz and the watchdog read a cached report and never block.
 */
export class HealthMonitor {
  private report: HealthReport;
  private timer: NodeJS.Timeout | undefined;
  private readonly loopDelay: IntervalHistogram;
  private readonly startedAt: number;
  private warnedNoNodes = false;
  private lastCheckAt = 0;
  private readonly now: () => number;

  constructor(
    private readonly deps: HealthDeps,
    private readonly options: HealthOptions,
  ) {
    this.now = deps.now ?? Date.now;
    this.startedAt = this.now();
    this.loopDelay = monitorEventLoopDelay({ resolution: 20 });
    const pending: HealthCheck = { ok: false, detail: 'not checked yet' };
    this.report = {
      ready: false,
      checkedAt: new Date(this.startedAt).toISOString(),
      checks: { api: pending, database: pending, dht: pending, eventLoop: pending },
      warnings: [],
    };
  }

  start(): void {
    this.loopDelay.enable();
    this.check();
    this.timer = setInterval(() => this.check(), this.options.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.loopDelay.disable();
  }

  /** The last report; re-checked first when it is older than the check interval (a stalled timer). */
  current(): HealthReport {
    if (this.now() - this.lastCheckAt > this.options.checkIntervalMs * 2) this.check();
    return this.report;
  }

  /** The watchdog's gate: event loop, database and DHT healthy (the API is checked by /readyz). */
  watchdogOk(): boolean {
    const c = this.current().checks;
    return c.eventLoop.ok && c.database.ok && c.dht.ok;
  }

  check(): HealthReport {
    const now = this.now();
    this.lastCheckAt = now;
    const warnings: string[] = [];

    const bound = this.deps.apiBound();
    const api: HealthCheck = bound === 'none' ? { ok: true, detail: 'no API in this role' } : bound ? { ok: true, detail: 'listening' } : { ok: false, detail: 'not listening' };

    let database: HealthCheck;
    try {
      const detail = this.deps.store.probeWrite();
      database = { ok: true, detail: typeof detail === 'string' ? detail : 'writable' };
    } catch (err) {
      database = { ok: false, detail: `not writable: ${errorMessage(err)}` };
    }

    const p99 = this.loopDelay.count > 0 ? this.loopDelay.percentile(99) / 1e6 : 0;
    this.loopDelay.reset();
    const eventLoop: HealthCheck =
      p99 <= this.options.maxEventLoopDelayMs
        ? { ok: true, detail: `delay p99 ${p99.toFixed(1)} ms` }
        : { ok: false, detail: `delay p99 ${p99.toFixed(0)} ms > ${this.options.maxEventLoopDelayMs} ms` };

    const dht = this.checkDht(now, warnings);
    this.report = {
      ready: api.ok && database.ok && dht.ok && eventLoop.ok,
      checkedAt: new Date(now).toISOString(),
      checks: { api, database, dht, eventLoop },
      warnings,
    };
    return this.report;
  }

  private checkDht(now: number, warnings: string[]): HealthCheck {
    const s = this.deps.dht();
    if (!s.enabled) return { ok: true, detail: 'disabled' };
    const sinceStart = now - this.startedAt;
    if (s.nodes === 0) {
      if (sinceStart >= this.options.noNodesWarnAfterMs) {
        const advice =
          this.options.bootstrapCount === 0
            ? 'dht.bootstrap is empty and no routing table was saved: add bootstrap nodes (the example config lists the public routers)'
            : 'none of the dht.bootstrap nodes answered: check the network, the firewall (UDP) and dht.port';
        const warning = `the DHT has no nodes ${Math.round(sinceStart / 1000)} s after start, so no peers are found: ${advice}`;
        warnings.push(warning);
        if (!this.warnedNoNodes) {
          this.warnedNoNodes = true;
          this.deps.logger.warn({ bootstrapNodes: this.options.bootstrapCount, secondsSinceStart: Math.round(sinceStart / 1000), advice }, 'the DHT has no nodes, so no peers are found');
        }
      }
      // No nodes is a warning, not unreadiness: the API serves stored data either way.
      return { ok: true, detail: 'no nodes' };
    }
    if (this.warnedNoNodes) {
      this.warnedNoNodes = false;
      this.deps.logger.info({ nodes: s.nodes }, 'the DHT has nodes now');
    }
    const lastReplyAt = s.socket?.lastReplyAt ?? 0;
    const since = lastReplyAt > 0 ? now - lastReplyAt : sinceStart;
    if (since <= this.options.dhtReplyWithinMs) {
      return { ok: true, detail: lastReplyAt > 0 ? `${s.nodes} nodes, last reply ${Math.round(since / 1000)} s ago` : `${s.nodes} nodes, starting` };
    }
    return { ok: false, detail: `${s.nodes} nodes but no reply for ${Math.round(since / 1000)} s` };
  }
}
