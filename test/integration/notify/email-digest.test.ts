import { afterEach, describe, expect, it } from 'vitest';
import {
  createSmtpTransport,
  defaultDigestOptions,
  EmailDigest,
  type EmailDigestOptions,
  type MailTransport,
} from '../../../src/notify/email-digest.js';
import type { NotifyConfig } from '../../../src/notify/notifier.js';
import { TargetStats } from '../../../src/notify/target-stats.js';
import { memoryLogger, openTestStore, storeCaptures, waitFor, type TestStore, startedNotifications } from '../../unit/notify/notify-fixtures.js';
import { BrokerProxy } from './amqp-helpers.js';
import { leaves, parseMime, selfSignedCert, startDroppingSmtp, startSmtp, type TestSmtp } from './smtp-helpers.js';


const FROM = 'Capture daemon <capture@example.org>';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<void>)();
});

function store(): TestStore {
  const s = openTestStore();
  cleanups.push(() => s.cleanup());
  return s;
}

async function smtp(port = 0, mode: TestSmtp['mode'] = 'accept'): Promise<TestSmtp> {
  const server = await startSmtp(port, mode);
  cleanups.push(() => server.close());
  return server;
}

const FILTERS = () => [
  { name: 'f-a', notify: { amqp: false, email: ['alice@example.org'] } },
  { name: 'f-b', notify: { amqp: false, email: ['bob@example.org', 'carol@example.org'] } },
  { name: 'f-none', notify: { amqp: false, email: [] } },
];

function digestFor(
  s: TestStore,
  port: number,
  options: Partial<EmailDigestOptions> = {},
  transport: MailTransport = createSmtpTransport({ host: '127.0.0.1', port, secure: false }),
) {
  const log = memoryLogger();
  const stats = new TargetStats('email', true);
  const digest = new EmailDigest(
    { outbox: s.outbox, captures: s.captures, filters: FILTERS, transport, stats, logger: log.logger },
    {
      // A day: no period boundary (aligned to the clock) falls inside a test unless it asks for a
      // short period; with a minute, a test that crossed hh:mm:00 sent an unexpected digest.
      ...defaultDigestOptions(FROM, 86_400_000, 5),
      backoff: { baseMs: 100, maxMs: 400, jitter: 0 },
      sendTimeoutMs: 10_000,
      ...options,
    },
  );
  cleanups.push(() => digest.stop());
  return { digest, stats, log };
}

function emailRows(s: TestStore): Array<{ id: number; filter: string; attempts: number; last_error: string | null; parked_reason: string | null }> {
  return s.db.prepare("SELECT id, filter, attempts, last_error, parked_reason FROM outbox WHERE target = 'email' ORDER BY id").all() as never;
}

describe('EmailDigest against a real SMTP server', () => {
  it('sends one digest per filter per period: recipients, text, HTML table, CSV beyond the row limit', async () => {
    const s = store();
    const server = await smtp();
    storeCaptures(s, 3, { targets: ['email'], filterOf: () => 'f-a' });
    storeCaptures(s, 12, { targets: ['email'], filterOf: () => 'f-b', start: 100 });
    const ids = emailRows(s).map((r) => r.id);
    const { digest, stats } = digestFor(s, server.port, { periodMs: 400 });
    digest.start();
    await waitFor(() => server.mails.length === 2, 5_000, 'two digests');
    await waitFor(() => emailRows(s).length === 0, 2_000);

    const a = server.mails.find((m) => m.to.includes('alice@example.org'))!;
    const b = server.mails.find((m) => m.to.includes('bob@example.org'))!;
    expect(a.to).toEqual(['alice@example.org']);
    expect(b.to).toEqual(['bob@example.org', 'carol@example.org']);
    expect(a.from).toBe('capture@example.org');

    const ma = parseMime(a.raw);
    expect(ma.headers.get('message-id')).toBe(`<digest.f-a.${ids[0]}-${ids[2]}.3@example.org>`);
    expect(ma.headers.get('subject')).toBe('[capture-daemon] f-a: 3 peers captured');
    expect(ma.headers.get('x-capture-digest')).toBe(`f-a ${ids[0]}-${ids[2]} 3`);
    expect(ma.headers.get('auto-submitted')).toBe('auto-generated');
    const la = leaves(ma);
    expect(la.map((p) => p.contentType.split(';')[0])).toEqual(['text/plain', 'text/html']); // no CSV at 3 ≤ 5
    expect(la[0]!.body).toContain('10.0.0.0:1024');
    expect(la[0]!.body).toContain('error: connection timed out');
    expect(la[1]!.body.match(/<tr>/g)).toHaveLength(4);

    const mb = parseMime(b.raw);
    const lb = leaves(mb);
    expect(lb.map((p) => p.contentType.split(';')[0])).toEqual(['text/plain', 'text/html', 'text/csv']);
    expect(lb[1]!.body.match(/<tr>/g)).toHaveLength(6); // header + the first 5
    expect(lb[0]!.body).toContain('… and 7 more peers: all 12 are in the attached');
    const csv = lb[2]!;
    expect(csv.headers.get('content-disposition')).toMatch(/attachment; filename=capture-f-b-\d+-\d+\.csv/);
    const csvLines = csv.body.trimEnd().split('\r\n');
    expect(csvLines).toHaveLength(13);
    expect(csvLines[1]).toMatch(/^2018-06-17T05:58:36\.100\+0000,10\.0\.0\.100,1124,/);

    expect(stats.delivered).toBe(15);
    expect(digest.digestsSent).toBe(2);

    // Captures stored now wait for the next period boundary and make a digest of their own.
    storeCaptures(s, 2, { targets: ['email'], filterOf: () => 'f-a', start: 500 });
    await waitFor(() => server.mails.length === 3, 5_000, 'next period');
    expect(parseMime(server.mails[2]!.raw).headers.get('subject')).toBe('[capture-daemon] f-a: 2 peers captured');
  });

  it('a refusing server (450 at RCPT, then 451 after DATA): kept, retried with backoff, then sent once with the same Message-ID', async () => {
    const s = store();
    const server = await smtp(0, 'refuse-rcpt');
    storeCaptures(s, 4, { targets: ['email'], filterOf: () => 'f-a' });
    const ids = emailRows(s).map((r) => r.id);
    const { digest, stats, log } = digestFor(s, server.port);
    await digest.flush();
    let rows = emailRows(s);
    expect(rows).toHaveLength(4);
    expect(rows.every((r) => r.attempts === 1 && /450/.test(r.last_error ?? ''))).toBe(true);
    expect(stats.failed).toBe(4);
    expect(stats.lastError?.message).toMatch(/450/);
    expect(log.warnings().some((w) => String(w.msg).includes('not sent'))).toBe(true);

    // More captures arrive meanwhile: they must not change the digest being retried.
    storeCaptures(s, 2, { targets: ['email'], filterOf: () => 'f-a', start: 50 });
    server.mode = 'refuse-data';
    digest.start(); // the schedule retries after the backoff (100 ms, 200 ms, ...)
    await waitFor(() => server.dataSeen >= 2, 5_000, 'two refused DATA');
    rows = emailRows(s);
    expect(rows.filter((r) => r.attempts > 0).map((r) => r.id)).toEqual(ids);
    server.mode = 'accept';
    await waitFor(() => server.mails.length === 1, 5_000, 'accepted');
    await new Promise((r) => setTimeout(r, 500));
    expect(server.mails).toHaveLength(1);
    const m = parseMime(server.mails[0]!.raw);
    expect(m.headers.get('message-id')).toBe(`<digest.f-a.${ids[0]}-${ids[3]}.4@example.org>`);
    expect(m.headers.get('subject')).toBe('[capture-daemon] f-a: 4 peers captured');
    // The two newer rows wait for their own digest; nothing was lost.
    expect(emailRows(s).map((r) => r.attempts)).toEqual([0, 0]);
    expect(stats.delivered).toBe(4);
    expect(stats.retried).toBeGreaterThanOrEqual(4);
    await digest.flush();
    expect(server.mails).toHaveLength(2);
    expect(emailRows(s)).toHaveLength(0);
  });

  it('a server that drops the connection mid-transaction: nothing lost, delivered when a working server is back', async () => {
    const s = store();
    const dropper = await startDroppingSmtp();
    cleanups.push(() => dropper.close());
    storeCaptures(s, 3, { targets: ['email'], filterOf: () => 'f-b' });
    const { digest, stats } = digestFor(s, dropper.port);
    await digest.flush();
    expect(dropper.drops).toBe(1);
    expect(emailRows(s).every((r) => r.attempts === 1 && r.last_error !== null)).toBe(true);
    expect(stats.lastError?.message).toMatch(/ECONNECTION|closed|Unexpected/i);
    expect(stats.connected).toBe(false);
    await digest.flush();
    expect(dropper.drops).toBe(2);

    await dropper.close();
    const server = await smtp(dropper.port);
    await digest.flush();
    expect(server.mails).toHaveLength(1);
    expect(server.mails[0]!.to).toEqual(['bob@example.org', 'carol@example.org']);
    expect(emailRows(s)).toHaveLength(0);
    expect(stats.connected).toBe(true);
  });

  it('some recipients refused: the others get it, it is not resent, and the refusal is reported', async () => {
    const s = store();
    const server = await smtp();
    server.refuseRecipients.add('carol@example.org');
    storeCaptures(s, 2, { targets: ['email'], filterOf: () => 'f-b' });
    const { digest, stats } = digestFor(s, server.port);
    await digest.flush();
    await digest.flush();
    expect(server.mails).toHaveLength(1);
    expect(server.mails[0]!.to).toEqual(['bob@example.org']);
    expect(emailRows(s)).toHaveLength(0);
    expect(stats.lastError?.message).toMatch(/refused some recipients of filter "f-b": carol@example.org/);
  });

  it('parks the rows of a filter that has no recipients (any more), with the reason', async () => {
    const s = store();
    const server = await smtp();
    storeCaptures(s, 2, { targets: ['email'], filterOf: () => 'f-none' });
    storeCaptures(s, 1, { targets: ['email'], filterOf: () => 'gone', start: 10 });
    const { digest, stats } = digestFor(s, server.port);
    await digest.flush();
    expect(server.mails).toHaveLength(0);
    expect(s.outbox.parkedReasons('email').map((r) => [r.filter, r.count])).toEqual([
      ['f-none', 2],
      ['gone', 1],
    ]);
    expect(s.outbox.parkedReasons('email')[0]?.reason).toMatch(/no email recipients for filter "f-none"/);
    expect(stats.parkedSinceStart).toBe(3);
  });

  it('restart: nothing sent twice; a crash after the server accepted re-sends the same Message-ID once', async () => {
    let s = store();
    const server = await smtp();
    storeCaptures(s, 3, { targets: ['email'], filterOf: () => 'f-a' });
    const first = digestFor(s, server.port);
    await first.digest.flush();
    await first.digest.stop();
    expect(server.mails).toHaveLength(1);

    s = s.reopen();
    cleanups.push(() => s.cleanup());
    const second = digestFor(s, server.port);
    await second.digest.flush();
    second.digest.start();
    await new Promise((r) => setTimeout(r, 300));
    expect(server.mails).toHaveLength(1); // nothing twice after a restart

    // Crash window: the server accepts, then the process dies before the rows are deleted.
    storeCaptures(s, 2, { targets: ['email'], filterOf: () => 'f-a', start: 10 });
    const real = createSmtpTransport({ host: '127.0.0.1', port: server.port, secure: false });
    const db = s.db;
    const crashing: MailTransport = {
      async sendMail(mail) {
        const info = await real.sendMail(mail);
        db.close(); // "kill -9" right after the 250
        return info;
      },
      close: () => real.close(),
    };
    const third = digestFor(s, server.port, {}, crashing);
    await expect(third.digest.flush()).rejects.toThrow(/not open/);
    expect(server.mails).toHaveLength(2);

    s = s.reopen();
    cleanups.push(() => s.cleanup());
    const fourth = digestFor(s, server.port);
    await fourth.digest.flush();
    await fourth.digest.flush();
    expect(server.mails).toHaveLength(3);
    const ids = server.mails.map((m) => parseMime(m.raw).headers.get('message-id'));
    expect(ids[2]).toBe(ids[1]); // the one duplicate a crash can cause carries the same Message-ID
    expect(parseMime(server.mails[2]!.raw).headers.get('subject')).toBe('[capture-daemon] f-a: 2 peers captured');
    expect(emailRows(s)).toHaveLength(0);
  });

  it('TLS: STARTTLS verified against a caFile; requireTLS refuses a server without STARTTLS; an untrusted certificate is refused', async () => {
    const s = store();
    const cert = selfSignedCert();
    cleanups.push(() => cert.cleanup());
    const tlsServer = await startSmtp(0, 'accept', cert);
    cleanups.push(() => tlsServer.close());
    const plainServer = await smtp();
    const base = { host: '127.0.0.1', secure: false };

    // Untrusted (self-signed, no caFile): nothing is sent, the rows stay with the reason.
    storeCaptures(s, 2, { targets: ['email'], filterOf: () => 'f-a' });
    const untrusted = digestFor(s, tlsServer.port, {}, createSmtpTransport({ ...base, port: tlsServer.port }));
    await untrusted.digest.flush();
    expect(tlsServer.mails).toHaveLength(0);
    expect(emailRows(s).map((r) => r.last_error)).toEqual([expect.stringMatching(/self[- ]signed certificate/i), expect.anything()]);
    await untrusted.digest.stop();

    // requireTLS against a server that does not offer STARTTLS: refused before any mail is sent.
    const required = digestFor(s, plainServer.port, {}, createSmtpTransport({ ...base, port: plainServer.port, requireTLS: true }));
    await required.digest.flush();
    expect(plainServer.mails).toHaveLength(0);
    expect(emailRows(s)[0]?.last_error).toMatch(/STARTTLS/);
    await required.digest.stop();

    // Trusted through caFile, STARTTLS required: delivered over TLS.
    const trusted = digestFor(s, tlsServer.port, {}, createSmtpTransport({ ...base, port: tlsServer.port, requireTLS: true, tls: { caFile: cert.certFile } }));
    await trusted.digest.flush();
    await trusted.digest.flush();
    expect(tlsServer.mails).toHaveLength(1);
    expect(tlsServer.mails[0]?.secure).toBe(true);
    expect(emailRows(s)).toHaveLength(0);

    expect(() => createSmtpTransport({ ...base, port: 25, tls: { caFile: '/nonexistent/ca.pem' } })).toThrow(
      /notify\.email\.smtp\.tls\.caFile: cannot read \/nonexistent\/ca\.pem: ENOENT/,
    );
  });

  it('notifications with the mail server down at start: warns, keeps the rows, delivers when it is back', async () => {
    const s = store();
    const port = await BrokerProxy.freePort();
    const log = memoryLogger();
    const config: NotifyConfig = {
      outboxMaxRows: 1_000_000,
      amqp: { enabled: false, url: 'amqp://127.0.0.1:1', exchange: 'x', maxInFlight: 10, maxMessageBytes: 4096 },
      email: { enabled: true, from: FROM, digestMinutes: 1, csvRowLimit: 10, smtp: { host: '127.0.0.1', port, secure: false, requireTLS: false, tls: { rejectUnauthorized: true } } },
    };
    const n = startedNotifications({ outbox: s.outbox, captures: s.captures, filters: FILTERS, logger: log.logger }, config, {
      email: { periodMs: 300, backoff: { baseMs: 100, maxMs: 300, jitter: 0 } },
      statusCacheMs: 0,
    });
    cleanups.push(() => n.stop());
    await waitFor(() => log.warnings().some((w) => String(w.msg).includes('SMTP server unreachable at start')), 5_000, 'start warning');
    storeCaptures(s, 3, { targets: ['email'], filterOf: () => 'f-a' });
    await waitFor(() => n.status().email.failed >= 3, 5_000, 'a failed attempt');
    const st = n.status();
    expect(st.email).toMatchObject({ enabled: true, backlog: 3, connected: false, delivered: 0 });
    expect(st.email.lastError?.message).toMatch(/ECONNREFUSED/);
    expect(st.amqp.enabled).toBe(false);

    const server = await smtp(port);
    await waitFor(() => server.mails.length === 1, 5_000, 'delivered after the server is back');
    await waitFor(() => n.status().email.backlog === 0, 2_000);
    expect(n.status().email).toMatchObject({ delivered: 3, connected: true });
    expect(n.status().email.details).toMatchObject({ digestsSent: 1, digestMinutes: 1 });
  });
});
