/**
 * Synthetic captures for the store benchmarks, in found order, as the capture pipeline writes them.
 *
 * found_at covers SPAN_DAYS ending at END_MS with a daily rhythm (busier evenings), a DHT lookup
 * round every 15 minutes (the first minute of each is 4× busier) and get_peers-sized groups: one
 * response yields several peers of one torrent found in the same millisecond (1 + exp(mean 6),
 * at most 200). On top, `clusters` inserts a few groups of more than a page (1,200–5,000 rows in
 * one millisecond, all listed under "alpha"), the case where a page must hold a whole millisecond.
 *
 * 35% of the captures are reports, 65% errors; 3% have a pcap; each is listed under 1–2 filters
 * (alpha ≈ 70%, beta ≈ 37%, gamma ≈ 8% of the rows).
 */
import type { NewCapture } from '../src/model/capture.js';
import { Rng } from './lib.js';

export const DAY_MS = 86_400_000;
export const FILTER_NAMES = ['alpha', 'beta', 'gamma'] as const;

const CLIENTS = ['qBittorrent 4.6.2', 'qBittorrent 5.0.1', 'Transmission 4.0.5', 'µTorrent 3.6.0', 'libtorrent (Rasterbar) 2.0.10', 'Deluge 2.1.1', 'BitComet 2.06', 'Tixati 3.24', 'Vuze 5.7.7.0', 'aria2 1.37.0'];
const ERRORS = [
  'connection refused',
  'no answer within 5 s (connect timeout)',
  'handshake not completed within 10 s',
  'peer does not have this torrent',
  'connection reset by peer',
  'no route to host',
  'peer closed the connection before sending its bitfield',
];
const COUNTRIES = ['US', 'DE', 'FR', 'GB', 'NL', 'RU', 'BR', 'IN', 'CN', 'JP', 'KR', 'CA', 'AU', 'IT', 'ES', 'PL', 'SE', 'UA', 'TR', 'MX'];
const CITIES = ['Berlin', 'Paris', 'London', 'Amsterdam', 'Moscow', 'São Paulo', 'Mumbai', 'Tokyo', 'Seoul', 'Toronto', 'Sydney', 'Madrid'];
const ISPS = ['Deutsche Telekom AG', 'Orange S.A.', 'Comcast Cable', 'Vodafone GmbH', 'Rostelecom', 'Claro S.A.', 'Reliance Jio', 'NTT', 'KT Corporation', 'OVH SAS', 'Hetzner Online GmbH'];

export interface GenOptions {
  rows: number;
  /** Exclusive end of the found_at range (epoch ms). */
  endMs: number;
  spanDays: number;
  seed: number;
  /** Sizes of the more-than-a-page clusters, spread evenly over the rows. */
  clusters: readonly number[];
}

export interface Cluster {
  at: number;
  size: number;
}

export class CaptureGenerator {
  private readonly rng: Rng;
  private readonly startMs: number;
  private readonly meanGap: number;
  private readonly torrents: string[];
  /** Time of the current group; fractional between groups (thinning), whole ms once used. */
  private t: number;
  private produced = 0;
  private groupLeft = 0;
  private groupInfohash = '';
  private inCluster = false;
  /** Pending clusters: [row index from which it may start, size], in order. */
  private readonly pending: Array<[number, number]>;
  readonly clusters: Cluster[] = [];
  minFoundAt = Number.POSITIVE_INFINITY;
  maxFoundAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly o: GenOptions) {
    this.rng = new Rng(o.seed);
    this.startMs = o.endMs - o.spanDays * DAY_MS;
    this.t = this.startMs;
    // A non-homogeneous Poisson process of groups, by thinning: candidates at the peak rate, each
    // kept with probability rate(t) / RATE_MAX; the mean candidate gap makes the groups fill the span.
    let avg = 0;
    for (let s = 0; s < DAY_MS; s += 10_000) avg += rate(s);
    avg /= DAY_MS / 10_000;
    const meanGroup = 1 + 1 / (Math.exp(1 / 6) - 1); // 1 + E[floor(Exp(mean 6))]
    const groups = Math.max(1, (o.rows - o.clusters.reduce((a, b) => a + b, 0)) / meanGroup);
    this.meanGap = (o.spanDays * DAY_MS * avg) / (groups * RATE_MAX);
    this.torrents = Array.from({ length: 20_000 }, () => this.rng.hex40());
    this.pending = o.clusters.map((size, i) => [Math.floor(((i + 1) * o.rows) / (o.clusters.length + 1)), size]);
  }

  get startTime(): number {
    return this.startMs;
  }

  /** The next `n` captures (fewer at the end). */
  next(n: number): NewCapture[] {
    const out: NewCapture[] = [];
    while (out.length < n && this.produced < this.o.rows) {
      const due = this.pending[0];
      if (due !== undefined && this.produced >= due[0] && this.groupLeft === 0) {
        this.pending.shift();
        const cluster = due[1];
        this.advance();
        this.clusters.push({ at: this.t, size: cluster });
        this.groupLeft = cluster;
        this.groupInfohash = this.rng.pick(this.torrents);
        this.inCluster = true;
      }
      if (this.groupLeft === 0) {
        this.advance();
        this.groupLeft = 1 + Math.min(199, Math.floor(this.rng.exp(6)));
        this.groupInfohash = this.rng.pick(this.torrents);
        this.inCluster = false;
      }
      this.groupLeft--;
      out.push(this.capture());
      this.produced++;
    }
    return out;
  }

  private advance(): void {
    let t = this.t;
    do t += this.rng.exp(this.meanGap);
    while (!this.rng.chance(rate(t - this.startMs) / RATE_MAX));
    this.t = Math.max(this.t + 1, Math.round(t));
  }

  private capture(): NewCapture {
    const r = this.rng;
    const foundAt = this.t;
    if (foundAt < this.minFoundAt) this.minFoundAt = foundAt;
    if (foundAt > this.maxFoundAt) this.maxFoundAt = foundAt;
    const c: NewCapture = {
      foundAt,
      ip: r.chance(0.7) ? `${r.int(1, 223)}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}` : v6(r),
      port: r.int(1024, 65535),
      infohash: this.groupInfohash,
      filters: this.inCluster ? (r.chance(0.3) ? ['alpha', 'beta'] : ['alpha']) : pickFilters(r),
    };
    if (r.chance(0.9)) c.countryCode = r.pick(COUNTRIES);
    if (r.chance(0.5)) c.city = r.pick(CITIES);
    if (r.chance(0.6)) c.isp = r.pick(ISPS);
    if (r.chance(0.35)) {
      const total = r.int(100, 20_000);
      const has = r.chance(0.3) ? total : r.int(0, total);
      c.report = {
        date: foundAt + r.int(1_500, 30_000),
        totalPiecesInTorrent: total,
        hasPieces: has,
        hasTotal: has === total,
        clientName: r.pick(CLIENTS),
        hostIdentifier: `-${r.pick(['qB', 'TR', 'UT', 'LT', 'DE'])}${r.int(1000, 9999)}-${r.u32().toString(36)}`,
      };
    } else {
      c.error = r.pick(ERRORS);
    }
    if (r.chance(0.03)) c.pcapPath = `/var/lib/capture-daemon/pcap/${new Date(foundAt).toISOString().slice(0, 10)}/${r.u32().toString(16)}.pcap`;
    return c;
  }
}

const RATE_MAX = 1.6 * 4;

/** Relative capture rate at `ms` into the span: daily rhythm × DHT lookup rounds (at most RATE_MAX). */
function rate(ms: number): number {
  const day = (ms % DAY_MS) / DAY_MS;
  const daily = 1 + 0.6 * Math.sin(2 * Math.PI * (day - 0.5)); // quiet mornings, busy evenings
  const inRound = ms % 900_000 < 60_000 ? 4 : 1;
  return daily * inRound;
}

function pickFilters(r: Rng): string[] {
  const x = r.next();
  if (x < 0.55) return ['alpha'];
  if (x < 0.8) return ['beta'];
  if (x < 0.85) return ['gamma'];
  if (x < 0.97) return ['alpha', 'beta'];
  return ['alpha', 'gamma'];
}

/** A canonical (RFC 5952) IPv6 address in 2000::/3 without zero groups. */
function v6(r: Rng): string {
  const g = (): string => r.int(1, 0xffff).toString(16);
  return `2${r.int(0, 0xfff).toString(16).padStart(3, '0')}:${g()}:${g()}:${g()}:${g()}:${g()}:${g()}:${g()}`;
}
