import type { PruneResult } from '../pcap/pcap-store.js';

export interface PcapRetentionDeps {
  /** The captures' links to their pcaps (SqliteCaptureRepository). */
  captures: { forgetPcapsFoundBefore(cutoff: number, limit: number): number };
  /** The pcap files (PcapStore): deletes files written before the cutoff. */
  files: { prune(now?: number): Promise<PruneResult> };
}

export interface PcapRetentionOptions {
  /** 0 = keep pcaps forever. */
  retentionDays: number;
  /** Captures unlinked per statement (default 5,000), between which the event loop runs. */
  batch?: number;
  /** At most this many batches per run (default 200); the rest waits for the next run. */
  maxBatches?: number;
}

const DAY_MS = 86_400_000;

/**
 * pcap retention that never leaves a link to a deleted file: first the captures found before the
 * cutoff forget their pcap (a pcap is written after its peer was found, so every file the prune
 * deletes belongs to one of them), then the files go. When the unlinking did not finish within
 * its bound, the files wait for the next run.
 */
export class PcapRetention {
  private readonly batch: number;
  private readonly maxBatches: number;

  constructor(
    private readonly deps: PcapRetentionDeps,
    private readonly options: PcapRetentionOptions,
  ) {
    this.batch = options.batch ?? 5000;
    this.maxBatches = options.maxBatches ?? 200;
  }

  async run(now = Date.now()): Promise<{ unlinked: number; deleted: number; complete: boolean }> {
    if (!(this.options.retentionDays > 0)) return { unlinked: 0, deleted: 0, complete: true };
    const cutoff = now - this.options.retentionDays * DAY_MS;
    let unlinked = 0;
    for (let i = 0; i < this.maxBatches; i++) {
      const n = this.deps.captures.forgetPcapsFoundBefore(cutoff, this.batch);
      unlinked += n;
      if (n < this.batch) {
        const { deleted, more } = await this.deps.files.prune(now);
        return { unlinked, deleted, complete: !more };
      }
      await new Promise((r) => setImmediate(r));
    }
    return { unlinked, deleted: 0, complete: false };
  }
}
