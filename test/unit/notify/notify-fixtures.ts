import path from 'node:path';
import { Writable } from 'node:stream';
import type { NewCapture } from '../../../src/model/capture.js';
import { createNotifications } from '../../../src/notify/notifier.js';
import type { DeliveryOutcome, NotificationSink, OutboxItem } from '../../../src/notify/types.js';
import { SqliteCaptureRepository } from '../../../src/store/capture-repository.js';
import { openDatabase, type Db } from '../../../src/store/open-database.js';
import { SqliteOutboxRepository } from '../../../src/store/outbox-repository.js';
import { createLogger, type Logger } from '../../../src/util/logger.js';
import { tempDir } from '../../helpers/temp-dir.js';

export interface TestStore {
  file: string;
  db: Db;
  captures: SqliteCaptureRepository;
  outbox: SqliteOutboxRepository;
  /** Reopens the same file (a "restart"); the old handle is closed. */
  reopen(): TestStore;
  cleanup(): void;
}

/** A fresh SQLite file in a temp dir, migrated, with the repositories. */
export function openTestStore(): TestStore {
  const t = tempDir('notify-test-');
  const file = path.join(t.dir, 'capture.db');
  const make = (): TestStore => {
    const db = openDatabase(file);
    const store: TestStore = {
      file,
      db,
      captures: new SqliteCaptureRepository(db),
      outbox: new SqliteOutboxRepository(db),
      reopen() {
        if (db.open) db.close();
        return make();
      },
      cleanup() {
        if (db.open) db.close();
        t.cleanup();
      },
    };
    return store;
  };
  return make();
}

const BASE = Date.UTC(2018, 5, 17, 5, 58, 36);

/** A deterministic capture; odd numbers are failed attempts. */
export function makeCapture(i: number, notify: NewCapture['notify'], extra: Partial<NewCapture> = {}): NewCapture {
  const ok = i % 2 === 0;
  const c: NewCapture = {
    foundAt: BASE + i,
    ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    port: 1024 + (i % 60000),
    infohash: (i.toString(16).padStart(8, '0') + 'd059053fd7122a95408346147b1edc01').slice(0, 40),
    countryCode: 'RU',
    city: 'Vladivostok',
    isp: 'Example ISP',
    filters: [...new Set((notify ?? []).map((n) => n.filter))],
    notify,
    ...extra,
  };
  if (ok && !('error' in extra)) {
    c.report = {
      date: BASE + i + 25_000,
      totalPiecesInTorrent: 3053,
      hasPieces: i % 3 === 0 ? 3053 : 17,
      hasTotal: i % 3 === 0,
      clientName: 'BitTorrent 7.10',
      hostIdentifier: `host-${i}.example.ru`,
    };
  } else if (!ok && !c.report) {
    c.error = 'connection timed out';
  }
  return c;
}

/** Stores `n` captures, each notified to `targets` for the filter chosen by `filterOf(i)`. Returns capture ids. */
export function storeCaptures(
  store: TestStore,
  n: number,
  opts: { targets?: Array<'amqp' | 'email'>; filterOf?: (i: number) => string; start?: number; now?: number } = {},
): number[] {
  const targets = opts.targets ?? ['amqp'];
  const filterOf = opts.filterOf ?? (() => 'f1');
  const start = opts.start ?? 0;
  const batch: NewCapture[] = [];
  for (let i = start; i < start + n; i++) {
    const filter = filterOf(i);
    batch.push(makeCapture(i, targets.map((target) => ({ filter, target }))));
  }
  return store.captures.insertMany(batch, opts.now);
}

export interface LogLine {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  msg: string;
  [k: string]: unknown;
}

/** A pino logger whose lines are kept in memory (level ≥ debug). */
export function memoryLogger(): { logger: Logger; lines: LogLine[]; warnings: () => LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  const logger = createLogger('debug', { pretty: false, destination: stream });
  return { logger, lines, warnings: () => lines.filter((l) => l.level === 'warn') };
}

export async function waitFor(cond: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

type Behaviour = (items: readonly OutboxItem[], call: number) => DeliveryOutcome | Promise<DeliveryOutcome>;

/** A scriptable NotificationSink: records every delivery; by default confirms everything. */
export class FakeSink implements NotificationSink {
  readonly target = 'amqp' as const;
  readonly calls: OutboxItem[][] = [];
  /** Every id confirmed, in confirmation order (duplicates included). */
  readonly confirmed: number[] = [];
  readonly resets: string[] = [];
  openError: Error | undefined;
  opens = 0;
  closed = false;
  behaviour: Behaviour = (items) => ({ delivered: items.map((i) => i.id), parked: [] });
  private unavailable: Array<(reason: string) => void> = [];

  async open(): Promise<void> {
    this.opens++;
    if (this.openError) throw this.openError;
  }

  async deliver(items: readonly OutboxItem[]): Promise<DeliveryOutcome> {
    this.calls.push([...items]);
    const out = await this.behaviour(items, this.calls.length);
    this.confirmed.push(...out.delivered);
    return out;
  }

  reset(reason: string): void {
    this.resets.push(reason);
  }

  onUnavailable(listener: (reason: string) => void): void {
    this.unavailable.push(listener);
  }

  fireUnavailable(): void {
    for (const l of this.unavailable) l('connection lost');
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** createNotifications(...) then start(), as the composition root does. */
export function startedNotifications(...args: Parameters<typeof createNotifications>): ReturnType<typeof createNotifications> {
  const n = createNotifications(...args);
  n.start();
  return n;
}
