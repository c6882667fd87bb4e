/** One unit of capture work: the scheduler only needs its target IP for the per-IP limit. */
export interface ScheduledJob {
  ip: string;
  run(signal: AbortSignal): Promise<void>;
}

export interface CaptureSchedulerOptions {
  concurrency: number;
  perIpConcurrency: number;
  queueSize: number;
  /** Hard bound on one job (ms): the job's signal aborts then. */
  jobTimeoutMs: number;
}

export interface CaptureSchedulerStats {
  queued: number;
  running: number;
  started: number;
  completed: number;
  failed: number;
  droppedQueueFull: number;
  timedOut: number;
}

/**
 * A bounded FIFO of capture jobs with a global concurrency and a per-IP limit. A full queue refuses
 * new jobs (counted) instead of growing; a job whose IP is at its limit waits without blocking the
 * jobs behind it.
 */
export class CaptureScheduler {
  private readonly queue: ScheduledJob[] = [];
  private readonly perIp = new Map<string, number>();
  private running = 0;
  private readonly counters = { started: 0, completed: 0, failed: 0, droppedQueueFull: 0, timedOut: 0 };
  private stopped = false;
  /** Controllers of the running jobs: stop() aborts them. */
  private readonly active = new Set<AbortController>();
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly options: CaptureSchedulerOptions,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  /** Queues a job; false when the queue is full or the scheduler stopped. */
  submit(job: ScheduledJob): boolean {
    if (this.stopped || this.queue.length >= this.options.queueSize) {
      this.counters.droppedQueueFull++;
      return false;
    }
    this.queue.push(job);
    this.pump();
    return true;
  }

  private pump(): void {
    if (this.running >= this.options.concurrency || this.queue.length === 0) return;
    // Scan a bounded window for a job whose IP is below its limit.
    let scanned = 0;
    for (let i = 0; i < this.queue.length && scanned < 256 && this.running < this.options.concurrency; scanned++) {
      const job = this.queue[i] as ScheduledJob;
      if ((this.perIp.get(job.ip) ?? 0) >= this.options.perIpConcurrency) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.start(job);
    }
  }

  private start(job: ScheduledJob): void {
    this.running++;
    this.counters.started++;
    this.perIp.set(job.ip, (this.perIp.get(job.ip) ?? 0) + 1);
    // One plain controller and one timer per job, cleared when it ends (AbortSignal.timeout keeps its
    // timer armed for the full timeout after the job, and AbortSignal.any adds listeners: together
    // 10-15% of the capture rate in bench/capture-rate.ts).
    const controller = new AbortController();
    this.active.add(controller);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    }, this.options.jobTimeoutMs);
    job
      .run(controller.signal)
      .then(
        () => {
          this.counters.completed++;
        },
        (err: unknown) => {
          this.counters.failed++;
          if (timedOut) this.counters.timedOut++;
          this.onError(err);
        },
      )
      .finally(() => {
        clearTimeout(timer);
        this.active.delete(controller);
        this.running--;
        const n = (this.perIp.get(job.ip) ?? 1) - 1;
        if (n <= 0) this.perIp.delete(job.ip);
        else this.perIp.set(job.ip, n);
        this.pump();
        if (this.running === 0 && this.queue.length === 0) {
          for (const w of this.idleWaiters.splice(0)) w();
        }
      });
  }

  stats(): CaptureSchedulerStats {
    return { queued: this.queue.length, running: this.running, ...this.counters };
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Graceful stop: takes no new jobs and drops the queued ones (not started: nothing is lost but a
   * chance to capture), lets the running jobs finish for at most `timeoutMs`, then aborts the rest.
   * Resolves when nothing runs; returns how many jobs finished and how many had to be aborted.
   */
  async drain(timeoutMs: number): Promise<{ finished: number; aborted: number; dropped: number }> {
    this.stopped = true;
    const dropped = this.queue.length;
    this.queue.length = 0;
    const running = this.running;
    let timer: NodeJS.Timeout | undefined;
    const idle = this.idle();
    const timedOut = await Promise.race([
      idle.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    const aborted = timedOut ? this.running : 0;
    if (timedOut) await this.stop();
    return { finished: running - aborted, aborted, dropped };
  }

  /** Drops the queue and aborts running jobs; resolves when they have finished. */
  async stop(): Promise<void> {
    this.queue.length = 0;
    this.stopped = true;
    for (const c of this.active) c.abort(new DOMException('This operation was aborted', 'AbortError'));
    await this.idle();
  }
}
