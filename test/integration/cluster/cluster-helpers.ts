import { randomBytes } from 'node:crypto';
import * as amqp from 'amqplib';
import type { NewCapture } from '../../../src/model/capture.js';
import { clusterTopology } from '../../../src/cluster/topology.js';
import { afterAll } from 'vitest';

export const BROKER = { host: '127.0.0.1', port: 5672 };
export const brokerUrl = (port = BROKER.port, host = BROKER.host): string => `amqp://guest:guest@${host}:${port}`;

/** A prefix of its own for one test run: every queue and exchange of the run is named after it. */
export function uniquePrefix(): string {
  return `cdtest-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Deletes every queue and exchange of `prefix` (those that exist). */
export async function deleteTopology(prefix: string): Promise<void> {
  const t = clusterTopology(prefix);
  const conn = await amqp.connect(brokerUrl());
  try {
    for (const q of [t.ingestQueue, t.deadQueue]) {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      await ch.deleteQueue(q).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
    for (const x of [t.configExchange, t.crawlerExchange]) {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      await ch.deleteExchange(x).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** Messages waiting in a queue (0 when it does not exist). */
export async function queueDepth(queue: string): Promise<number> {
  const conn = await amqp.connect(brokerUrl());
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    const q = await ch.checkQueue(queue).catch(() => ({ messageCount: 0 }));
    return q.messageCount;
  } finally {
    await conn.close().catch(() => undefined);
  }
}

export const IH = 'ef'.repeat(20);

/** Capture number `i` of crawler `node` (a distinct peer each). */
export function captureOf(node: number, i: number): NewCapture {
  return {
    foundAt: 1_700_000_000_000 + i,
    ip: `10.${node}.${(i >> 8) & 255}.${i & 255}`,
    port: 6881,
    infohash: IH,
    filters: ['watch'],
    report: { date: 1_700_000_000_500 + i, totalPiecesInTorrent: 100, hasPieces: i % 100, hasTotal: false, clientName: 'test', hostIdentifier: '' },
  };
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Cleanup steps run after the file's tests, last pushed first; a step that throws is logged and
 * the rest still run (a daemon that will not stop must not leave a schema or a namespace behind).
 */
export function teardownStack(): Array<() => unknown> {
  const steps: Array<() => unknown> = [];
  afterAll(async () => {
    while (steps.length) {
      try {
        await steps.pop()?.();
      } catch (err) {
        console.warn('teardown:', err);
      }
    }
  });
  return steps;
}
