import { rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../util/logger.js';
import { AdaptiveBatch } from './adaptive-batch.js';
import { RetentionPace, type RetentionPaceStatus } from './retention-pace.js';
import type { OpsStore, RetentionStepResult, RetentionSteps, RetentionTarget, RetentionThreadStatus } from './ports.js';

const DAY_MS = 86_400_000;
/** pcap files removed at once (each is a file-system call on libuv's thread pool). */
const PCAP_REMOVALS_AT_ONCE = 16;

export interface RetentionOptions {
  enabled: boolean;
  intervalMs: number;
  /** Age limits in days per table (0: keep forever). Keys other than the built-in ones name registered targets. */
  maxAgeDays: Record<string, number>;
  /**
   * Cap on the bytes in use (0: none): beyond it (or when the growth since the last pass would take it
   * beyond before the next), the oldest captures go first, down to 95% of the cap less room for one
   * more interval's growth.
   */
  maxDatabaseBytes: number;
  /** Most rows per delete transaction (fewer when a batch takes longer than maxBatchMs). */
  batchSize: number;
  /**
   * Time budget of one delete transaction or vacuum step (ms): each blocks the event loop, so the
   * rows per batch (and pages per step) adapt to stay under it on a slow or busy machine.
   */
  maxBatchMs: number;
  /**
   * Least pause between two batches (ms); the pause is at least twice the last batch's time, so
   * retention takes at most a third of the event loop and the API and capture writer run in between.
   */
  pauseMs: number;
  /** Most free pages given back per incremental-vacuum step (fewer when a step takes longer than maxBatchMs). */
  vacuumPagesPerStep: number;
  /**
   * Rows deleted per second at most (all tables together) while the database is under its size cap
   * (0: unpaced, as fast as the pause above allows). Rises while retention falls behind (retention-pace.ts).
   */
  paceRowsPerSecond?: number;
  /** Pages given back per second at most by the incremental vacuum while under the size cap (0: unpaced). */
  paceVacuumPagesPerSecond?: number;
  /** pcap files of deleted captures are removed only under this directory. */
  pcapDir: string;
}

export interface RetentionRun {
  startedAt: string;
  durationMs: number;
  deleted: Record<string, number>;
  /**
   * Size cap: whether it was exceeded at the start of the run (or would be before the next run, at the
   * growth since the last one), and the bytes in use before and after.
   */
  overCap: boolean;
  usedBytesBefore: number;
  usedBytesAfter: number;
  vacuumedPages: number;
  /**
   * Blocking steps (delete transactions, vacuum steps) and the longest one (ms): the write lock held
   * at most, and, for a step on the event loop, what the event loop waited at most.
   */
  batches: number;
  longestBatchMs: number;
  /** Steps that ran on the retention thread (the others on the event loop: the fallback, other modules' tables). */
  stepsOnThread: number;
  /** The WAL's largest length after a step on the thread (bytes; 0 when none ran there). */
  walMaxBytes: number;
  /**
   * Time spent waiting for the pace (ms), beyond the pauses the duty cycle alone makes; 0 when the
   * pass ran unpaced (over the size cap, or no pace configured).
   */
  pacedMs: number;
  /** Whether the size cap made the pass (or part of it) unpaced. */
  unpaced: boolean;
  error?: string;
}

export interface RetentionStatus {
  enabled: boolean;
  running: boolean;
  maxAgeDays: Record<string, number>;
  maxDatabaseBytes: number;
  lastRun: RetentionRun | null;
  deletedSinceStart: Record<string, number>;
  nextRunAt: string | null;
  /** Where the steps run (store/retention-worker.ts); absent when they always run on the event loop. */
  thread?: RetentionThreadStatus;
  /** The pace (retention-pace.ts): configured, now, raises, the captures' lag behind their age limit. */
  pace: RetentionPaceStatus;
}

/** One step on the event loop, timed. */
function onLoop<T>(work: () => T): Promise<RetentionStepResult<T>> {
  const t0 = performance.now();
  const value = work();
  return Promise.resolve({ value, ms: performance.now() - t0, onThread: false });
}

/** The steps on the event loop, on the store's own connection (no thread). */
function loopSteps(store: OpsStore): RetentionSteps {
  const run = onLoop;
  return {
    deleteOldestCaptures: (before, limit) => run(() => store.deleteOldestCaptures(before, limit)),
    deleteOldSightings: (before, limit) => run(() => store.deleteOldSightings(before, limit)),
    deleteOldParkedOutbox: (before, limit) => run(() => store.deleteOldParkedOutbox(before, limit)),
    deleteExpiredRollups: (now, limit) => run(() => store.deleteExpiredRollups(now, limit)),
    incrementalVacuum: (pages) => run(() => store.incrementalVacuum(pages)),
    deleteTargetOlderThan: (target, before, limit) => run(() => target.deleteOlderThan(before, limit)),
  };
}

/**
 * Ages rows out and keeps the database under its size cap, oldest first, in small transactions
 * with a pause between them so that the API's latency does not move; then gives free pages back
 * (incremental vacuum, on files created with it). pcap files follow their captures. The steps run
 * where `deps.steps` puts them (the daemon: the retention thread, store/retention-worker.ts), else
 * on the event loop.
 */
export class Retention {
  private readonly targets = new Map<string, RetentionTarget>();
  private readonly sizers = new Map<string, AdaptiveBatch>();
  private readonly totals: Record<string, number> = {};
  private lastRun: RetentionRun | null = null;
  /** The pass in progress (its batch timings are recorded into it). */
  private current: RetentionRun | undefined;
  /** Bytes in use added between recent passes (for the size cap's room until the next pass). */
  private readonly growths: number[] = [];
  private running: Promise<RetentionRun> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private nextRunAt: number | undefined;
  private stopped = false;
  private readonly pcapDir: string;
  private readonly steps: RetentionSteps;
  private readonly pace: RetentionPace;
  /** Growth room kept under the cap (the pass in progress's estimate): a pass is unpaced while over it. */
  private growth = 0;
  /** When the last step was sent (its pace counts from there: messages, checkpoint and pcap removals included). */
  private stepStartedAt = 0;

  constructor(
    private readonly deps: {
      store: OpsStore;
      logger: Logger;
      onDeleted?: (table: string, rows: number) => void;
      now?: () => number;
      /**
       * The WAL checkpointer (database.checkpoint.worker): between batches retention waits, at most once
       * per interval, for a checkpoint to finish, so that it completes and the WAL starts over (a
       * checkpoint on another thread never catches up with back-to-back batches otherwise).
       */
      wal?: { settle(): Promise<void> };
      /** Where the blocking steps run (the retention thread); default: on the event loop, on `store`. */
      steps?: RetentionSteps & { status?(): RetentionThreadStatus };
    },
    private readonly options: RetentionOptions,
  ) {
    this.pcapDir = path.resolve(options.pcapDir) + path.sep;
    this.steps = deps.steps ?? loopSteps(deps.store);
    this.pace = new RetentionPace({
      rowsPerSecond: options.paceRowsPerSecond ?? 0,
      vacuumPagesPerSecond: options.paceVacuumPagesPerSecond ?? 0,
      // A growing lag over a minute (or the interval, when shorter) is falling behind, not noise.
      windowMs: Math.min(60_000, options.intervalMs),
    });
  }

  /** Hook for tables other modules own (BTN submissions, spam reports): aged by maxAgeDays[target.name]. */
  register(target: RetentionTarget): void {
    this.targets.set(target.name, target);
  }

  start(firstDelayMs = 30_000): void {
    if (!this.options.enabled) return;
    this.stopped = false;
    this.schedule(firstDelayMs);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.nextRunAt = Date.now() + delayMs;
    this.timer = setTimeout(() => {
      void this.runOnce().finally(() => this.schedule(this.options.intervalMs));
    }, delayMs);
    this.timer.unref();
  }

  /** Stops the timer and ends a running pass after its current batch. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.nextRunAt = undefined;
    await this.running?.catch(() => undefined);
  }

  status(): RetentionStatus {
    return {
      enabled: this.options.enabled,
      running: this.running !== undefined,
      maxAgeDays: { ...this.options.maxAgeDays },
      maxDatabaseBytes: this.options.maxDatabaseBytes,
      lastRun: this.lastRun,
      deletedSinceStart: { ...this.totals },
      nextRunAt: this.nextRunAt === undefined ? null : new Date(this.nextRunAt).toISOString(),
      ...(this.deps.steps?.status ? { thread: this.deps.steps.status() } : {}),
      pace: this.pace.status(),
    };
  }

  /** One pass (a pass already running is joined, not doubled). */
  runOnce(): Promise<RetentionRun> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private count(deleted: Record<string, number>, table: string, rows: number): void {
    if (rows <= 0) return;
    deleted[table] = (deleted[table] ?? 0) + rows;
    this.totals[table] = (this.totals[table] ?? 0) + rows;
    this.deps.onDeleted?.(table, rows);
  }

  private async pass(): Promise<RetentionRun> {
    const now = (this.deps.now ?? Date.now)();
    const t0 = performance.now();
    const { store, logger } = this.deps;
    const o = this.options;
    const deleted: Record<string, number> = {};
    const usedBytesBefore = store.space().usedBytes;
    // Growth since the last pass: the cap must also hold until the next one, so room for it is kept.
    // The largest of the last few intervals' growth, with a margin (growth varies as freed pages are reused).
    if (this.lastRun) this.growths.push(Math.max(0, usedBytesBefore - this.lastRun.usedBytesAfter));
    if (this.growths.length > 6) this.growths.shift();
    const growth = 1.5 * Math.max(0, ...this.growths);
    this.growth = growth;
    const run: RetentionRun = {
      startedAt: new Date(now).toISOString(),
      durationMs: 0,
      deleted,
      overCap: o.maxDatabaseBytes > 0 && usedBytesBefore + growth > o.maxDatabaseBytes,
      usedBytesBefore,
      usedBytesAfter: usedBytesBefore,
      vacuumedPages: 0,
      batches: 0,
      longestBatchMs: 0,
      stepsOnThread: 0,
      walMaxBytes: 0,
      pacedMs: 0,
      unpaced: false,
    };
    this.current = run;
    try {
      const cutoff = (key: string): number | undefined => {
        const days = o.maxAgeDays[key] ?? 0;
        return days > 0 ? now - days * DAY_MS : undefined;
      };
      // 1. Captures past their age (with their listings, outbox rows and pcap files).
      const capturesBefore = cutoff('captures');
      if (capturesBefore !== undefined) {
        const maxAgeMs = (o.maxAgeDays.captures ?? 0) * DAY_MS;
        const reached = await this.deleteCaptures(capturesBefore, deleted, () => true, maxAgeMs);
        if (reached) this.pace.caughtUp();
      }
      // 2. The size cap (over it now, or would be by the next pass at the last interval's growth):
      // oldest captures first, down to 95% of the cap less that growth (at least half the cap).
      // A long (paced) pass may cross the cap while it deletes by age: handled in the same pass.
      if (!run.overCap && o.maxDatabaseBytes > 0 && store.space().usedBytes + growth > o.maxDatabaseBytes) run.overCap = true;
      if (run.overCap) {
        const target = Math.max(o.maxDatabaseBytes * 0.5, Math.min(o.maxDatabaseBytes * 0.95, o.maxDatabaseBytes - growth));
        await this.deleteCaptures(Number.MAX_SAFE_INTEGER, deleted, () => store.space().usedBytes > target);
      }
      // 3. Other tables by age.
      const steps = this.steps;
      await this.batches(cutoff('sightings'), (before, limit) => steps.deleteOldSightings(before, limit), 'sightings', deleted);
      await this.batches(cutoff('outbox'), (before, limit) => steps.deleteOldParkedOutbox(before, limit), 'outbox_parked', deleted);
      // The dashboard's rollups past what it shows (8 days; the capture writer prunes them only while it writes).
      await this.batches(now, (at, limit) => steps.deleteExpiredRollups(at, limit), 'dashboard_rollups', deleted);
      for (const t of this.targets.values()) {
        // Other modules' tables: on the thread when it knows them (BTN submissions, spam reports), else on
        // the event loop, through their own repositories.
        await this.batches(cutoff(t.name), (before, limit) => steps.deleteTargetOlderThan(t, before, limit), t.name, deleted);
      }
      // 4. Give free pages back to the file system (files created with auto_vacuum = INCREMENTAL).
      if (store.space().autoVacuum === 2) {
        const step = this.batch('vacuum', o.vacuumPagesPerStep);
        while (!this.stopped && store.space().freelistCount > 0) {
          const pages = this.paced() ? Math.min(step.size, this.pace.maxUnits('pages')) : step.size;
          const r = await this.timed(step, () => steps.incrementalVacuum(pages));
          run.vacuumedPages += r.value;
          if (r.value === 0) break;
          await this.rest(step, 'pages', r.value, r);
        }
      }
    } catch (err) {
      run.error = (err as Error).message;
      logger.error({ err }, 'retention pass failed');
    }
    run.usedBytesAfter = store.space().usedBytes;
    run.durationMs = Math.round(performance.now() - t0);
    this.lastRun = run;
    run.pacedMs = Math.round(run.pacedMs);
    if (Object.keys(deleted).length > 0 || run.vacuumedPages > 0) {
      logger.info(
        {
          deleted, durationMs: run.durationMs, usedBytesBefore, usedBytesAfter: run.usedBytesAfter, vacuumedPages: run.vacuumedPages,
          overCap: run.overCap, batches: run.batches, longestBatchMs: run.longestBatchMs, pacedMs: run.pacedMs, unpaced: run.unpaced, pace: this.pace.status(),
        },
        'retention pass',
      );
    }
    if (run.overCap && run.usedBytesAfter > o.maxDatabaseBytes) {
      logger.warn({ usedBytes: run.usedBytesAfter, maxDatabaseBytes: o.maxDatabaseBytes }, 'database still over its size cap after retention');
    }
    return run;
  }

  /** The batch sizer of one kind of work (a table, the vacuum), kept across passes: what it learned holds. */
  private batch(kind: string, max: number): AdaptiveBatch {
    let b = this.sizers.get(kind);
    if (!b) this.sizers.set(kind, (b = new AdaptiveBatch(max, this.options.maxBatchMs, this.options.pauseMs)));
    return b;
  }

  /** Runs one step of `b.size` units (on the thread or the event loop) and records its time. */
  private async timed<T>(b: AdaptiveBatch, work: () => Promise<RetentionStepResult<T>>): Promise<RetentionStepResult<T>> {
    const t0 = performance.now();
    this.stepStartedAt = t0;
    let r: RetentionStepResult<T> | undefined;
    try {
      r = await work();
      return r;
    } finally {
      // The step's own time (its transaction): on the thread, without the messages and the wait for the write turn.
      const ms = r?.ms ?? performance.now() - t0;
      b.record(ms);
      if (this.current) {
        this.current.batches++;
        this.current.longestBatchMs = Math.max(this.current.longestBatchMs, Math.round(ms * 10) / 10);
        if (r?.onThread) this.current.stepsOnThread++;
        this.current.walMaxBytes = Math.max(this.current.walMaxBytes, r?.walBytes ?? 0);
      }
    }
  }

  /**
   * Oldest captures first, found before `before`, while `more()`. With `maxAgeMs` (the age deletes),
   * the lag behind the age limit after each batch feeds the pace. True when none are left before `before`.
   */
  private async deleteCaptures(before: number, deleted: Record<string, number>, more: () => boolean, maxAgeMs?: number): Promise<boolean> {
    const b = this.batch('captures', this.options.batchSize);
    while (!this.stopped && more()) {
      const limit = this.paced() ? Math.min(b.size, this.pace.maxUnits('rows')) : b.size;
      const step = await this.timed(b, () => this.steps.deleteOldestCaptures(before, limit));
      const r = step.value;
      this.count(deleted, 'captures', r.captures);
      this.count(deleted, 'capture_listings', r.listings);
      this.count(deleted, 'outbox', r.outbox);
      if (maxAgeMs !== undefined && r.lastFoundAt !== undefined) this.pace.observeLag((this.deps.now ?? Date.now)() - maxAgeMs - r.lastFoundAt);
      if (r.pcapPaths.length > 0) this.count(deleted, 'pcap_files', await this.removePcaps(r.pcapPaths));
      if (r.captures < limit) return true;
      await this.rest(b, 'rows', r.captures, step);
    }
    return false;
  }

  private async batches(
    before: number | undefined,
    del: (before: number, limit: number) => Promise<RetentionStepResult<number>>,
    table: string,
    deleted: Record<string, number>,
  ): Promise<void> {
    if (before === undefined) return;
    const b = this.batch(table, this.options.batchSize);
    while (!this.stopped) {
      const limit = this.paced() ? Math.min(b.size, this.pace.maxUnits('rows')) : b.size;
      const r = await this.timed(b, () => del(before, limit));
      this.count(deleted, table, r.value);
      if (r.value < limit) return;
      await this.rest(b, 'rows', r.value, r);
    }
  }

  /**
   * Whether the pace applies now: not while the database is over its size cap (with room for the
   * next interval's growth, as at the start of the pass), whose breach is handled at once, oldest first.
   */
  private paced(): boolean {
    const cap = this.options.maxDatabaseBytes;
    const over = cap > 0 && (this.current?.overCap === true || this.deps.store.space().usedBytes + this.growth > cap);
    if (over && this.current) this.current.unpaced = true;
    return !over;
  }

  /** After a step of `units`: the duty cycle's pause, or the pace's when longer (and the size cap does not press). */
  private async rest(b: AdaptiveBatch, kind: 'rows' | 'pages', units: number, step: RetentionStepResult<unknown>): Promise<void> {
    const duty = b.pauseMs;
    // The pace counts the step's whole time since it was sent (on the thread: the message each way,
    // the wait for the write turn and the checkpoint after it; pcap removals), not its transaction only.
    const paced = this.paced() ? this.pace.pauseMs(kind, units, performance.now() - this.stepStartedAt) : 0;
    if (paced > duty && this.current) this.current.pacedMs += paced - duty;
    await this.pause(Math.max(duty, paced), step.onThread);
  }

  /**
   * Between two steps: the pause, and after a step on the event loop's connection the WAL
   * checkpoint's turn when one is due (the thread checkpoints after each of its own steps).
   */
  private async pause(ms: number, onThread: boolean): Promise<void> {
    await sleep(ms);
    if (!onThread) await this.deps.wal?.settle();
  }

  /**
   * Removes a batch's pcap files, up to PCAP_REMOVALS_AT_ONCE at a time (one after the other, each
   * removal waited for on a busy event loop took a loop turn each: 20 files cost ~0.5 s per batch
   * while the API was busy).
   */
  private async removePcaps(paths: string[]): Promise<number> {
    let removed = 0;
    const inDir = paths.map((p) => path.resolve(p)).filter((abs) => abs.startsWith(this.pcapDir)); // never outside the pcap directory
    for (let i = 0; i < inDir.length; i += PCAP_REMOVALS_AT_ONCE) {
      await Promise.all(
        inDir.slice(i, i + PCAP_REMOVALS_AT_ONCE).map(async (abs) => {
          try {
            await rm(abs);
            removed++;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.deps.logger.warn({ err, file: abs }, 'could not remove a pcap file');
          }
        }),
      );
    }
    return removed;
  }
}
