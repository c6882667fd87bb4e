/** Small helpers shared by the benchmarks: a seeded PRNG, percentiles, formatting. */
import os from 'node:os';

/** mulberry32: a fast, deterministic 32-bit PRNG. Same seed, same sequence, on every machine. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [min, max] (inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Exponential with the given mean. */
  exp(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }

  /** 40 lowercase hex characters (a random infohash), as one flat string (not a rope of concatenations). */
  hex40(): string {
    const b = Buffer.allocUnsafe(20);
    for (let i = 0; i < 20; i += 4) b.writeUInt32BE(this.u32(), i);
    return b.toString('hex');
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

/** Nearest-rank percentile of an ascending-sorted array (p in 0..100). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** 12345678 → "12,345,678" (fixed en-US grouping so output is the same everywhere). */
export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function fmtMs(ms: number, digits = 2): string {
  return `${ms.toFixed(digits)} ms`;
}

export function fmtBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

export function passMiss(ok: boolean): string {
  return ok ? 'PASS' : 'MISS';
}

export function heapUsed(): string {
  const m = process.memoryUsage();
  return `heapUsed ${fmtBytes(m.heapUsed)}, rss ${fmtBytes(m.rss)}`;
}

/** Runs the GC if node was started with --expose-gc; harmless otherwise. */
export function tryGc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) g();
}

export function header(title: string): void {
  console.log(`\n=== ${title} ===`);
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`node ${process.version}, ${new Date().toISOString()}, ${os.cpus().length} cores, load average ${load} (figures are approximate on a shared machine)`);
}
