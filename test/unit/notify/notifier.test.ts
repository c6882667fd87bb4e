import { afterEach, describe, expect, it } from 'vitest';
import type Mail from 'nodemailer/lib/mailer/index.js';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { EmailDigest, defaultDigestOptions, type MailTransport } from '../../../src/notify/email-digest.js';
import { notifyTargetsOf, type NotifyConfig } from '../../../src/notify/notifier.js';
import { formatNotifyStatus } from '../../../src/notify/notify-status.js';
import { TargetStats } from '../../../src/notify/target-stats.js';
import { memoryLogger, openTestStore, storeCaptures, waitFor, type TestStore, startedNotifications } from './notify-fixtures.js';


let store: TestStore | undefined;
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (stops.length) await (stops.pop() as () => Promise<void>)();
  store?.cleanup();
  store = undefined;
});

function config(over: Partial<NotifyConfig> = {}): NotifyConfig {
  return {
    outboxMaxRows: 1_000_000,
    amqp: { enabled: false, url: 'amqp://guest:guest@127.0.0.1:1', exchange: 'capture', maxInFlight: 100, maxMessageBytes: 4096 },
    email: { enabled: false, from: 'a@b.c', digestMinutes: 15, csvRowLimit: 100, smtp: { host: '127.0.0.1', port: 1, secure: false, requireTLS: false, tls: { rejectUnauthorized: true } } },
    ...over,
  };
}

class FakeTransport implements MailTransport {
  sent: Mail.Options[] = [];
  delayMs = 0;
  async sendMail(mail: Mail.Options): Promise<SMTPTransport.SentMessageInfo> {
    await new Promise((r) => setTimeout(r, this.delayMs));
    this.sent.push(mail);
    return {
      accepted: [String(mail.to)],
      rejected: [],
      pending: [],
      messageId: String(mail.messageId),
      response: '250 ok',
      envelope: { from: '', to: [] },
    } as unknown as SMTPTransport.SentMessageInfo;
  }
  close(): void {}
}

describe('notifyTargetsOf', () => {
  it('asks for a target only when the filter wants it and the target is enabled', () => {
    const on = { amqp: { enabled: true }, email: { enabled: true } };
    expect(notifyTargetsOf({ name: 'f', notify: { amqp: true, email: ['x@y.z'] } }, on)).toEqual(['amqp', 'email']);
    expect(notifyTargetsOf({ name: 'f', notify: { amqp: false, email: [] } }, on)).toEqual([]);
    expect(notifyTargetsOf({ name: 'f', notify: { amqp: true, email: ['x@y.z'] } }, { amqp: { enabled: false }, email: { enabled: true } })).toEqual(['email']);
  });
});

describe('createNotifications', () => {
  it('warns (rate-limited) above outboxMaxRows, keeps every row, and says when it is back under', async () => {
    store = openTestStore();
    const log = memoryLogger();
    const n = startedNotifications({ outbox: store.outbox, captures: store.captures, filters: () => [], logger: log.logger }, config({ outboxMaxRows: 10 }), {
      monitorIntervalMs: 20,
      overLimitWarnIntervalMs: 60_000,
      statusCacheMs: 0,
    });
    stops.push(() => n.stop());
    storeCaptures(store, 15, { targets: ['amqp'] });
    await waitFor(() => log.warnings().some((w) => String(w.msg).includes('above notify.outboxMaxRows') && w.outboxMaxRows === 10), 2000);
    await new Promise((r) => setTimeout(r, 150));
    const over = log.warnings().filter((w) => String(w.msg).includes('above notify.outboxMaxRows'));
    expect(over).toHaveLength(1);
    expect(over[0]).toMatchObject({ outboxRows: 15, outboxMaxRows: 10, amqpBacklog: 15 });
    expect(String(over[0]!.msg)).toContain('nothing is dropped');
    // Captures keep being stored with their rows.
    storeCaptures(store, 5, { targets: ['amqp'], start: 100 });
    const st = n.status();
    expect(st.outbox).toEqual({ pending: 20, parked: 0, maxRows: 10, overLimit: true });
    expect(st.amqp).toMatchObject({ enabled: false, backlog: 20 });
    expect(Date.parse(st.amqp.oldestPendingAt!)).toBeLessThanOrEqual(Date.now());
    expect(formatNotifyStatus(st).join('\n')).toContain('WARNING 20 rows > notify.outboxMaxRows 10');

    store.db.prepare('DELETE FROM outbox').run();
    await waitFor(() => log.lines.some((l) => String(l.msg).includes('back under')), 2000);
  });

  it('warns at start about rows of a disabled target and about parked rows', async () => {
    store = openTestStore();
    storeCaptures(store, 3, { targets: ['email'] });
    store.outbox.park([{ id: store.outbox.nextBatch('email', 1)[0]!.id, reason: 'poison' }]);
    const log = memoryLogger();
    const n = startedNotifications({ outbox: store.outbox, captures: store.captures, filters: () => [], logger: log.logger }, config());
    stops.push(() => n.stop());
    expect(log.warnings()).toContainEqual(
      expect.objectContaining({ msg: 'notifications wait in the outbox but their target is disabled: they are kept until it is enabled again', target: 'email', backlog: 2, setting: 'notify.email.enabled' }),
    );
    expect(log.warnings()).toContainEqual(expect.objectContaining({ msg: 'notifications are parked', target: 'email', parked: 1 }));
    expect(n.unpark('email')).toBe(1);
    expect(n.status().email).toMatchObject({ backlog: 3, parked: 0 });
  });

  it('formats status lines per target', () => {
    const now = Date.parse('2026-01-01T00:10:00Z');
    const lines = formatNotifyStatus(
      {
        outbox: { pending: 5, parked: 1, maxRows: 100, overLimit: false },
        amqp: {
          enabled: true,
          backlog: 5,
          oldestPendingAt: '2026-01-01T00:09:50.000Z',
          parked: 1,
          lastSuccessAt: '2026-01-01T00:09:30.000Z',
          lastError: { at: '2026-01-01T00:05:00.000Z', message: 'CONNECTION_FORCED - test' },
          delivered: 100,
          failed: 3,
          retried: 3,
          parkedSinceStart: 1,
          nextRetryAt: null,
          connected: true,
          details: {},
        },
        email: {
          enabled: false,
          backlog: 0,
          oldestPendingAt: null,
          parked: 0,
          lastSuccessAt: null,
          lastError: null,
          delivered: 0,
          failed: 0,
          retried: 0,
          parkedSinceStart: 0,
          nextRetryAt: null,
          connected: false,
          details: {},
        },
      },
      now,
    );
    expect(lines).toEqual([
      'amqp       up · backlog 5 (oldest 10 s ago) · parked 1 · last delivery 30 s ago · delivered 100 · failed 3 · retried 3',
      '           last error 5 min ago: CONNECTION_FORCED - test',
      'email      off',
    ]);
  });
});

describe('EmailDigest (fake transport)', () => {
  it('a flush during a scheduled send does not send the same digest twice', async () => {
    store = openTestStore();
    storeCaptures(store, 3, { targets: ['email'], filterOf: () => 'f' });
    const transport = new FakeTransport();
    transport.delayMs = 100;
    const digest = new EmailDigest(
      {
        outbox: store.outbox,
        captures: store.captures,
        filters: () => [{ name: 'f', notify: { email: ['x@y.z'] } }],
        transport,
        stats: new TargetStats('email', true),
        logger: memoryLogger().logger,
      },
      defaultDigestOptions('a@b.c', 60_000, 10),
    );
    stops.push(() => digest.stop());
    await Promise.all([digest.flush(), digest.flush(), digest.flush()]);
    expect(transport.sent).toHaveLength(1);
    expect(store.outbox.countPending()).toBe(0);
  });

  it('splits a large backlog into digests of maxDigestRows, sent back to back', async () => {
    store = openTestStore();
    storeCaptures(store, 25, { targets: ['email'], filterOf: () => 'f' });
    const transport = new FakeTransport();
    const digest = new EmailDigest(
      {
        outbox: store.outbox,
        captures: store.captures,
        filters: () => [{ name: 'f', notify: { email: ['x@y.z'] } }],
        transport,
        stats: new TargetStats('email', true),
        logger: memoryLogger().logger,
      },
      { ...defaultDigestOptions('a@b.c', 60_000, 10), maxDigestRows: 10 },
    );
    stops.push(() => digest.stop());
    await digest.flush();
    expect(transport.sent.map((m) => m.subject)).toEqual([
      '[capture-daemon] f: 10 peers captured',
      '[capture-daemon] f: 10 peers captured',
      '[capture-daemon] f: 5 peers captured',
    ]);
    expect(new Set(transport.sent.map((m) => m.messageId)).size).toBe(3);
  });
});
