import type { OpsSources } from '../ports.js';
import type { DashboardStore, TorrentRow } from './ports.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;

/** The ranges the dashboard offers: span and bucket of the captures-over-time chart. */
export const RANGES = {
  '1h': { minutes: 60, bucket: 1 },
  '24h': { minutes: 1440, bucket: 15 },
  '7d': { minutes: 10_080, bucket: 120 },
} as const;
export type DashboardRange = keyof typeof RANGES;

/** Top-N sizes of the breakdowns (the rest is summed into "other"). */
const TOP_COUNTRIES = 12;
const TOP_CLIENTS = 10;
const TOP_TORRENTS = 15;
/** Live samples kept for the DHT chart (one per tick). */
const HISTORY = 120;

/** What the daemon is doing right now: cheap reads of the stages' own counters. */
export interface LiveSample {
  at: number;
  dht: {
    enabled: boolean;
    nodes: number;
    badNodes: number;
    packetsInPerSecond: number;
    packetsOutPerSecond: number;
    /** Packets the rate budget refused (reply budget, send queue full or timed out), per second. */
    refusalsPerSecond: number;
    packetsIn: number;
    packetsOut: number;
    budgetRefusals: number;
    lastReplyAgeSeconds: number | null;
    lookupsRunning: number;
  };
  queues: { capture: number; capturesRunning: number; store: number; lookups: number };
  outbox: { amqp: { backlog: number; parked: number }; email: { backlog: number; parked: number } };
  captures: { stored: number; storeFailing: boolean };
  /** Captures of the last 3 minutes, per minute [epoch minute, ok, failed]: the page adds them to its chart. */
  recentMinutes: Array<[number, number, number]>;
}

export interface DashboardSummary {
  generatedAt: number;
  range: DashboardRange;
  bucketMs: number;
  /** Captures over time: bucket starts (epoch ms) and counts, one entry per bucket (0 when none). */
  series: { t: number[]; ok: number[]; failed: number[] };
  totals: { ok: number; failed: number };
  /** Breakdowns count from this hour on (they are kept per hour). */
  breakdownFrom: number;
  countries: Array<{ code: string; captures: number }>;
  clients: Array<{ name: string; captures: number }>;
  torrents: TorrentRow[];
  /** How many infohashes the filters list (the torrents counted per torrent). */
  watchedTorrents: number;
  /** Per-minute counts of the last 3 minutes as of this summary (the page adds live events' counts on top of them). */
  recentMinutes: Array<[number, number, number]>;
  live: LiveSample;
  /** The last live samples (oldest first), for the DHT chart. */
  history: LiveSample[];
}

export interface DashboardDataDeps {
  store: DashboardStore;
  sources: OpsSources;
  /** Infohashes listed by enabled filters. */
  watchedCount(): number;
  now?: () => number;
}

function top<T>(rows: Array<[string, number]>, n: number, make: (key: string, count: number) => T): T[] {
  const out = rows.slice(0, n).map(([k, c]) => make(k, c));
  const rest = rows.slice(n).reduce((s, [, c]) => s + c, 0);
  if (rest > 0) out.push(make('other', rest));
  return out;
}

/** Builds the dashboard's JSON: the summary of a range (rollup queries) and live samples (counters). */
export class DashboardData {
  private readonly now: () => number;
  private readonly history: LiveSample[] = [];
  private last: LiveSample | undefined;

  constructor(private readonly deps: DashboardDataDeps) {
    this.now = deps.now ?? Date.now;
  }

  summary(range: DashboardRange): DashboardSummary {
    const now = this.now();
    const { minutes, bucket } = RANGES[range];
    const to = Math.ceil((Math.floor(now / MINUTE) + 1) / bucket) * bucket;
    const from = to - minutes;
    const n = minutes / bucket;
    const t = Array.from({ length: n }, (_, i) => (from + i * bucket) * MINUTE);
    const ok = new Array<number>(n).fill(0);
    const failed = new Array<number>(n).fill(0);
    for (const [b, o, f] of this.deps.store.series(from, to, bucket)) {
      const i = (b - from) / bucket;
      ok[i] = o;
      failed[i] = f;
    }
    // Breakdowns are kept per hour (per day too for torrents): the 7-day range counts from a day's start.
    const fromHour = minutes >= 7 * 1440 ? Math.floor((now - minutes * MINUTE) / (24 * HOUR)) * 24 : Math.floor((now - minutes * MINUTE) / HOUR);
    const live = this.last ?? this.sample();
    return {
      generatedAt: now,
      range,
      bucketMs: bucket * MINUTE,
      series: { t, ok, failed },
      totals: { ok: ok.reduce((a, b) => a + b, 0), failed: failed.reduce((a, b) => a + b, 0) },
      breakdownFrom: fromHour * HOUR,
      countries: top(this.deps.store.counts('country', fromHour), TOP_COUNTRIES, (code, captures) => ({ code: code || 'unknown', captures })),
      clients: top(this.deps.store.counts('client', fromHour), TOP_CLIENTS, (name, captures) => ({ name: name || 'unknown', captures })),
      torrents: this.deps.store.torrents(fromHour, TOP_TORRENTS),
      watchedTorrents: this.deps.watchedCount(),
      recentMinutes: this.deps.store.series(Math.floor(now / MINUTE) - 2, Math.floor(now / MINUTE) + 1, 1),
      live,
      history: [...this.history],
    };
  }

  /** Takes a live sample (rates since the previous one) and keeps it in the history. Called once per tick. */
  sample(): LiveSample {
    const now = this.now();
    const s = this.deps.sources;
    const d = s.dht();
    const c = s.capture();
    const n = s.notify();
    const sock = d.socket;
    const refusals = (sock?.droppedReplyBudget ?? 0) + (sock?.droppedQueueFull ?? 0) + (sock?.droppedQueueTimeout ?? 0);
    const prev = this.last;
    const seconds = prev ? Math.max(0.001, (now - prev.at) / 1000) : 0;
    const rate = (cur: number, before: number | undefined): number =>
      prev && before !== undefined && cur >= before ? Math.round(((cur - before) / seconds) * 10) / 10 : 0;
    const nowMinute = Math.floor(now / MINUTE);
    const recentMinutes = this.deps.store.series(nowMinute - 2, nowMinute + 1, 1);
    const lastReplyAt = sock?.lastReplyAt ?? 0;
    const sample: LiveSample = {
      at: now,
      dht: {
        enabled: d.enabled,
        nodes: d.nodes,
        badNodes: d.health?.bad ?? 0,
        packetsInPerSecond: rate(d.packetsIn, prev?.dht.packetsIn),
        packetsOutPerSecond: rate(d.packetsOut, prev?.dht.packetsOut),
        refusalsPerSecond: rate(refusals, prev?.dht.budgetRefusals),
        packetsIn: d.packetsIn,
        packetsOut: d.packetsOut,
        budgetRefusals: refusals,
        lastReplyAgeSeconds: lastReplyAt > 0 ? Math.round((now - lastReplyAt) / 1000) : null,
        lookupsRunning: d.lookups?.running ?? 0,
      },
      queues: {
        capture: c.scheduler.queued,
        capturesRunning: c.scheduler.running,
        store: c.store.pending,
        lookups: (d.lookups?.urgentQueued ?? 0) + (d.lookups?.sampledQueued ?? 0),
      },
      outbox: {
        amqp: { backlog: n.amqp.backlog, parked: n.amqp.parked },
        email: { backlog: n.email.backlog, parked: n.email.parked },
      },
      captures: { stored: c.store.written, storeFailing: c.store.state === 'failing' },
      recentMinutes,
    };
    this.last = sample;
    this.history.push(sample);
    if (this.history.length > HISTORY) this.history.shift();
    return sample;
  }
}
