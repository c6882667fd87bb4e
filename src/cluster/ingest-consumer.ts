import type * as amqp from 'amqplib';
import { Sleeper, withTimeout } from '../notify/async-util.js';
import { backoffDelay, DEFAULT_BACKOFF } from '../notify/backoff.js';
import { errorMessage } from '../util/app-error.js';
import type { Logger } from '../util/logger.js';
import { AmqpLink } from './amqp-link.js';
import { parseIngestMessage } from './ingest-message.js';
import type { CentralIngestStore, ForwardedCapture, ForwardedSighting } from './ports.js';
import { deadQueueOptions, ingestQueueOptions, type ClusterTopology } from './topology.js';

export interface IngestConsumerOptions {
  url: string;
  topology: ClusterTopology;
  nodeId: string;
  /** Unacknowledged messages the broker hands this consumer at most (basic.qos): the memory bound. */
  prefetch: number;
  /** Messages written in one store transaction at most. */
  batchSize: number;
  /**
   * Batches written at once (each on its own store connection, acknowledged after its own commit).
   * A second writer takes only full batches, so a lightly loaded ingester writes as with one.
   */
  writers?: number;
  /** How long a partial batch waits for more messages. */
  batchWaitMs: number;
  /** Bound on one store write; a write that takes longer is retried (idempotent). */
  writeTimeoutMs: number;
  connectTimeoutMs: number;
}

export interface IngestStats {
  connected: boolean;
  consumed: number;
  /** Messages the broker delivered again (redelivered flag): after a consumer died or a channel closed. */
  redelivered: number;
  inserted: number;
  /** Items whose uid was already stored (redeliveries that reached the store). */
  duplicates: number;
  /** Messages that can never be stored (unparseable): rejected to the dead queue. */
  rejected: number;
  batches: number;
  lastBatchSize: number;
  maxBatchSize: number;
  writeFailures: number;
  lastWriteMs: number;
  /** Messages received and not yet acknowledged. */
  unacked: number;
  lastError: string | null;
}

/**
 * The ingest role: consumes the ingest queue with manual acks (prefetch bounded), groups messages
 * into batches (batchSize, or what arrived within batchWaitMs), writes each batch through the
 * CentralIngestStore in one transaction, and acknowledges its messages only after the commit. Up
 * to `writers` batches are written at once (a second one only when a full batch waits): while the
 * database stores one batch, this process parses and encodes the next, and a second database
 * connection works beside the first. A failing write is retried with backoff while its messages
 * stay unacknowledged; if this process dies they are redelivered to the next consumer and the
 * store skips their uids, so nothing is lost and nothing is stored twice.
 */
export class IngestConsumer {
  private readonly link: AmqpLink;
  private readonly sleeper = new Sleeper();
  /** Messages received and not yet given to a writer. */
  private pending: amqp.ConsumeMessage[] = [];
  private pendingChannel: amqp.Channel | undefined;
  /** Batches being written, and the messages in them. */
  private readonly inFlight = new Set<Promise<void>>();
  private inFlightMessages = 0;
  /** The sleepers of writers backing off after a failed write (stop() wakes them). */
  private readonly backoffs = new Set<Sleeper>();
  private loop: Promise<void> | undefined;
  private stopping = false;
  private failures = 0;
  private batchTimer: NodeJS.Timeout | undefined;
  private readonly counters = {
    consumed: 0, redelivered: 0, inserted: 0, duplicates: 0, rejected: 0, batches: 0, lastBatchSize: 0, maxBatchSize: 0, writeFailures: 0, lastWriteMs: 0,
  };

  constructor(
    private readonly deps: { store: CentralIngestStore; logger: Logger },
    private readonly options: IngestConsumerOptions,
  ) {
    const t = options.topology;
    this.link = new AmqpLink(
      { logger: deps.logger, onLost: () => this.sleeper.wake() },
      { url: options.url, connectTimeoutMs: options.connectTimeoutMs, connectionName: `capture-daemon ingest ${options.nodeId}` },
      (model) => model.createChannel(),
      async (ch) => {
        await ch.assertQueue(t.deadQueue, deadQueueOptions());
        await ch.assertQueue(t.ingestQueue, ingestQueueOptions(t));
        await ch.prefetch(options.prefetch);
        this.pending = [];
        this.pendingChannel = ch;
        await ch.consume(t.ingestQueue, (msg) => msg && this.onMessage(ch, msg), { noAck: false });
      },
    );
  }

  start(): void {
    this.loop ??= this.run().catch((err: unknown) => this.deps.logger.error({ err: errorMessage(err) }, 'ingest stopped by an unexpected error'));
  }

  /** Finishes the batches being written (their acks are sent), then closes: unacked messages go back to the queue. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.batchTimer);
    this.sleeper.wake();
    for (const s of this.backoffs) s.wake();
    await this.loop;
    await this.link.close();
  }

  stats(): IngestStats {
    return { connected: this.link.connected, ...this.counters, unacked: this.pending.length + this.inFlightMessages, lastError: this.link.lastError ?? null };
  }

  private onMessage(ch: amqp.Channel, msg: amqp.ConsumeMessage): void {
    if (ch !== this.pendingChannel) return;
    this.counters.consumed++;
    if (msg.fields.redelivered) this.counters.redelivered++;
    this.pending.push(msg);
    if (this.pending.length >= this.options.batchSize) this.sleeper.wake();
    else this.batchTimer ??= setTimeout(() => {
      this.batchTimer = undefined;
      this.sleeper.wake();
    }, this.options.batchWaitMs);
  }

  private async run(): Promise<void> {
    const writers = Math.max(1, this.options.writers ?? 1);
    while (!this.stopping) {
      let ch: amqp.Channel;
      try {
        ch = await this.link.open();
      } catch (err) {
        await this.backoff(errorMessage(err), this.sleeper);
        continue;
      }
      // A batch goes to a free writer: whatever is pending when no write is in flight (as with one
      // writer), only a full batch beside a write in flight, none while writes are failing.
      const busy = this.inFlight.size;
      const free = busy < writers && (busy === 0 || (this.failures === 0 && this.pending.length >= this.options.batchSize));
      if (this.pending.length === 0 || !free) {
        await this.sleeper.sleep(1_000);
        continue;
      }
      const batch = this.pending.splice(0, this.options.batchSize);
      this.inFlightMessages += batch.length;
      const job = this.writeUntilStored(ch, batch).finally(() => {
        this.inFlight.delete(job);
        this.inFlightMessages -= batch.length;
        this.sleeper.wake();
      });
      this.inFlight.add(job);
    }
    await Promise.all(this.inFlight);
  }

  /** Writes a batch, retrying with backoff, and acknowledges it after the commit (not if its channel was lost). */
  private async writeUntilStored(ch: amqp.Channel, batch: amqp.ConsumeMessage[]): Promise<void> {
    const sleeper = new Sleeper();
    this.backoffs.add(sleeper);
    try {
      for (;;) {
        const error = await this.write(batch);
        if (this.link.channel !== ch) return; // channel lost: its messages come again (redelivered)
        if (error === undefined) {
          for (const m of batch) ch.ack(m);
          this.failures = 0;
          return;
        }
        if (this.stopping) return; // unacknowledged: back to the queue when the channel closes
        await this.backoff(error, sleeper);
        if (this.stopping || this.link.channel !== ch) return;
      }
    } finally {
      this.backoffs.delete(sleeper);
    }
  }

  /** Writes one batch; returns an error message when the store failed (the messages stay unacked). */
  private async write(batch: amqp.ConsumeMessage[]): Promise<string | undefined> {
    const captures: ForwardedCapture[] = [];
    const sightings: ForwardedSighting[] = [];
    const good: amqp.ConsumeMessage[] = [];
    for (const m of batch) {
      const parsed = parseIngestMessage(m.properties.type as unknown, m.content);
      if (!parsed.ok) {
        this.counters.rejected++;
        this.deps.logger.warn({ messageId: m.properties.messageId as unknown, reason: parsed.reason }, 'ingest message cannot be stored: rejected to the dead queue');
        this.pendingChannel?.nack(m, false, false);
        continue;
      }
      good.push(m);
      if (parsed.kind === 'capture') captures.push(parsed.item);
      else sightings.push(parsed.item);
    }
    // Rejected messages are settled already: leave only the good ones for the ack.
    if (good.length !== batch.length) {
      this.inFlightMessages -= batch.length - good.length;
      batch.splice(0, batch.length, ...good);
    }
    if (good.length === 0) return undefined;
    const started = Date.now();
    try {
      const write = async (): Promise<void> => {
        const c = await this.deps.store.ingestCaptures(captures);
        const s = await this.deps.store.ingestSightings(sightings);
        this.counters.inserted += c.inserted + s.inserted;
        this.counters.duplicates += c.duplicates + s.duplicates;
      };
      await withTimeout(write(), this.options.writeTimeoutMs, 'writing an ingest batch');
    } catch (err) {
      this.counters.writeFailures++;
      return errorMessage(err);
    }
    this.counters.lastWriteMs = Date.now() - started;
    this.counters.batches++;
    this.counters.lastBatchSize = good.length;
    this.counters.maxBatchSize = Math.max(this.counters.maxBatchSize, good.length);
    return undefined;
  }

  private async backoff(error: string, sleeper: Sleeper): Promise<void> {
    this.failures++;
    const delay = backoffDelay(this.failures, DEFAULT_BACKOFF);
    if (this.failures === 1 || this.failures % 20 === 0) this.deps.logger.warn({ err: error, retryInMs: delay }, 'ingest failed: retrying');
    await sleeper.sleep(delay);
  }
}
