import type { NotifyStatus, TargetStatus } from './types.js';

function ago(iso: string | null, now: number): string {
  if (iso === null) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

function targetLines(name: string, t: TargetStatus, now: number): string[] {
  if (!t.enabled) {
    return [`${name.padEnd(10)} off${t.backlog + t.parked > 0 ? ` (backlog ${t.backlog}, parked ${t.parked} kept in the outbox)` : ''}`];
  }
  const parts = [
    t.connected ? 'up' : 'DOWN',
    t.oldestPendingAt ? `backlog ${t.backlog} (oldest ${ago(t.oldestPendingAt, now)})` : `backlog ${t.backlog}`,
    `parked ${t.parked}`,
    `last delivery ${ago(t.lastSuccessAt, now)}`,
    `delivered ${t.delivered} · failed ${t.failed} · retried ${t.retried}`,
  ];
  if (t.nextRetryAt) parts.push(`retry ${t.nextRetryAt}`);
  const out = [`${name.padEnd(10)} ${parts.join(' · ')}`];
  if (t.lastError) out.push(`${''.padEnd(10)} last error ${ago(t.lastError.at, now)}: ${t.lastError.message}`);
  return out;
}

/** Lines for `capture-daemon status` (human output); `--json` prints the NotifyStatus object as is. */
export function formatNotifyStatus(s: NotifyStatus, now: number = Date.now()): string[] {
  const lines = [...targetLines('amqp', s.amqp, now), ...targetLines('email', s.email, now)];
  if (s.outbox.overLimit) {
    lines.push(
      `${'outbox'.padEnd(10)} WARNING ${s.outbox.pending + s.outbox.parked} rows > notify.outboxMaxRows ${s.outbox.maxRows}: ` +
        'captures continue and their notifications are kept; the database grows',
    );
  }
  return lines;
}

/** The status of a process that sends no notifications (the center roles on PostgreSQL: no outbox there). */
export function notificationsOff(maxRows: number): NotifyStatus {
  const off = (): TargetStatus => ({
    enabled: false, backlog: 0, oldestPendingAt: null, parked: 0, lastSuccessAt: null, lastError: null,
    delivered: 0, failed: 0, retried: 0, parkedSinceStart: 0, nextRetryAt: null, connected: false, details: {},
  });
  return { outbox: { pending: 0, parked: 0, maxRows, overLimit: false }, amqp: off(), email: off() };
}
