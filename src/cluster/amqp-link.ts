import * as amqp from 'amqplib';
import { withTimeout } from '../notify/async-util.js';
import { errorMessage } from '../util/app-error.js';
import type { Logger } from '../util/logger.js';

export interface AmqpLinkOptions {
  url: string;
  connectTimeoutMs: number;
  /** Shown in the broker's connection list (rabbitmqctl list_connections client_properties). */
  connectionName: string;
}

/**
 * One RabbitMQ connection and one channel, opened on demand and dropped on any error, so the
 * owner's loop reconnects (after its backoff) with `open()`. `onLost` tells the owner at once.
 */
export class AmqpLink<C extends amqp.Channel = amqp.Channel> {
  private model: amqp.ChannelModel | undefined;
  private ch: C | undefined;
  private opening: Promise<C> | undefined;
  private closing = false;
  lastError: string | undefined;

  constructor(
    private readonly deps: { logger: Logger; onLost?: (reason: string) => void },
    private readonly options: AmqpLinkOptions,
    private readonly createChannel: (model: amqp.ChannelModel) => Promise<C>,
    private readonly setup: (ch: C) => Promise<void>,
  ) {}

  get channel(): C | undefined {
    return this.ch;
  }

  get connected(): boolean {
    return this.ch !== undefined;
  }

  /** The channel, connecting first when needed; throws (after connectTimeoutMs at most) when the broker is unreachable. */
  async open(): Promise<C> {
    if (this.ch) return this.ch;
    this.opening ??= withTimeout(this.connect(), this.options.connectTimeoutMs + 1_000, 'connecting to RabbitMQ').finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async connect(): Promise<C> {
    this.closing = false;
    const model = await amqp.connect(this.options.url, {
      timeout: this.options.connectTimeoutMs,
      clientProperties: { connection_name: this.options.connectionName },
    });
    let ch: C;
    try {
      model.on('error', (err: Error) => {
        this.lastError = errorMessage(err);
      });
      model.on('close', (err?: Error) => {
        if (this.model !== model) return;
        this.lost(err ? errorMessage(err) : 'connection closed');
      });
      ch = await this.createChannel(model);
      ch.on('error', (err: Error) => {
        this.lastError = errorMessage(err);
      });
      ch.on('close', () => {
        if (this.ch === ch) this.lost(this.lastError ?? 'channel closed');
      });
      await this.setup(ch);
    } catch (err) {
      await model.close().catch(() => undefined);
      throw err;
    }
    this.model = model;
    this.ch = ch;
    this.lastError = undefined;
    return ch;
  }

  private lost(reason: string): void {
    const model = this.model;
    this.model = undefined;
    this.ch = undefined;
    model?.close().catch(() => undefined);
    if (!this.closing) {
      this.lastError = reason;
      this.deps.logger.warn({ err: reason }, 'RabbitMQ link lost: reconnecting with backoff');
      this.deps.onLost?.(reason);
    }
  }

  /** Drops the connection (after a failed or timed-out step), so the next open() starts clean. */
  reset(reason: string): void {
    if (this.model || this.ch) this.lost(reason);
  }

  async close(): Promise<void> {
    this.closing = true;
    const model = this.model;
    this.model = undefined;
    this.ch = undefined;
    try {
      await model?.close();
    } catch {
      // Already closed.
    }
  }
}
