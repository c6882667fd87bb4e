import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import type Mail from 'nodemailer/lib/mailer/index.js';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { toPeerJson, type PeerJson } from '../api-shape/peer-json.js';
import type { EmailFilterBacklog, OutboxRow } from '../store/outbox-repository.js';
import { AppError, errorMessage } from '../util/app-error.js';
import type { Logger } from '../util/logger.js';
import { RateLimiter, Sleeper, withTimeout } from './async-util.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { digestMessageId, renderDigest } from './email-render.js';
import type { TargetStats } from './target-stats.js';
import type { CaptureLookup } from './types.js';

/** The part of the outbox repository the digest uses. */
export interface DigestOutboxStore {
  emailBacklog(): EmailFilterBacklog[];
  claimDigest(filter: string, createdBefore: number, limit: number): OutboxRow[];
  settle(outcome: {
    delivered?: readonly number[];
    parked?: ReadonlyArray<{ id: number; reason: string }>;
    failed?: { ids: readonly number[]; error: string; nextAttemptAt: number; countAttempt?: boolean };
  }): void;
}

/** What the digest needs from nodemailer's transporter (a fake in unit tests). */
export interface MailTransport {
  sendMail(mail: Mail.Options): Promise<SMTPTransport.SentMessageInfo>;
  /** Connects and authenticates without sending (used once at start to warn early). */
  verify?(): Promise<unknown>;
  close(): void;
}

/** Recipients per filter, read at send time (so a config reload applies to the next digest). */
export type RecipientFilters = () => ReadonlyArray<{ name: string; notify: { email: readonly string[] } }>;

export interface SmtpConfig {
  host: string;
  port: number;
  /** true: TLS from the first byte (port 465). false: plain, upgraded with STARTTLS when the server offers it. */
  secure: boolean;
  /** With secure false: refuse to send unless the server offers STARTTLS and the upgrade succeeds. */
  requireTLS?: boolean;
  tls?: {
    /** Verify the server's certificate (default true). */
    rejectUnauthorized?: boolean;
    /** PEM file of the CA(s) to trust instead of the system store (a private CA, a self-signed server). */
    caFile?: string | undefined;
    /** Name to verify the certificate against, when `host` is an IP address or an alias. */
    servername?: string | undefined;
  };
  user?: string | undefined;
  password?: string | undefined;
}

export interface EmailDigestOptions {
  from: string;
  /** A digest per filter every periodMs (notify.email.digestMinutes), aligned to the clock (e.g. :00, :15, :30, :45). */
  periodMs: number;
  /** Peers shown in the body; beyond it all peers go in a CSV attachment (notify.email.csvRowLimit). */
  csvRowLimit: number;
  /** At most this many peers per email; a larger backlog goes out as several digests, back to back. */
  maxDigestRows: number;
  backoff: BackoffPolicy;
  /** Bound on one SMTP send, connection included. */
  sendTimeoutMs: number;
  stopTimeoutMs: number;
  warnIntervalMs: number;
}

export function defaultDigestOptions(from: string, periodMs: number, csvRowLimit: number): EmailDigestOptions {
  return {
    from,
    periodMs,
    csvRowLimit,
    maxDigestRows: 10_000,
    backoff: { baseMs: 30_000, maxMs: Math.max(30_000, Math.min(periodMs, 15 * 60_000)), jitter: 0.3 },
    sendTimeoutMs: 120_000,
    stopTimeoutMs: 5_000,
    warnIntervalMs: 15 * 60_000,
  };
}

/** A nodemailer SMTP transport; throws an AppError when `tls.caFile` cannot be read. */
export function createSmtpTransport(smtp: SmtpConfig): MailTransport {
  let ca: Buffer | undefined;
  if (smtp.tls?.caFile !== undefined) {
    try {
      ca = readFileSync(smtp.tls.caFile);
    } catch (err) {
      throw new AppError('CONFIG', `notify.email.smtp.tls.caFile: cannot read ${smtp.tls.caFile}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
    }
  }
  return nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    requireTLS: smtp.requireTLS ?? false,
    tls: {
      rejectUnauthorized: smtp.tls?.rejectUnauthorized ?? true,
      ...(ca !== undefined ? { ca } : {}),
      ...(smtp.tls?.servername !== undefined ? { servername: smtp.tls.servername } : {}),
      minVersion: 'TLSv1.2',
    },
    auth: smtp.user !== undefined ? { user: smtp.user, pass: smtp.password ?? '' } : undefined,
    connectionTimeout: 30_000,
    greetingTimeout: 30_000,
    socketTimeout: 60_000,
  });
}

function smtpError(err: unknown): string {
  const e = err as { code?: string; responseCode?: number; message?: string };
  const prefix = [e.code, e.responseCode].filter((x) => x !== undefined).join(' ');
  return prefix ? `${prefix}: ${errorMessage(err)}` : errorMessage(err);
}

/**
 * Email notifications: per filter, a digest every periodMs of the captures stored before the last
 * period boundary, sent with nodemailer to the filter's recipients.
 *
 * No loss: rows are deleted only after the SMTP server accepted the message. Nothing twice after a
 * restart: the rows of a digest are claimed (attempts + 1, one transaction) before the first byte goes
 * out, and a claimed digest is always re-sent exactly as it was (same rows, same Message-ID) until it is
 * accepted. The one remaining window: the server accepted but the process died before the DELETE
 * committed; the digest then goes out again with the same Message-ID (see docs/notifications.md).
 */
export class EmailDigest {
  private readonly sleeper = new Sleeper();
  private readonly warnLimiter: RateLimiter;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private closed = false;
  private busy: Promise<void> = Promise.resolve();
  digestsSent = 0;

  constructor(
    private readonly deps: {
      outbox: DigestOutboxStore;
      captures: CaptureLookup;
      filters: RecipientFilters;
      transport: MailTransport;
      stats: TargetStats;
      logger: Logger;
      now?: () => number;
    },
    private readonly options: EmailDigestOptions,
  ) {
    this.warnLimiter = new RateLimiter(options.warnIntervalMs);
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  /** The last period boundary at or before `t`: rows stored before it are due. */
  boundary(t: number): number {
    return Math.floor(t / this.options.periodMs) * this.options.periodMs;
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run().catch((err: unknown) => this.deps.logger.error({ err }, 'email digest loop stopped by an unexpected error'));
  }

  /** Sends every pending digest now, whatever the schedule (backoff included). For tests and an operator's "flush". */
  flush(): Promise<void> {
    return this.exclusive(async () => {
      await this.cycle(Number.MAX_SAFE_INTEGER, true);
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.sleeper.wake();
    const pending = Promise.all([this.loop ?? Promise.resolve(), this.busy]).then(() => false);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([pending, new Promise<boolean>((r) => (timer = setTimeout(() => r(true), this.options.stopTimeoutMs)))]);
    clearTimeout(timer);
    if (timedOut) this.deps.logger.warn('an email digest was still being sent at stop: it goes again (same Message-ID) next start');
    this.closed = true;
    try {
      this.deps.transport.close();
    } catch {
      // Nothing to close.
    }
  }

  /** Cycles never overlap (a flush and the timer would otherwise send the same claimed digest twice). */
  private exclusive(fn: () => Promise<void>): Promise<void> {
    const next = this.busy.then(fn, fn);
    this.busy = next.catch(() => undefined);
    return next;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const now = this.now();
      // Wake at the next boundary, or earlier for a retry that falls due (re-checked at least every 5 minutes).
      let wakeAt = this.boundary(now) + this.options.periodMs;
      try {
        await this.exclusive(async () => {
          wakeAt = Math.min(wakeAt, await this.cycle(this.boundary(now), false));
        });
      } catch (err) {
        this.deps.logger.error({ err: errorMessage(err) }, 'email digest cycle failed');
      }
      if (this.stopping) break;
      await this.sleeper.sleep(Math.min(5 * 60_000, Math.max(10, wakeAt - this.now())));
    }
  }

  /** Sends what is due; returns when the earliest retry it left behind falls due (Infinity when none). */
  private async cycle(before: number, force: boolean): Promise<number> {
    let nextRetry = Number.POSITIVE_INFINITY;
    if (this.closed) return nextRetry;
    const now = this.now();
    // One GROUP BY over the email rows per cycle: cycles run at period boundaries and retries only.
    for (const b of this.deps.outbox.emailBacklog()) {
      if (this.stopping && !force) break;
      const inBackoff = b.claimed > 0 && b.retryAt > now;
      const due = b.claimed > 0 || b.oldestCreatedAt < before;
      if (inBackoff && !force) nextRetry = Math.min(nextRetry, b.retryAt);
      if (!due || (inBackoff && !force)) continue;
      const retryAt = await this.sendFilter(b.filter, before);
      if (retryAt !== undefined) nextRetry = Math.min(nextRetry, retryAt);
    }
    return nextRetry;
  }

  /** Sends the due digests of one filter, back to back, until none is left or one fails (then: its retry time). */
  private async sendFilter(filter: string, before: number): Promise<number | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      const rows = this.deps.outbox.claimDigest(filter, before, this.options.maxDigestRows);
      if (rows.length === 0) return undefined;
      const retryAt = await this.sendDigest(filter, rows);
      if (retryAt !== undefined) return retryAt;
      if (this.stopping) return undefined;
    }
  }

  /** Sends one digest; undefined when it was settled (sent or parked), else when to retry. */
  private async sendDigest(filter: string, rows: readonly OutboxRow[]): Promise<number | undefined> {
    const { outbox, stats, logger } = this.deps;
    const first = rows[0] as OutboxRow;
    const last = rows[rows.length - 1] as OutboxRow;
    const recipients = this.deps.filters().find((f) => f.name === filter)?.notify.email ?? [];
    if (recipients.length === 0) {
      const reason = `no email recipients for filter "${filter}" (filter removed, or its notify.email is empty)`;
      outbox.settle({ parked: rows.map((r) => ({ id: r.id, reason })) });
      stats.parkedSinceStart += rows.length;
      logger.warn({ filter, notifications: rows.length, reason }, 'email notifications parked');
      return undefined;
    }

    const parked: Array<{ id: number; reason: string }> = [];
    const sent: number[] = [];
    const peers: PeerJson[] = [];
    for (const r of rows) {
      const rec = this.deps.captures.get(r.captureId);
      if (!rec) parked.push({ id: r.id, reason: `capture ${r.captureId} not found` });
      else {
        peers.push(toPeerJson(rec));
        sent.push(r.id);
      }
    }
    if (peers.length === 0) {
      outbox.settle({ parked });
      stats.parkedSinceStart += parked.length;
      return undefined;
    }

    const messageId = digestMessageId(filter, first.id, last.id, rows.length, this.options.from);
    const digest = renderDigest({ filter, peers, rowLimit: this.options.csvRowLimit, firstId: first.id, lastId: last.id });
    const mail: Mail.Options = {
      from: this.options.from,
      to: [...recipients],
      subject: digest.subject,
      text: digest.text,
      html: digest.html,
      messageId,
      headers: {
        'X-Capture-Digest': `${filter} ${first.id}-${last.id} ${rows.length}`,
        'Auto-Submitted': 'auto-generated',
      },
      attachments: digest.csv
        ? [{ filename: digest.csv.filename, content: digest.csv.content, contentType: 'text/csv; charset=utf-8' }]
        : [],
    };
    const retries = rows.filter((r) => r.attempts > 1).length;

    let info: SMTPTransport.SentMessageInfo;
    try {
      info = await withTimeout(this.deps.transport.sendMail(mail), this.options.sendTimeoutMs, 'SMTP send');
    } catch (err) {
      if (this.closed) return Number.POSITIVE_INFINITY;
      const error = smtpError(err);
      const now = this.now();
      const retryAt = now + backoffDelay(first.attempts, this.options.backoff);
      outbox.settle({ parked, failed: { ids: sent, error, nextAttemptAt: retryAt, countAttempt: false } });
      stats.parkedSinceStart += parked.length;
      stats.retried += retries;
      stats.failure(sent.length, error, retryAt, now);
      stats.connected = false;
      const fields = { filter, messageId, notifications: sent.length, attempts: first.attempts, retryInMs: retryAt - now, error };
      if (this.warnLimiter.allow(`fail:${filter}`, now)) {
        logger.warn(fields, 'email digest not sent: it stays in the outbox and is retried (same Message-ID)');
      } else logger.debug(fields, 'email digest not sent');
      return retryAt;
    }

    if (this.closed) return Number.POSITIVE_INFINITY;
    outbox.settle({ delivered: sent, parked });
    this.digestsSent++;
    stats.details.digestsSent = this.digestsSent;
    stats.parkedSinceStart += parked.length;
    stats.retried += retries;
    stats.success(sent.length, this.now());
    stats.connected = true;
    this.warnLimiter.reset(`fail:${filter}`);
    const rejected = ((info.rejected ?? []) as Array<string | { address: string }>).map((a) => (typeof a === 'string' ? a : a.address));
    if (rejected.length > 0) {
      const message = `SMTP server refused some recipients of filter "${filter}": ${rejected.join(', ')} (the others got the digest; it is not resent)`;
      stats.lastError = { at: this.now(), message };
      logger.warn({ filter, messageId, rejected }, 'SMTP server refused some recipients: the others got the digest; it is not resent');
    }
    logger.info({ filter, messageId, peers: sent.length, recipients: recipients.length, attempts: first.attempts }, 'email digest sent');
    return undefined;
  }
}
