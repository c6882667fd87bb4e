import { MinHeap } from './min-heap.js';

/**
 * Items (outbound queries) waiting to be sent, FIFO per IP, with at least `intervalMs` between two
 * items taken for the same IP. IPs whose interval has passed wait in a ready FIFO; the others in a
 * heap keyed by the end of their interval: taking the next item is O(log n), never a scan.
 */
export class PerIpQueue<T extends { ip: string; enqueuedAt: number }> {
  /** Per-IP FIFOs; an IP is here only while it has items (or until its emptied FIFO is reached). */
  private readonly waiting = new Map<string, T[]>();
  /** IPs with items whose interval has passed, in order. */
  private ready: string[] = [];
  private readyHead = 0;
  /** IPs with items still inside their interval, keyed by the time it ends. */
  private readonly cooling = new MinHeap<string>();
  /** IPs present in `ready` or `cooling` (each at most once). */
  private readonly scheduled = new Set<string>();
  /** When an item was last taken for an IP (kept while it matters; insertion order = take order). */
  private readonly lastTaken = new Map<string, number>();
  private count = 0;
  /** Items that had to wait for their IP's interval. */
  delayed = 0;

  constructor(private readonly intervalMs: number) {}

  get size(): number {
    return this.count;
  }

  push(item: T, now: number): void {
    let q = this.waiting.get(item.ip);
    if (!q) {
      q = [];
      this.waiting.set(item.ip, q);
    }
    q.push(item);
    this.count++;
    if (!this.scheduled.has(item.ip)) {
      this.scheduled.add(item.ip);
      const last = this.lastTaken.get(item.ip);
      const readyAt = last === undefined ? 0 : last + this.intervalMs;
      if (readyAt <= now) this.ready.push(item.ip);
      else {
        this.delayed++;
        this.cooling.push(readyAt, item.ip);
      }
    }
  }

  /** True when an item may be taken now. */
  hasReady(now: number): boolean {
    while ((this.cooling.peekKey() ?? Infinity) <= now) this.ready.push(this.cooling.pop()!);
    while (this.readyHead < this.ready.length) {
      const ip = this.ready[this.readyHead]!;
      const q = this.waiting.get(ip);
      if (q && q.length > 0) return true;
      // Emptied by expire(): forget the IP.
      this.readyHead++;
      this.scheduled.delete(ip);
      this.waiting.delete(ip);
    }
    if (this.readyHead > 0) {
      this.ready = [];
      this.readyHead = 0;
    }
    return false;
  }

  /** Takes the next item; call only after hasReady(now) returned true. */
  take(now: number): T {
    const ip = this.ready[this.readyHead++]!;
    const q = this.waiting.get(ip)!;
    const item = q.shift()!;
    this.count--;
    this.lastTaken.delete(ip);
    this.lastTaken.set(ip, now);
    if (q.length > 0) {
      if (this.intervalMs > 0) {
        this.delayed++;
        this.cooling.push(now + this.intervalMs, ip);
      } else this.ready.push(ip);
    } else {
      this.waiting.delete(ip);
      this.scheduled.delete(ip);
    }
    if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready.splice(0, this.readyHead);
      this.readyHead = 0;
    }
    return item;
  }

  /** ms until an item's IP interval ends (0: one is ready; undefined: nothing queued). */
  msUntilReady(now: number): number | undefined {
    if (this.count === 0) return undefined;
    if (this.readyHead < this.ready.length) return 0;
    const next = this.cooling.peekKey();
    return next === undefined ? undefined : Math.max(0, next - now);
  }

  /** Removes and returns the items that have waited `maxWaitMs` or longer; forgets stale send times. */
  expire(now: number, maxWaitMs: number): T[] {
    const stale: T[] = [];
    for (const q of this.waiting.values()) {
      while (q.length > 0 && now - q[0]!.enqueuedAt >= maxWaitMs) {
        stale.push(q.shift()!);
        this.count--;
      }
    }
    for (const [ip, t] of this.lastTaken) {
      if (now - t < this.intervalMs) break;
      this.lastTaken.delete(ip);
    }
    return stale;
  }

  /** Removes and returns everything. */
  drain(): T[] {
    const all: T[] = [];
    for (const q of this.waiting.values()) all.push(...q);
    this.waiting.clear();
    this.ready = [];
    this.readyHead = 0;
    this.cooling.clear();
    this.scheduled.clear();
    this.count = 0;
    return all;
  }
}
