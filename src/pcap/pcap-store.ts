/**
 * Where capture pcaps live: `<dir>/YYYY/MM/DD/<infohash>-<ip>-<port>-<YYYYMMDDTHHMMSSmmmZ>.pcap`
 * (UTC dates from the capture time), plus age-based retention.
 *
 * File names use only [0-9A-Za-z._-]: IPv6 colons (and a zone's '%') become '_'. A second capture
 * of the same peer in the same millisecond gets a `-1`, `-2`… suffix instead of overwriting.
 */
import { access, mkdir, readdir, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../util/app-error.js';
import { FaultGate, type FaultGateStats } from '../util/fault-gate.js';
import type { Logger } from '../util/logger.js';
import type { Conversation } from './conversation.js';
import { writePcapFile } from './pcap-file.js';

export interface PcapStoreOptions {
  dir: string;
  /** Files whose mtime is more than this many days before `now` are deleted by prune(). */
  retentionDays: number;
  /** At most this many files are examined per prune() call (default 5000); call again for the rest. */
  maxFilesPerPrune?: number;
  /** After a failed write, no write is tried for this long (ms, doubling per failure up to maxRetryDelayMs). */
  retryDelayMs?: number;
  /** Longest wait between write attempts while failing (ms, default 5 min). */
  maxRetryDelayMs?: number;
  /** Logs the first failure and the recovery (once each). */
  logger?: Logger;
}

export interface PcapStoreStats extends FaultGateStats {
  written: number;
  /** Writes not tried because the store was backing off after a failure. */
  skipped: number;
}

export interface PcapMeta {
  infohash: string;
  ip: string;
  port: number;
  /** Capture time, milliseconds since the epoch. */
  at: number;
}

export interface PruneResult {
  deleted: number;
  /** True if the work bound was hit and more old files may remain. */
  more: boolean;
}

const DAY_MS = 86_400_000;
const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

function safe(s: string, fallback: string): string {
  const out = s.replace(/[^0-9A-Za-z.]/g, '_').slice(0, 64);
  return out === '' ? fallback : out;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/** The pcap's path relative to the store directory (without any collision suffix). */
export function pcapRelativePath(meta: PcapMeta): { dir: string; base: string } {
  const d = new Date(meta.at);
  if (Number.isNaN(d.getTime())) throw new RangeError(`pcap: bad capture time ${meta.at}`);
  const [y, mo, da] = [d.getUTCFullYear(), pad(d.getUTCMonth() + 1), pad(d.getUTCDate())];
  const stamp =
    `${y}${mo}${da}T${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}` +
    `${pad(d.getUTCMilliseconds(), 3)}Z`;
  const base = `${safe(meta.infohash.toLowerCase(), 'unknown')}-${safe(meta.ip, 'unknown')}-${meta.port | 0}-${stamp}`;
  return { dir: path.join(String(y), mo, da), base };
}

export class PcapStore {
  readonly dir: string;
  private readonly retentionMs: number;
  private readonly maxFilesPerPrune: number;
  /** Paths being written right now, so concurrent writes never pick the same name. */
  private readonly pending = new Set<string>();
  private readonly gate: FaultGate;
  private written = 0;
  private skipped = 0;

  constructor(options: PcapStoreOptions) {
    if (!(options.retentionDays > 0)) throw new RangeError('pcap: retentionDays must be > 0');
    this.dir = path.resolve(options.dir);
    this.retentionMs = options.retentionDays * DAY_MS;
    this.maxFilesPerPrune = options.maxFilesPerPrune ?? 5000;
    this.gate = new FaultGate({ name: `pcap writer (${this.dir})`, retryDelayMs: options.retryDelayMs ?? 5000, maxRetryDelayMs: options.maxRetryDelayMs ?? 300_000 }, options.logger);
  }

  /**
   * Writes the conversation's pcap (atomically) and returns its absolute path. After a failed
   * write (disk full, read-only), writes are skipped (PCAP_PAUSED, counted) until the retry delay
   * has passed; the next write then tries again.
   */
  async write(conv: Conversation, meta: PcapMeta): Promise<string> {
    if (!this.gate.mayAttempt()) {
      this.skipped++;
      throw new AppError('PCAP_PAUSED', `pcap writing paused: ${this.gate.stats().lastError ?? 'failing'}`);
    }
    try {
      const file = await this.writeNow(conv, meta);
      this.written++;
      this.gate.succeeded({ skipped: this.skipped });
      return file;
    } catch (err) {
      this.gate.failed(err);
      throw err;
    }
  }

  stats(): PcapStoreStats {
    return { written: this.written, skipped: this.skipped, ...this.gate.stats() };
  }

  private async writeNow(conv: Conversation, meta: PcapMeta): Promise<string> {
    const rel = pcapRelativePath(meta);
    const dir = path.join(this.dir, rel.dir);
    const file = await this.reserve(dir, rel.base);
    try {
      // A prune running concurrently may remove the (empty, old) day directory in between: retry once.
      for (let attempt = 0; ; attempt++) {
        await mkdir(dir, { recursive: true });
        try {
          await writePcapFile(file, conv);
          return file;
        } catch (err) {
          if (attempt > 0 || !isMissing(err)) throw err;
        }
      }
    } finally {
      this.pending.delete(file);
    }
  }

  private async reserve(dir: string, base: string): Promise<string> {
    for (let n = 0; ; n++) {
      const file = path.join(dir, `${base}${n === 0 ? '' : `-${n}`}.pcap`);
      if (this.pending.has(file)) continue;
      const exists = await access(file).then(
        () => true,
        () => false,
      );
      if (exists || this.pending.has(file)) continue;
      this.pending.add(file);
      return file;
    }
  }

  /**
   * Deletes `.pcap` (and leftover `.pcap.tmp`) files older than the retention period, oldest day
   * first, then removes day/month/year directories left empty. Stops at the first day directory
   * that is entirely newer than the cutoff, or after `maxFilesPerPrune` files.
   */
  async prune(now = Date.now()): Promise<PruneResult> {
    const cutoff = now - this.retentionMs;
    let examined = 0;
    let deleted = 0;
    for (const y of await numericEntries(this.dir, 4)) {
      const yDir = path.join(this.dir, y);
      if (Date.UTC(+y, 0, 1) > cutoff) break;
      for (const m of await numericEntries(yDir, 2)) {
        const mDir = path.join(yDir, m);
        if (Date.UTC(+y, +m - 1, 1) > cutoff) break;
        for (const d of await numericEntries(mDir, 2)) {
          const dayStart = Date.UTC(+y, +m - 1, +d);
          // Files in a day directory were captured (and written) after that day began.
          if (dayStart > cutoff) break;
          const dDir = path.join(mDir, d);
          for (const name of await entries(dDir)) {
            if (!name.endsWith('.pcap') && !name.endsWith('.pcap.tmp')) continue;
            if (examined >= this.maxFilesPerPrune) return { deleted, more: true };
            examined++;
            const file = path.join(dDir, name);
            const st = await stat(file).catch(() => null);
            if (!st?.isFile() || st.mtimeMs >= cutoff) continue;
            await rm(file, { force: true });
            deleted++;
          }
          // Only directories whose whole period is past the cutoff: nothing new gets written there.
          if (dayStart + DAY_MS <= cutoff) await removeIfEmpty(dDir);
        }
        if (Date.UTC(+y, +m, 1) <= cutoff) await removeIfEmpty(mDir);
      }
      if (Date.UTC(+y + 1, 0, 1) <= cutoff) await removeIfEmpty(yDir);
    }
    return { deleted, more: false };
  }
}

/**
 * Deletes `.pcap.tmp` files (writes a crash interrupted) older than `before` anywhere under `dir`'s
 * YYYY/MM/DD directories. Returns how many were deleted.
 */
export async function removeTemporaryPcaps(dir: string, before: number): Promise<number> {
  let deleted = 0;
  for (const y of await numericEntries(dir, 4)) {
    for (const m of await numericEntries(path.join(dir, y), 2)) {
      for (const d of await numericEntries(path.join(dir, y, m), 2)) {
        const dDir = path.join(dir, y, m, d);
        for (const name of await entries(dDir)) {
          if (!name.endsWith('.pcap.tmp')) continue;
          const file = path.join(dDir, name);
          const st = await stat(file).catch(() => null);
          if (!st?.isFile() || st.mtimeMs >= before) continue;
          await rm(file, { force: true });
          deleted++;
        }
      }
    }
  }
  return deleted;
}

async function entries(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw err;
  }
}

/** Subdirectory names of exactly `width` digits, ascending (so the oldest come first). */
async function numericEntries(dir: string, width: number): Promise<string[]> {
  const re = new RegExp(`^\\d{${width}}$`);
  return (await entries(dir)).filter((n) => re.test(n));
}

async function removeIfEmpty(dir: string): Promise<void> {
  try {
    await rmdir(dir); // fails unless empty
  } catch {
    // not empty (or already gone): keep it
  }
}
