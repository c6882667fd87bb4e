import type { Config, FilterConfig } from '../config/config-schema.js';
import type { OutboxTarget, SqliteOutboxRepository } from '../store/outbox-repository.js';
import { errorMessage } from '../util/app-error.js';
import type { Logger } from '../util/logger.js';
import { AmqpPublisher } from './amqp-publisher.js';
import { RateLimiter, redactUrl, withTimeout } from './async-util.js';
import {
  createSmtpTransport,
  defaultDigestOptions,
  EmailDigest,
  type EmailDigestOptions,
  type MailTransport,
} from './email-digest.js';
import { OutboxRelay, type RelayOptions } from './outbox-relay.js';
import { TargetStats } from './target-stats.js';
import type { CaptureLookup, NotifyStatus, NotifyTarget } from './types.js';

export type NotifyConfig = Config['notify'];
export type NotifyFilter = Pick<FilterConfig, 'name' | 'notify'>;

export interface NotificationsDeps {
  /** The outbox (the composition root's repository; relay, digest and status share it). */
  outbox: SqliteOutboxRepository;
  captures: CaptureLookup;
  /** The current filters (re-read for every digest: reloads apply). */
  filters: () => readonly NotifyFilter[];
  logger: Logger;
}

/** Tuning knobs that are not in the config file (tests use them to run fast). */
export interface NotificationsOptions {
  relay?: Partial<RelayOptions>;
  email?: Partial<EmailDigestOptions>;
  /** Replaces the SMTP transport built from notify.email.smtp. */
  transport?: MailTransport;
  /** How often the outbox size is checked against notify.outboxMaxRows. */
  monitorIntervalMs?: number;
  /** While above notify.outboxMaxRows, a warning at most this often. */
  overLimitWarnIntervalMs?: number;
  /** status() counts the outbox at most this often (default 1000 ms). */
  statusCacheMs?: number;
}

export interface Notifications {
  /** Per target backlog, last success, last error and counters; the outbox total against its bound. */
  status(): NotifyStatus;
  /**
   * The targets a capture listed under `filter` is notified to (NewCapture.notify gets one row per
   * filter and target): those the filter asks for (notify.amqp, notify.email) whose target is enabled.
   */
  targetsOf(filter: NotifyFilter): NotifyTarget[];
  /** New rows were stored: the RabbitMQ relay looks now instead of at its next poll (optional). */
  wake(): void;
  /** Sends every pending email digest now, ignoring the schedule. */
  flushEmail(): Promise<void>;
  /** Puts parked notifications back in line; returns how many. */
  unpark(target: OutboxTarget, filter?: string): number;
  /** Starts delivery: warns about rows nobody will deliver, then runs the relay and the digest. */
  start(): void;
  /** Stops delivery (bounded wait for the attempt in progress); undelivered rows stay in the outbox. */
  stop(): Promise<void>;
}

/** The targets a capture listed under `filter` is notified to (pure; see Notifications.targetsOf). */
export function notifyTargetsOf(
  filter: NotifyFilter,
  config: { amqp: { enabled: boolean }; email: { enabled: boolean } },
): NotifyTarget[] {
  const out: NotifyTarget[] = [];
  if (config.amqp.enabled && filter.notify.amqp) out.push('amqp');
  if (config.email.enabled && filter.notify.email.length > 0) out.push('email');
  return out;
}

/**
 * Real-time notifications (the one entry point for the composition root): a relay from the outbox
 * to RabbitMQ and the email digest, each only when enabled. `start()` never waits for a target and
 * never throws because one is unreachable: it warns, the backlog waits in the outbox, delivery
 * resumes when the target is back.
 */
export function createNotifications(deps: NotificationsDeps, config: NotifyConfig, options: NotificationsOptions = {}): Notifications {
  const { outbox, filters } = deps;
  const log = deps.logger.child({ component: 'notify' });
  const stats = { amqp: new TargetStats('amqp', config.amqp.enabled), email: new TargetStats('email', config.email.enabled) };

  let publisher: AmqpPublisher | undefined;
  let relay: OutboxRelay | undefined;
  if (config.amqp.enabled) {
    publisher = new AmqpPublisher(
      { captures: deps.captures, logger: deps.logger.child({ component: 'notify.amqp' }) },
      {
        url: config.amqp.url,
        exchange: config.amqp.exchange,
        maxMessageBytes: config.amqp.maxMessageBytes,
      },
    );
    relay = new OutboxRelay(
      { outbox, sink: publisher, stats: stats.amqp, logger: deps.logger.child({ component: 'notify.amqp' }) },
      // Two deliveries in flight (pipelining), so each holds half of maxInFlight.
      { batchSize: Math.max(1, Math.ceil(config.amqp.maxInFlight / 2)), windows: 2, ...options.relay },
    );
    log.info({ url: redactUrl(config.amqp.url), exchange: config.amqp.exchange }, 'RabbitMQ notifications on');
  }

  let digest: EmailDigest | undefined;
  let transport: MailTransport | undefined;
  if (config.email.enabled) {
    const e = config.email;
    transport = options.transport ?? createSmtpTransport(e.smtp);
    digest = new EmailDigest(
      {
        outbox,
        captures: deps.captures,
        filters,
        transport,
        stats: stats.email,
        logger: deps.logger.child({ component: 'notify.email' }),
      },
      { ...defaultDigestOptions(e.from, e.digestMinutes * 60_000, e.csvRowLimit), ...options.email },
    );
    stats.email.details.smtp = `${e.smtp.secure ? 'smtps' : 'smtp'}://${e.smtp.host}:${e.smtp.port}`;
    stats.email.details.digestMinutes = e.digestMinutes;
    stats.email.details.digestsSent = 0;
    log.info({ smtp: stats.email.details.smtp, digestMinutes: e.digestMinutes }, 'email notifications on');
  }

  // ---- outbox size: counted at most once a second for status, checked against the bound periodically.
  let cached: { at: number; counts: Map<OutboxTarget, { pending: number; parked: number }> } | undefined;
  const counts = (maxAgeMs: number): Map<OutboxTarget, { pending: number; parked: number }> => {
    const now = Date.now();
    if (!cached || now - cached.at > maxAgeMs) {
      cached = { at: now, counts: new Map(outbox.countByTarget().map((c) => [c.target, c])) };
    }
    return cached.counts;
  };
  const overLimitWarn = new RateLimiter(options.overLimitWarnIntervalMs ?? 5 * 60_000);
  let overLimit = false;
  const checkBound = (): void => {
    let c: Map<OutboxTarget, { pending: number; parked: number }>;
    try {
      // Cheap first: max(id) − min(id) + 1 bounds the row count; count exactly only when it might be over.
      if (outbox.rowCountUpperBound() <= config.outboxMaxRows) {
        if (overLimit) c = counts(0);
        else return;
      } else {
        c = counts(overLimit ? 60_000 : 0);
      }
    } catch {
      return; // database closing
    }
    const rows = [...c.values()].reduce((s, x) => s + x.pending + x.parked, 0);
    const amqpBacklog = c.get('amqp')?.pending ?? 0;
    const emailBacklog = c.get('email')?.pending ?? 0;
    if (rows > config.outboxMaxRows) {
      if (!overLimit) overLimitWarn.reset('over');
      if (overLimitWarn.allow('over')) {
        log.warn(
          {
            outboxRows: rows,
            outboxMaxRows: config.outboxMaxRows,
            amqpBacklog,
            emailBacklog,
            amqpLastError: stats.amqp.lastError?.message,
            emailLastError: stats.email.lastError?.message,
          },
          'notification outbox above notify.outboxMaxRows: a target has been unreachable for a long time. Capturing continues and new notifications are still stored (nothing is dropped), so the database grows; bring the target back, or raise the bound',
        );
      }
      overLimit = true;
    } else if (overLimit) {
      overLimit = false;
      overLimitWarn.reset('over');
      log.info({ outboxRows: rows, outboxMaxRows: config.outboxMaxRows }, 'notification outbox back under notify.outboxMaxRows');
    }
  };

  let monitor: NodeJS.Timeout | undefined;
  let stopped: Promise<void> | undefined;
  return {
    status(): NotifyStatus {
      const c = counts(options.statusCacheMs ?? 1000);
      const total = [...c.values()].reduce((s, x) => s + x.pending + x.parked, 0);
      const amqp = stats.amqp.snapshot(c.get('amqp')?.pending ?? 0, c.get('amqp')?.parked ?? 0, outbox.oldestPendingAt('amqp'));
      if (publisher) amqp.details = { ...amqp.details, ...publisher.details() };
      return {
        outbox: {
          pending: (c.get('amqp')?.pending ?? 0) + (c.get('email')?.pending ?? 0),
          parked: (c.get('amqp')?.parked ?? 0) + (c.get('email')?.parked ?? 0),
          maxRows: config.outboxMaxRows,
          overLimit: total > config.outboxMaxRows,
        },
        amqp,
        email: stats.email.snapshot(c.get('email')?.pending ?? 0, c.get('email')?.parked ?? 0, outbox.oldestPendingAt('email')),
      };
    },
    targetsOf(filter) {
      return notifyTargetsOf(filter, config);
    },
    wake() {
      relay?.wake();
    },
    flushEmail() {
      return digest ? digest.flush() : Promise.resolve();
    },
    unpark(target, filter) {
      const n = outbox.unpark(target, filter);
      cached = undefined;
      if (n > 0) log.info({ target, filter, notifications: n }, 'parked notifications put back in line');
      relay?.wake();
      return n;
    },
    start() {
      // Warn about rows nobody will deliver, then run.
      try {
        const c = counts(0);
        for (const target of ['amqp', 'email'] as const) {
          const n = c.get(target);
          const enabled = target === 'amqp' ? config.amqp.enabled : config.email.enabled;
          if (n && n.pending > 0 && !enabled) {
            log.warn(
              { target, backlog: n.pending, setting: `notify.${target}.enabled` },
              'notifications wait in the outbox but their target is disabled: they are kept until it is enabled again',
            );
          }
          if (n && n.parked > 0) {
            log.warn({ target, parked: n.parked, reasons: outbox.parkedReasons(target, 5) }, 'notifications are parked');
          }
        }
        checkBound();
      } catch (err) {
        log.warn({ err: errorMessage(err) }, 'cannot read the notification outbox');
      }
      monitor = setInterval(checkBound, options.monitorIntervalMs ?? 10_000);
      monitor.unref();

      relay?.start();
      digest?.start();
      const verify = transport?.verify?.bind(transport);
      if (verify) {
        void withTimeout(verify(), 60_000, 'SMTP check')
          .then(() => {
            stats.email.connected = true;
            log.info('SMTP server reachable');
          })
          .catch((err: unknown) => {
            stats.email.lastError = { at: Date.now(), message: errorMessage(err) };
            log.warn(
              { err: errorMessage(err), smtp: stats.email.details.smtp },
              'SMTP server unreachable at start: captures continue, email digests wait in the outbox and go out when it is back',
            );
          });
      }
    },
    stop() {
      stopped ??= (async () => {
        clearInterval(monitor);
        await Promise.all([relay?.stop(), digest?.stop()]);
      })();
      return stopped;
    },
  };
}
