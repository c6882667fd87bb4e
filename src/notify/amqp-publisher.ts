import { once } from 'node:events';
import * as amqp from 'amqplib';
import { toPeerJson, type PeerJson } from '../api-shape/peer-json.js';
import { errorMessage } from '../util/app-error.js';
import type { Logger } from '../util/logger.js';
import { RateLimiter, redactUrl } from './async-util.js';
import type { CaptureLookup, DeliveryOutcome, NotificationSink, OutboxItem } from './types.js';

/** The message body: one element of the API's `peers` array, plus the filter it was captured for. */
export type CaptureMessage = PeerJson & { filter: string };

export interface AmqpPublisherOptions {
  /** amqp:// or amqps:// URL (credentials, vhost, `?heartbeat=` as usual). */
  url: string;
  /** Durable topic exchange; asserted on every (re)connect. */
  exchange: string;
  /** A body larger than this is parked instead of published. */
  maxMessageBytes: number;
  /** TCP + AMQP handshake bound. */
  connectTimeoutMs?: number;
  /** Shown by `rabbitmqctl list_connections client_properties` and the management UI. */
  connectionName?: string;
}

/** The stable message id of a capture: the same capture always has the same id, duplicates included. */
export function captureMessageId(captureId: number): string {
  return `capture-${captureId}`;
}

/** Body of the message for `record` notified on behalf of `filter` (as bytes, exactly what is published). */
export function captureMessageBody(record: Parameters<typeof toPeerJson>[0], filter: string): Buffer {
  const msg: CaptureMessage = { ...toPeerJson(record), filter };
  return Buffer.from(JSON.stringify(msg), 'utf8');
}

/** AMQP reply code PRECONDITION_FAILED: RabbitMQ closes the channel with it for a message above max_message_size. */
const PRECONDITION_FAILED = 406;

interface Pending {
  id: number;
  size: number;
  resolve: (err: unknown) => void;
}

/**
 * Publishes outbox rows to RabbitMQ: a ConfirmChannel on one connection, a durable topic exchange,
 * routing key = filter name, persistent messages with messageId `capture-<captureId>`. Implements the
 * NotificationSink port; reconnecting is driven by the relay (open() after a backoff), so an unreachable
 * broker never blocks anything else.
 *
 * Poison: a body above maxMessageBytes (or a capture that no longer exists) is parked before publishing.
 * If the broker itself refuses a message (406, e.g. its max_message_size is lower than ours), the
 * message whose size the broker names is parked; if none can be told apart, the next window is published
 * one message at a time, so the culprit fails alone and is parked.
 */
export class AmqpPublisher implements NotificationSink {
  readonly target = 'amqp' as const;
  private model: amqp.ChannelModel | undefined;
  private channel: amqp.ConfirmChannel | undefined;
  private connecting: Promise<void> | undefined;
  private lastChannelError: (Error & { code?: number }) | undefined;
  private pending = new Map<number, Pending>();
  private probe = 0;
  private blockedReason: string | undefined;
  private unroutable = 0;
  private readonly listeners: Array<(reason: string) => void> = [];
  private readonly warnLimiter = new RateLimiter(60_000);
  private closing = false;
  private publishing: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: { captures: CaptureLookup; logger: Logger },
    private readonly options: AmqpPublisherOptions,
  ) {}

  /** For status: exchange, connection state, broker flow control, unroutable messages. */
  details(): Record<string, unknown> {
    return {
      url: redactUrl(this.options.url),
      exchange: this.options.exchange,
      blocked: this.blockedReason ?? null,
      unroutable: this.unroutable,
    };
  }

  get connected(): boolean {
    return this.channel !== undefined;
  }

  onUnavailable(listener: (reason: string) => void): void {
    this.listeners.push(listener);
  }

  async open(): Promise<void> {
    if (this.channel) return;
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    await this.connecting;
  }

  private async connect(): Promise<void> {
    const { logger } = this.deps;
    if (!this.model) {
      const model = await amqp.connect(this.options.url, {
        timeout: this.options.connectTimeoutMs ?? 10_000,
        clientProperties: { connection_name: this.options.connectionName ?? 'capture-daemon notifications' },
      });
      model.on('error', (err: Error & { code?: number }) => {
        if (this.model === model) this.lastChannelError = err;
        logger.warn({ err: errorMessage(err), code: err.code }, 'RabbitMQ connection error');
      });
      model.on('close', (err?: Error & { code?: number }) => {
        if (this.model !== model) return;
        // A broker-forced close (320, e.g. rabbitmqctl close_connection, shutdown) comes only here, not as 'error'.
        if (err) this.lastChannelError = err;
        this.model = undefined;
        this.dropChannel('connection closed');
        if (!this.closing) logger.warn({ err: err ? errorMessage(err) : undefined }, 'RabbitMQ connection closed: reconnecting with backoff');
        if (!this.closing) for (const l of this.listeners) l(err ? errorMessage(err) : 'connection closed');
      });
      model.on('blocked', (reason: string) => {
        this.blockedReason = reason;
        logger.warn({ reason }, 'RabbitMQ blocked this connection (resource alarm): publishing waits');
      });
      model.on('unblocked', () => {
        this.blockedReason = undefined;
        logger.info('RabbitMQ unblocked this connection');
      });
      this.model = model;
      logger.info({ url: redactUrl(this.options.url) }, 'connected to RabbitMQ');
    }
    const ch = await this.model.createConfirmChannel();
    ch.on('error', (err: Error & { code?: number }) => {
      if (this.channel === ch || this.channel === undefined) this.lastChannelError = err;
      logger.warn({ err: errorMessage(err), code: err.code }, 'RabbitMQ channel error');
    });
    ch.on('close', () => {
      if (this.channel === ch) this.dropChannel('channel closed');
    });
    ch.on('return', (msg: amqp.Message) => {
      this.unroutable++;
      if (this.warnLimiter.allow(`unroutable:${msg.fields.routingKey}`)) {
        logger.warn(
          { exchange: this.options.exchange, routingKey: msg.fields.routingKey, messageId: msg.properties.messageId },
          'message not routed to any queue: RabbitMQ dropped it (bind a queue to the exchange, or set an alternate exchange)',
        );
      }
    });
    try {
      await ch.assertExchange(this.options.exchange, 'topic', { durable: true });
    } catch (err) {
      throw new Error(`cannot declare exchange "${this.options.exchange}" (durable topic): ${errorMessage(err)}`, { cause: err });
    }
    this.lastChannelError = undefined;
    this.channel = ch;
  }

  /** Forget the channel; every publish still waiting for its confirm fails. */
  private dropChannel(reason: string): void {
    this.channel = undefined;
    const pending = [...this.pending.values()];
    this.pending.clear();
    const err = this.lastChannelError ?? new Error(reason);
    for (const p of pending) p.resolve(err);
  }

  reset(reason: string): void {
    const ch = this.channel;
    const model = this.model;
    this.dropChannel(reason);
    this.model = undefined;
    ch?.close().catch(() => undefined);
    model?.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closing = true;
    const ch = this.channel;
    const model = this.model;
    this.dropChannel('publisher closed');
    this.model = undefined;
    try {
      await ch?.close();
    } catch {
      // Already closed with its connection.
    }
    try {
      await model?.close();
    } catch {
      // Already closed.
    }
  }

  /** 1 while narrowing down a message the broker refused; otherwise no cap. */
  maxBatch(): number | undefined {
    return this.probe > 0 ? 1 : undefined;
  }

  async deliver(items: readonly OutboxItem[]): Promise<DeliveryOutcome> {
    // Overlapping calls (the relay pipelines) publish one after the other, in call order, on one channel.
    const previous = this.publishing;
    let published!: () => void;
    this.publishing = new Promise<void>((r) => (published = r));
    const probing = this.probe > 0;
    const window = probing ? items.slice(0, 1) : items;
    const parked: DeliveryOutcome['parked'] = [];
    const confirms: Array<Promise<{ id: number; size: number; err: unknown }>> = [];
    let publishError: unknown;
    try {
      await previous;
      publishError = await this.publishAll(window, parked, confirms);
    } finally {
      published();
    }
    return this.outcome(window, probing, parked, await Promise.all(confirms), publishError);
  }

  /** Publishes `window` in order; returns an error when it had to stop early (channel gone). */
  private async publishAll(
    window: readonly OutboxItem[],
    parked: DeliveryOutcome['parked'],
    confirms: Array<Promise<{ id: number; size: number; err: unknown }>>,
  ): Promise<unknown> {
    const ch = this.channel;
    if (!ch) return this.lastChannelError ?? new Error('not connected to RabbitMQ');
    const { exchange, maxMessageBytes } = this.options;
    for (const item of window) {
      const record = this.deps.captures.get(item.captureId);
      if (!record) {
        parked.push({ id: item.id, reason: `capture ${item.captureId} not found` });
        continue;
      }
      if (Buffer.byteLength(item.filter) > 255) {
        parked.push({ id: item.id, reason: 'routing key (filter name) longer than 255 bytes' });
        continue;
      }
      const body = captureMessageBody(record, item.filter);
      if (body.length > maxMessageBytes) {
        parked.push({ id: item.id, reason: `message too large: ${body.length} bytes > notify.amqp.maxMessageBytes ${maxMessageBytes}` });
        continue;
      }
      if (this.channel !== ch) return this.lastChannelError ?? new Error('channel closed');
      let writable = true;
      const confirmed = new Promise<{ id: number; size: number; err: unknown }>((resolve) => {
        const entry: Pending = { id: item.id, size: body.length, resolve: (err) => resolve({ id: item.id, size: body.length, err }) };
        this.pending.set(item.id, entry);
        try {
          writable = ch.publish(
            exchange,
            item.filter,
            body,
            {
              persistent: true,
              mandatory: true,
              contentType: 'application/json',
              contentEncoding: 'utf-8',
              messageId: captureMessageId(item.captureId),
              // AMQP timestamps are seconds. When the capture was stored: the same on every retry.
              timestamp: Math.floor(item.createdAt / 1000),
              type: 'capture',
              appId: 'capture-daemon',
            },
            (err: unknown) => {
              if (this.pending.get(item.id) === entry) this.pending.delete(item.id);
              resolve({ id: item.id, size: body.length, err: err ?? undefined });
            },
          );
        } catch (err) {
          this.pending.delete(item.id);
          resolve({ id: item.id, size: body.length, err });
        }
      });
      confirms.push(confirmed);
      if (!writable && this.channel === ch) {
        // Back-pressure: the socket buffer is full; wait for it to drain (or the channel to close).
        await Promise.race([once(ch, 'drain'), once(ch, 'close')]);
      }
    }
    return undefined;
  }

  private outcome(
    window: readonly OutboxItem[],
    probing: boolean,
    parked: DeliveryOutcome['parked'],
    results: ReadonlyArray<{ id: number; size: number; err: unknown }>,
    publishError: unknown,
  ): DeliveryOutcome {
    const delivered: number[] = [];
    const failed: Array<{ id: number; size: number; err: unknown }> = [];
    for (const r of results) {
      if (r.err === undefined || r.err === null) delivered.push(r.id);
      else failed.push(r);
    }
    // Everything in the window neither confirmed nor parked failed (published and nacked, or never sent).
    const done = new Set([...delivered, ...parked.map((p) => p.id)]);
    let failedIds = window.filter((i) => !done.has(i.id)).map((i) => i.id);
    if (failedIds.length === 0) {
      if (probing) this.probe = Math.max(0, this.probe - window.length);
      return { delivered, parked };
    }

    const chErr = this.lastChannelError;
    const error = errorMessage(chErr ?? failed[0]?.err ?? publishError ?? 'not confirmed');
    if (chErr?.code === PRECONDITION_FAILED) {
      // The broker refused a message: find it by the size it names, else narrow it down one by one.
      const size = /message size (\d+)/i.exec(chErr.message)?.[1];
      const culprits = size === undefined ? [] : failed.filter((f) => f.size === Number(size));
      const culprit = probing && failed.length === 1 ? failed[0] : culprits.length === 1 ? culprits[0] : undefined;
      if (culprit) {
        parked.push({ id: culprit.id, reason: `refused by RabbitMQ: ${error}` });
        failedIds = failedIds.filter((id) => id !== culprit.id);
        if (probing) this.probe = Math.max(0, this.probe - 1);
      } else {
        this.probe = Math.max(this.probe, failedIds.length);
      }
    }
    return { delivered, parked, failed: failedIds.length > 0 ? { ids: failedIds, error } : undefined };
  }
}
