import type * as amqp from 'amqplib';
import { Sleeper } from '../notify/async-util.js';
import { backoffDelay, DEFAULT_BACKOFF } from '../notify/backoff.js';
import { errorMessage } from '../util/app-error.js';
import type { Logger } from '../util/logger.js';
import { AmqpLink } from './amqp-link.js';
import { ingestQueueOptions, type ClusterTopology } from './topology.js';

/** The part of the forward outbox the forwarder uses (SqliteForwardOutbox). */
export interface ForwardOutboxPort {
  nextBatch(limit: number, afterId?: number): Array<{ id: number; kind: 'capture' | 'sighting'; uid: string; body: string; createdAt: number }>;
  deleteConfirmed(ids: readonly number[]): void;
  recordFailure(ids: readonly number[], error: string): void;
  count(): number;
  oldestCreatedAt(): number | undefined;
}

export interface ForwarderOptions {
  url: string;
  topology: ClusterTopology;
  crawlerId: string;
  batchSize: number;
  pollIntervalMs: number;
  connectTimeoutMs: number;
  /** Bound on the broker's confirms of one batch. */
  confirmTimeoutMs: number;
}

export interface ForwarderStats {
  connected: boolean;
  /** Rows waiting for a confirm (the forward backlog). */
  backlog: number;
  /** Age of the oldest waiting row (ms): how far the center is behind this crawler. */
  lagMs: number;
  published: number;
  confirmed: number;
  /** Messages the broker nacked or did not confirm in time (they stay and go again). */
  failed: number;
  batches: number;
  lastBatchSize: number;
  maxBatchSize: number;
  lastError: string | null;
  lastSuccessAt: string | null;
}

/**
 * Crawler → center: moves the forward outbox to the durable quorum ingest queue on a confirm
 * channel. Reads the oldest `batchSize` rows, publishes them (persistent, messageId = uid), waits
 * for the broker's confirms (bounded by confirmTimeoutMs) and deletes only the rows the broker
 * confirmed. A broker that is down, nacks or does not confirm costs a backoff; the rows stay and go
 * again (a message published but not confirmed may arrive twice: the ingest side skips its uid).
 * One batch in flight at a time, so memory is bounded by batchSize messages.
 */
export class AmqpForwarder {
  private readonly link: AmqpLink<amqp.ConfirmChannel>;
  private readonly sleeper = new Sleeper();
  private loop: Promise<void> | undefined;
  private stopping = false;
  private failures = 0;
  private readonly counters = { published: 0, confirmed: 0, failed: 0, batches: 0, lastBatchSize: 0, maxBatchSize: 0 };
  private lastSuccessAt: number | undefined;

  constructor(
    private readonly deps: { outbox: ForwardOutboxPort; logger: Logger; now?: () => number },
    private readonly options: ForwarderOptions,
  ) {
    const t = options.topology;
    this.link = new AmqpLink(
      { logger: deps.logger, onLost: () => this.sleeper.wake() },
      { url: options.url, connectTimeoutMs: options.connectTimeoutMs, connectionName: `capture-daemon crawler ${options.crawlerId}` },
      (model) => model.createConfirmChannel(),
      async (ch) => {
        await ch.assertQueue(t.ingestQueue, ingestQueueOptions(t));
      },
    );
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  start(): void {
    this.loop ??= this.run().catch((err: unknown) => this.deps.logger.error({ err: errorMessage(err) }, 'forwarder stopped by an unexpected error'));
  }

  /** New rows were stored: forward now instead of at the next poll. */
  wake(): void {
    this.sleeper.wake();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.sleeper.wake();
    await this.loop;
    await this.link.close();
  }

  stats(): ForwarderStats {
    const oldest = this.deps.outbox.oldestCreatedAt();
    return {
      connected: this.link.connected,
      backlog: this.deps.outbox.count(),
      lagMs: oldest === undefined ? 0 : Math.max(0, this.now() - oldest),
      ...this.counters,
      lastError: this.link.lastError ?? null,
      lastSuccessAt: this.lastSuccessAt === undefined ? null : new Date(this.lastSuccessAt).toISOString(),
    };
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const rows = this.deps.outbox.nextBatch(this.options.batchSize);
      if (rows.length === 0) {
        await this.sleeper.sleep(this.options.pollIntervalMs);
        continue;
      }
      let error: string | undefined;
      let confirmed: number[] = [];
      try {
        confirmed = await this.publish(rows);
        if (confirmed.length < rows.length) error = this.link.lastError ?? 'not confirmed by RabbitMQ';
      } catch (err) {
        error = errorMessage(err);
      }
      if (this.stopping && confirmed.length === 0 && error !== undefined) break;
      this.deps.outbox.deleteConfirmed(confirmed);
      this.counters.confirmed += confirmed.length;
      if (error === undefined) {
        this.failures = 0;
        this.lastSuccessAt = this.now();
        continue;
      }
      const done = new Set(confirmed);
      const failedIds = rows.filter((r) => !done.has(r.id)).map((r) => r.id);
      this.counters.failed += failedIds.length;
      this.deps.outbox.recordFailure(failedIds, error);
      this.link.reset(error);
      this.failures++;
      const delay = backoffDelay(this.failures, DEFAULT_BACKOFF);
      if (this.failures === 1 || this.failures % 20 === 0) {
        this.deps.logger.warn({ err: error, backlog: this.deps.outbox.count(), retryInMs: delay }, 'forwarding to the center failed: captures stay in the local outbox');
      }
      await this.sleeper.sleep(delay);
    }
  }

  /** Publishes `rows` in order and returns the ids the broker confirmed (within confirmTimeoutMs). */
  private async publish(rows: ReturnType<ForwardOutboxPort['nextBatch']>): Promise<number[]> {
    const ch = await this.link.open();
    const queue = this.options.topology.ingestQueue;
    const results: Array<Promise<number | undefined>> = [];
    for (const row of rows) {
      if (this.link.channel !== ch) break;
      results.push(
        new Promise<number | undefined>((resolve) => {
          try {
            ch.sendToQueue(
              queue,
              Buffer.from(row.body),
              { persistent: true, messageId: row.uid, type: row.kind, contentType: 'application/json', timestamp: Math.floor(row.createdAt / 1000), appId: 'capture-daemon' },
              (err: unknown) => resolve(err === null || err === undefined ? row.id : undefined),
            );
          } catch {
            resolve(undefined);
          }
        }),
      );
    }
    this.counters.published += results.length;
    this.counters.batches++;
    this.counters.lastBatchSize = results.length;
    this.counters.maxBatchSize = Math.max(this.counters.maxBatchSize, results.length);
    // Confirms of a lost channel never come: bounded wait, the unconfirmed rows go again.
    let timer: NodeJS.Timeout | undefined;
    const all = Promise.all(results);
    const timedOut = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), this.options.confirmTimeoutMs)));
    let onClose: (() => void) | undefined;
    const lostChannel = new Promise<undefined>((r) => ch.once('close', (onClose = () => r(undefined))));
    const settled = await Promise.race([all, timedOut, lostChannel]);
    clearTimeout(timer);
    ch.off('close', onClose as () => void);
    if (settled === undefined) {
      // Partial: take the confirms that did arrive.
      const partial = await Promise.race([Promise.all(results.map((p) => Promise.race([p, Promise.resolve(undefined)])))]);
      return partial.filter((id): id is number => id !== undefined);
    }
    return settled.filter((id): id is number => id !== undefined);
  }
}
