import { createHash } from 'node:crypto';
import type * as amqp from 'amqplib';
import { filterListSchema, type FilterConfig } from '../config/config-schema.js';
import { isInfoHash } from '../model/infohash.js';
import { Sleeper } from '../notify/async-util.js';
import { backoffDelay, DEFAULT_BACKOFF } from '../notify/backoff.js';
import { errorMessage } from '../util/app-error.js';
import type { Logger } from '../util/logger.js';
import { AmqpLink } from './amqp-link.js';
import type { ClusterTopology } from './topology.js';

export interface OverlayEntry {
  filter: string;
  infohash: string;
  op: 'add' | 'delete';
  changedAt: number;
}

/** The configuration crawlers share: the center's filters and the infohash changes made through the API. */
export interface SharedConfigSnapshot {
  /** sha256 of filters + overlay: crawlers apply a snapshot only when it differs from what they have. */
  version: string;
  filters: FilterConfig[];
  overlay: OverlayEntry[];
  /** Who sent it, when. */
  from: string;
  at: number;
}

export function snapshotVersion(filters: readonly FilterConfig[], overlay: readonly OverlayEntry[]): string {
  return createHash('sha256').update(JSON.stringify([filters, overlay])).digest('hex');
}

/** Checks a received snapshot as strictly as the config file's filters; undefined with a reason when it is not one. */
export function parseSnapshot(body: Buffer): { ok: true; snapshot: SharedConfigSnapshot } | { ok: false; reason: string } {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const o = v as Partial<SharedConfigSnapshot>;
  const filters = filterListSchema.safeParse(o?.filters);
  if (!filters.success) return { ok: false, reason: `filters: ${filters.error.issues[0]?.message ?? 'invalid'}` };
  if (!Array.isArray(o.overlay)) return { ok: false, reason: 'overlay missing' };
  for (const e of o.overlay as unknown[]) {
    const x = e as Partial<OverlayEntry>;
    if (typeof x?.filter !== 'string' || !isInfoHash(x.infohash) || (x.op !== 'add' && x.op !== 'delete') || !Number.isSafeInteger(x.changedAt)) {
      return { ok: false, reason: 'overlay entry malformed' };
    }
  }
  const overlay = o.overlay;
  const version = snapshotVersion(filters.data, overlay);
  if (version !== o.version) return { ok: false, reason: 'version does not match the content' };
  return { ok: true, snapshot: { version, filters: filters.data, overlay, from: String(o.from ?? ''), at: Number(o.at ?? 0) } };
}

interface LinkOptions {
  url: string;
  topology: ClusterTopology;
  nodeId: string;
  connectTimeoutMs: number;
}

/**
 * Center side (api and ingest roles): sends the shared configuration, read from the central store,
 * to the fanout exchange every `intervalMs` and at once after `changed()` (an API infohash change,
 * a config reload). A crawler that joins gets it within one interval.
 */
export class SharedConfigPublisher {
  private readonly link: AmqpLink;
  private readonly sleeper = new Sleeper();
  private loop: Promise<void> | undefined;
  private stopping = false;
  private failures = 0;
  private sent = 0;

  constructor(
    private readonly deps: { read: () => { filters: FilterConfig[]; overlay: OverlayEntry[] }; logger: Logger },
    private readonly options: LinkOptions & { intervalMs: number },
  ) {
    this.link = new AmqpLink(
      { logger: deps.logger, onLost: () => this.sleeper.wake() },
      { url: options.url, connectTimeoutMs: options.connectTimeoutMs, connectionName: `capture-daemon config ${options.nodeId}` },
      (model) => model.createChannel(),
      async (ch) => {
        await ch.assertExchange(options.topology.configExchange, 'fanout', { durable: true });
      },
    );
  }

  start(): void {
    this.loop ??= this.run().catch((err: unknown) => this.deps.logger.error({ err: errorMessage(err) }, 'shared config publisher stopped'));
  }

  changed(): void {
    this.sleeper.wake();
  }

  stats(): { connected: boolean; sent: number; lastError: string | null } {
    return { connected: this.link.connected, sent: this.sent, lastError: this.link.lastError ?? null };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.sleeper.wake();
    await this.loop;
    await this.link.close();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        const ch = await this.link.open();
        const { filters, overlay } = this.deps.read();
        const snapshot: SharedConfigSnapshot = { version: snapshotVersion(filters, overlay), filters, overlay, from: this.options.nodeId, at: Date.now() };
        ch.publish(this.options.topology.configExchange, '', Buffer.from(JSON.stringify(snapshot)), { contentType: 'application/json', type: 'shared-config' });
        this.sent++;
        this.failures = 0;
        await this.sleeper.sleep(this.options.intervalMs);
      } catch (err) {
        this.failures++;
        if (this.failures === 1) this.deps.logger.warn({ err: errorMessage(err) }, 'cannot send the shared configuration: retrying');
        await this.sleeper.sleep(Math.min(backoffDelay(this.failures, DEFAULT_BACKOFF), this.options.intervalMs));
      }
    }
  }
}

/**
 * Crawler side: takes each snapshot from the fanout exchange and, when its version differs from
 * the one in use, hands it to `apply` (which persists it locally and swaps the filters). While the
 * center or the broker is unreachable the crawler keeps its last copy.
 */
export class SharedConfigSubscriber {
  private readonly link: AmqpLink;
  private readonly sleeper = new Sleeper();
  private loop: Promise<void> | undefined;
  private stopping = false;
  private failures = 0;
  private readonly counters = { received: 0, applied: 0, rejected: 0 };
  private lastAppliedAt: number | undefined;

  constructor(
    private readonly deps: { current: () => string | undefined; apply: (s: SharedConfigSnapshot) => void; logger: Logger },
    options: LinkOptions,
  ) {
    this.link = new AmqpLink(
      { logger: deps.logger, onLost: () => this.sleeper.wake() },
      { url: options.url, connectTimeoutMs: options.connectTimeoutMs, connectionName: `capture-daemon config ${options.nodeId}` },
      (model) => model.createChannel(),
      async (ch) => {
        await ch.assertExchange(options.topology.configExchange, 'fanout', { durable: true });
        const q = await ch.assertQueue('', { exclusive: true, autoDelete: true, arguments: { 'x-max-length': 10 } });
        await ch.bindQueue(q.queue, options.topology.configExchange, '');
        await ch.consume(q.queue, (msg) => msg && this.onMessage(msg), { noAck: true });
      },
    );
  }

  start(): void {
    this.loop ??= this.run().catch((err: unknown) => this.deps.logger.error({ err: errorMessage(err) }, 'shared config subscriber stopped'));
  }

  stats(): { connected: boolean; version: string | null; lastAppliedAt: string | null; received: number; applied: number; rejected: number } {
    return {
      connected: this.link.connected, version: this.deps.current() ?? null,
      lastAppliedAt: this.lastAppliedAt === undefined ? null : new Date(this.lastAppliedAt).toISOString(), ...this.counters,
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.sleeper.wake();
    await this.loop;
    await this.link.close();
  }

  private onMessage(msg: amqp.ConsumeMessage): void {
    this.counters.received++;
    const parsed = parseSnapshot(msg.content);
    if (!parsed.ok) {
      this.counters.rejected++;
      this.deps.logger.warn({ reason: parsed.reason }, 'shared configuration refused: keeping the copy in use');
      return;
    }
    if (parsed.snapshot.version === this.deps.current()) return;
    try {
      this.deps.apply(parsed.snapshot);
      this.counters.applied++;
      this.lastAppliedAt = Date.now();
      this.deps.logger.info({ version: parsed.snapshot.version.slice(0, 12), filters: parsed.snapshot.filters.length, from: parsed.snapshot.from }, 'shared configuration applied');
    } catch (err) {
      this.counters.rejected++;
      this.deps.logger.warn({ err: errorMessage(err) }, 'shared configuration could not be applied: keeping the copy in use');
    }
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.link.open();
        this.failures = 0;
        await this.sleeper.sleep(5_000);
      } catch (err) {
        this.failures++;
        if (this.failures === 1) this.deps.logger.warn({ err: errorMessage(err) }, 'shared configuration unreachable: working on the last copy');
        await this.sleeper.sleep(Math.min(backoffDelay(this.failures, DEFAULT_BACKOFF), 10_000));
      }
    }
  }
}
