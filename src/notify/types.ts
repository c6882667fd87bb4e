import type { CaptureRecord } from '../model/capture.js';
import type { OutboxRow, OutboxTarget } from '../store/outbox-repository.js';

export type NotifyTarget = OutboxTarget;

/** What a relay hands a sink: one outbox row (the sink looks the capture up itself). */
export type OutboxItem = Pick<OutboxRow, 'id' | 'captureId' | 'filter' | 'createdAt' | 'attempts'>;

/** Finds a stored capture (SqliteCaptureRepository in production). */
export interface CaptureLookup {
  get(id: number): CaptureRecord | undefined;
}

/**
 * The outcome of one delivery attempt. Every id appears at most once. Rows not mentioned were not
 * attempted and stay pending untouched (a sink may deliver only a prefix of what it was given).
 */
export interface DeliveryOutcome {
  /** Confirmed by the target: the relay deletes these rows. */
  delivered: number[];
  /** Poison (will never be deliverable as is): set aside with a reason instead of blocking the queue. */
  parked: Array<{ id: number; reason: string }>;
  /** Not confirmed: they stay in the outbox and are tried again after a backoff. */
  failed?: { ids: number[]; error: string };
}

/** The port between the outbox relay and a delivery target (RabbitMQ in production, fakes in tests). */
export interface NotificationSink {
  readonly target: NotifyTarget;
  /** Gets ready to deliver (connects when needed); cheap when already connected. Throws when unreachable. */
  open(): Promise<void>;
  /**
   * Delivers `items` in order and reports what the target confirmed. May throw: then nothing is
   * confirmed. Calls may overlap (pipelining): the sink must send the items of an earlier call first.
   */
  deliver(items: readonly OutboxItem[]): Promise<DeliveryOutcome>;
  /** A temporary cap on the rows per delivery (e.g. 1 while narrowing down a poisoned message). */
  maxBatch?(): number | undefined;
  /** Drops connection state after a failed or timed-out attempt, so that the next open() starts clean. */
  reset(reason: string): void;
  /** Registers a callback for "I lost my connection" (with why), so the relay reconnects promptly. */
  onUnavailable?(listener: (reason: string) => void): void;
  close(): Promise<void>;
}

/** Status of one notification target, as `capture-daemon status` shows it. */
export interface TargetStatus {
  enabled: boolean;
  /** Notifications waiting in the outbox for this target. */
  backlog: number;
  /** When the oldest waiting notification was stored (its age is the delivery lag), null when none waits. */
  oldestPendingAt: string | null;
  /** Notifications set aside (poison) and kept in the outbox; see parkedReasons. */
  parked: number;
  /** Last confirmed delivery (ISO 8601), null when none since start. */
  lastSuccessAt: string | null;
  /** Last failure since start, null when none (or cleared by nothing: it stays until the next error). */
  lastError: { at: string; message: string } | null;
  /** Counters since start, in notifications (outbox rows). */
  delivered: number;
  failed: number;
  retried: number;
  parkedSinceStart: number;
  /** When the next retry is due, null when not backing off. */
  nextRetryAt: string | null;
  /** amqp: connected to the broker now. email: the last SMTP attempt succeeded. */
  connected: boolean;
  /** Target-specific details (amqp: exchange, blocked reason, unroutable count; email: digests sent). */
  details: Record<string, unknown>;
}

export interface NotifyStatus {
  outbox: { pending: number; parked: number; maxRows: number; overLimit: boolean };
  amqp: TargetStatus;
  email: TargetStatus;
}
