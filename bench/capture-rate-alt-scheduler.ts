/**
 * Diagnostic only (CAPTURE_RATE_SCHEDULER=alt in bench/capture-rate.ts): src/capture/capture-scheduler.ts
 * with one change, to measure a suggested fix — each job gets a plain AbortController and a
 * setTimeout that is cleared when the job ends, instead of AbortSignal.timeout() (whose timer stays
 * armed for jobTimeoutMs after the job) combined with AbortSignal.any(). stop() aborts the running
 * jobs' controllers. Same queue, limits and counters as the original.
 */
import type { CaptureSchedulerOptions, CaptureSchedulerStats, ScheduledJob } from '../src/capture/capture-scheduler.js';

export class AltCaptureScheduler {
  private readonly queue: ScheduledJob[] = [];
  private readonly perIp = new Map<string, number>();
  private running = 0;
  private readonly counters = { started: 0, completed: 0, failed: 0, droppedQueueFull: 0, timedOut: 0 };
  private stopped = false;
  private readonly active = new Set<AbortController>();
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly options: CaptureSchedulerOptions,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

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

  idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.queue.length = 0;
    this.stopped = true;
    for (const c of this.active) c.abort(new DOMException('This operation was aborted', 'AbortError'));
    await this.idle();
  }
}
