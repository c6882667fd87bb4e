import type { SpamConfig } from '../config/config-schema.js';
import type { Logger } from '../util/logger.js';
import { disguisedExecutable, RULES } from './evidence-rules.js';
import type { EvidenceStore, SpamStore } from './ports.js';

export type EvidenceOptions = SpamConfig['evidence'];

export interface EvidenceStats {
  scans: number;
  capturesRead: number;
  torrentsChecked: number;
  fired: Record<string, number>;
  errors: number;
}

/** Scans one tick runs back to back while the scanner is behind (each yields to the event loop first). */
const MAX_SCANS_PER_TICK = 1000;

/**
 * Turns what the daemon captured into automatic reports, each with its reason:
 * - disguised-executable: the metadata shows an executable or shortcut disguised as media;
 * - no-seeder: at least `minPeers` distinct peers captured over `windowMs`, none of them a seeder;
 * - metadata-unobtainable: the metadata is still missing `afterMs` after the torrent was added,
 *   though `minPeers` peers were captured.
 * Each rule fires once per torrent and can be switched off. Reads go through cursors, in batches.
 */
export class EvidenceScanner {
  readonly stats: EvidenceStats = { scans: 0, capturesRead: 0, torrentsChecked: 0, fired: {}, errors: 0 };
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: { evidence: EvidenceStore; spam: SpamStore; logger: Logger; now?: () => number },
    private readonly options: () => EvidenceOptions,
  ) {}

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  private fire(infohash: string, name: string, code: string, detail: string, weight: number): void {
    const at = Math.floor(this.now() / 1000);
    if (!this.deps.evidence.markFired(infohash, code, at)) return;
    this.deps.spam.report({
      infohash,
      name,
      category: '',
      reporter: `evidence:${code}`,
      site: 'evidence',
      creator: 'capture-daemon',
      reason: { code, detail },
      weight,
      at,
    });
    this.stats.fired[code] = (this.stats.fired[code] ?? 0) + 1;
    this.deps.logger.info({ infoHash: infohash, rule: code, detail }, 'spam evidence: torrent reported');
  }

  /**
   * One pass of every enabled rule, reading at most one batch of changed torrents and one of
   * captures (the daemon shares one SQLite connection: a pass blocks the event loop only that
   * long). Returns true when a batch was full, i.e. more is waiting.
   */
  scanOnce(): boolean {
    let behind = false;
    const o = this.options();
    const now = this.now();
    this.stats.scans++;
    if (o.disguisedExecutable.enabled) {
      const batch = this.deps.evidence.nextChangedTorrents(o.batchSize);
      for (const t of batch) {
        this.stats.torrentsChecked++;
        const why = disguisedExecutable(t.name, t.files);
        if (why !== undefined) this.fire(t.infohash, t.name, RULES.disguisedExecutable, why, o.disguisedExecutable.weight);
      }
      if (batch.length >= o.batchSize) behind = true;
    }
    if (o.noSeeder.enabled || o.metadataUnobtainable.enabled) {
      const cap = Math.max(o.noSeeder.minPeers, o.metadataUnobtainable.minPeers);
      const n = this.deps.evidence.tallyCaptures(o.batchSize, cap);
      this.stats.capturesRead += n;
      if (n >= o.batchSize) behind = true;
    }
    if (o.noSeeder.enabled) {
      const r = o.noSeeder;
      for (const s of this.deps.evidence.swarmsWithoutSeeder(r.minPeers, now - r.windowMs, o.batchSize)) {
        const hours = Math.round((now - s.firstCaptureAt) / 360_000) / 10;
        const detail = `${s.peers >= r.minPeers ? 'at least ' : ''}${s.peers} distinct peers captured over ${hours} h since ${new Date(s.firstCaptureAt).toISOString()}, none of them a seeder`;
        this.fire(s.infohash, this.deps.evidence.torrentName(s.infohash) ?? '', RULES.noSeeder, detail, r.weight);
      }
    }
    if (o.metadataUnobtainable.enabled) {
      const r = o.metadataUnobtainable;
      for (const m of this.deps.evidence.metadataMissing(r.minPeers, now - r.afterMs, o.batchSize)) {
        const hours = Math.round((now - m.addedAt) / 360_000) / 10;
        const detail = `metadata not obtainable from any peer ${hours} h after the torrent was added (${m.peers} peer(s) captured)`;
        this.fire(m.infohash, '', RULES.metadataUnobtainable, detail, r.weight);
      }
    }
    return behind;
  }

  start(): void {
    let running = false;
    const tick = async (): Promise<void> => {
      if (running) return;
      running = true;
      try {
        // Catch up batch by batch, letting requests and captures in between.
        for (let i = 0; i < MAX_SCANS_PER_TICK && this.timer !== undefined; i++) {
          if (!this.scanOnce()) break;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      } catch (err) {
        this.stats.errors++;
        this.deps.logger.warn({ err }, 'spam evidence scan failed');
      } finally {
        running = false;
      }
    };
    this.timer = setInterval(() => void tick(), this.options().scanIntervalMs);
    this.timer.unref();
    setImmediate(() => void tick()).unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
