import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { promisify } from 'node:util';
import * as amqp from 'amqplib';
import type { CaptureMessage } from '../../../src/notify/amqp-publisher.js';

const exec = promisify(execFile);

export const BROKER_HOST = '127.0.0.1';
export const BROKER_PORT = 5672;

export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await exec('rabbitmqctl', args, { timeout: 30_000 });
  return stdout;
}

/** A vhost of its own for one test file (deleting it removes every exchange and queue made in it). */
export async function createVhost(): Promise<{ vhost: string; url: (port?: number) => string; remove: () => Promise<void> }> {
  const vhost = uniqueName('cdtest');
  await rabbitmqctl('add_vhost', vhost);
  await rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
  return {
    vhost,
    url: (port = BROKER_PORT) => `amqp://guest:guest@${BROKER_HOST}:${port}/${encodeURIComponent(vhost)}`,
    remove: async () => {
      await rabbitmqctl('delete_vhost', vhost).catch(() => undefined);
    },
  };
}

/** Declares the exchange (durable topic, as the publisher does) and a durable queue bound with `pattern`. */
export async function declareQueue(url: string, exchange: string, queue: string, pattern = '#'): Promise<void> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    await ch.assertExchange(exchange, 'topic', { durable: true });
    await ch.assertQueue(queue, { durable: true });
    await ch.bindQueue(queue, exchange, pattern);
    await ch.close();
  } finally {
    await conn.close().catch(() => undefined);
  }
}

export interface Received {
  routingKey: string;
  messageId: string | undefined;
  body: CaptureMessage;
  raw: string;
  properties: amqp.MessageProperties;
  redelivered: boolean;
}

export interface Collector {
  received: Received[];
  reconnects: number;
  close(): Promise<void>;
}

/**
 * Consumes `queue` (manual acks) and keeps everything it gets. Survives the broker closing its
 * connection: it reconnects, and whatever it had not acked comes again (marked redelivered).
 */
export async function startCollector(url: string, queue: string): Promise<Collector> {
  let closed = false;
  let conn: amqp.ChannelModel | undefined;
  const c: Collector = {
    received: [],
    reconnects: 0,
    async close() {
      closed = true;
      await conn?.close().catch(() => undefined);
    },
  };
  const connect = async (): Promise<void> => {
    for (;;) {
      if (closed) return;
      try {
        const m = await amqp.connect(url, { clientProperties: { connection_name: 'test collector' } });
        m.on('error', () => undefined);
        m.on('close', () => {
          if (closed) return;
          c.reconnects++;
          void connect();
        });
        const ch = await m.createChannel();
        ch.on('error', () => undefined);
        await ch.prefetch(2000);
        await ch.consume(queue, (msg) => {
          if (!msg) return;
          const raw = msg.content.toString('utf8');
          c.received.push({
            routingKey: msg.fields.routingKey,
            messageId: msg.properties.messageId as string | undefined,
            body: JSON.parse(raw) as CaptureMessage,
            raw,
            properties: msg.properties,
            redelivered: msg.fields.redelivered,
          });
          ch.ack(msg);
        });
        conn = m;
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
  await connect();
  return c;
}

/** A TCP forwarder to the broker that can be started late and stopped (the "broker" goes away and comes back). */
export class BrokerProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(readonly port: number) {}

  static async freePort(): Promise<number> {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }

  async start(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(BROKER_PORT, BROKER_HOST);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.server = server;
  }

  /** Stops listening and cuts every forwarded connection. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}

/** First occurrence of each key, in arrival order. */
export function firstOccurrences<T>(items: readonly T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const t of items) {
    const k = key(t);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(t);
    }
  }
  return out;
}
