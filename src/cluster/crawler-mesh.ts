import type * as amqp from 'amqplib';
import type { KeyspaceSlice } from '../dht/keyspace-slice.js';
import type { DiscoveredPeer } from '../model/peer.js';
import { Sleeper } from '../notify/async-util.js';
import { backoffDelay, DEFAULT_BACKOFF } from '../notify/backoff.js';
import { errorMessage } from '../util/app-error.js';
import type { Logger } from '../util/logger.js';
import { AmqpLink } from './amqp-link.js';
import { rendezvousOwner } from './rendezvous.js';
import type { ClusterTopology } from './topology.js';

export interface CrawlerMeshOptions {
  url: string;
  topology: ClusterTopology;
  nodeId: string;
  connectTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** A peer this crawler does not own waits this long for the owner's claim before it is captured here. */
  claimHoldMs: number;
  /** How long a claim keeps other crawlers off a peer (the recapture interval). */
  claimTtlMs: number;
  /** Claims remembered at most (oldest forgotten first). */
  maxClaims: number;
  /** Peers waiting for their owner's claim, at most (beyond: captured at once, counted). */
  maxHeld?: number;
  /**
   * While cut off from the broker (and for claimHoldMs after (re)connecting, until the others'
   * claims arrived), every found peer is held, at most this long; then it is captured anyway
   * (nothing is missed, a duplicate is possible).
   */
  partitionHoldMs: number;
  /** Fixed work split (cluster.workSplit.crawlerCount > 0); else derived from the live crawlers. */
  fixedSlice?: KeyspaceSlice;
  /** How long a takeover announcement waits for rivals (default: claimHoldMs / 3, within 300-1,000 ms). */
  intentWaitMs?: number;
}

type MeshMessage = { t: 'hb'; node: string; at: number } | { t: 'claim' | 'intent'; node: string; keys: string[] };

/**
 * A peer waiting here. hold: for its owner's claim (or, cut off, for the link). intent: its hold
 * ran out, this crawler announced that it takes the peer over and waits for rival announcements.
 * yield: a rival takes it over; wait for its claim (captured here anyway if none comes).
 */
interface Held {
  peer: DiscoveredPeer;
  offer: OfferFn;
  at: number;
  phase: 'hold' | 'intent' | 'yield';
  /** intent/yield: when the phase ends. */
  due: number;
  /** intent: when this crawler's announcement went out. */
  sentAt: number;
  /** Rivals' takeover announcements for this peer: who, received when. */
  rivals: Array<{ node: string; at: number }>;
}

export interface MeshStats {
  connected: boolean;
  liveCrawlers: string[];
  slice: KeyspaceSlice | null;
  /** Offered peers this crawler owns (captured at once). */
  owned: number;
  /** Peers owned by another live crawler: held for its claim. */
  held: number;
  heldNow: number;
  /** Held peers captured here because no claim came (the owner did not see them). */
  takenOver: number;
  /** Peers skipped because another crawler claimed them within the recapture interval. */
  claimedElsewhere: number;
  claimsSent: number;
  claimsReceived: number;
  claimsRemembered: number;
  /** Held peers captured at once because the hold list was full. */
  heldOverflow: number;
  /** Takeovers announced (intent), lost to a rival (yielded), and yielded ones captured anyway (the rival's claim never came). */
  intentsSent: number;
  yielded: number;
  yieldTimeouts: number;
  /** Found peers held because the live crawlers changed within a heartbeat (a join or leave): no owner decided yet. */
  heldViewChanging: number;
}

/** What the pipeline says about an offered peer; only 'queued' means a capture will run here. */
export type OfferFn = (peer: DiscoveredPeer) => string;

/**
 * The crawlers' mesh on a fanout exchange: heartbeats (membership: who is alive, hence this
 * crawler's key-space slice for BEP 51 sampling) and capture claims (work split: a peer is
 * captured by one crawler per recapture interval).
 *
 * A found peer (ip:port) is owned by one live crawler (rendezvous hashing). The owner captures it
 * at once and claims it; another crawler holds it for claimHoldMs and drops it if the claim came,
 * else captures it itself (the owner may not see that peer: other vantage point) and claims it.
 * While the broker is unreachable (and for claimHoldMs after reconnecting, while the others'
 * claims arrive) found peers are held, up to partitionHoldMs; then they are captured anyway
 * (nothing missed, a duplicate possible).
 */
export class CrawlerMesh {
  private readonly link: AmqpLink;
  private readonly sleeper = new Sleeper();
  private readonly seen = new Map<string, number>();
  private readonly claims = new Map<string, { node: string; until: number }>();
  private readonly holding = new Map<string, Held>();
  private outgoing: string[] = [];
  private outgoingIntents: string[] = [];
  /** The live crawlers as last computed, and since when they are so (ownership needs a settled view). */
  private viewKey = '';
  private viewSince = 0;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private failures = 0;
  /** When the link came up (undefined while down). */
  private connectedSince: number | undefined;
  private readonly counters = {
    owned: 0, held: 0, takenOver: 0, claimedElsewhere: 0, claimsSent: 0, claimsReceived: 0, heldOverflow: 0, intentsSent: 0, yielded: 0, yieldTimeouts: 0, heldViewChanging: 0,
  };

  constructor(
    private readonly deps: { logger: Logger; now?: () => number },
    private readonly options: CrawlerMeshOptions,
  ) {
    const t = options.topology;
    this.link = new AmqpLink(
      {
        logger: deps.logger,
        onLost: () => {
          this.connectedSince = undefined;
          this.sleeper.wake();
        },
      },
      { url: options.url, connectTimeoutMs: options.connectTimeoutMs, connectionName: `capture-daemon mesh ${options.nodeId}` },
      (model) => model.createChannel(),
      async (ch) => {
        await ch.assertExchange(t.crawlerExchange, 'fanout', { durable: true });
        const q = await ch.assertQueue('', { exclusive: true, autoDelete: true, arguments: { 'x-max-length': 100_000 } });
        await ch.bindQueue(q.queue, t.crawlerExchange, '');
        await ch.consume(q.queue, (msg) => msg && this.onMessage(msg), { noAck: true });
        this.publish(ch, { t: 'hb', node: options.nodeId, at: this.now() });
      },
    );
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  start(): void {
    this.loop ??= this.run().catch((err: unknown) => this.deps.logger.error({ err: errorMessage(err) }, 'crawler mesh stopped by an unexpected error'));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.sleeper.wake();
    await this.loop;
    // Held peers are not lost: they are captured here now (a duplicate at worst).
    for (const [key, h] of this.holding) this.capture(key, h.peer, h.offer);
    this.holding.clear();
    await this.link.close();
  }

  /** Live crawlers (heard within 3 heartbeats, self included), sorted by id. */
  liveCrawlers(): string[] {
    const cutoff = this.now() - 3 * this.options.heartbeatIntervalMs;
    const live = [this.options.nodeId];
    for (const [node, at] of this.seen) if (at >= cutoff && node !== this.options.nodeId) live.push(node);
    return live.sort();
  }

  /** This crawler's share of the key space for BEP 51 sampling. */
  slice(): KeyspaceSlice | undefined {
    if (this.options.fixedSlice) return this.options.fixedSlice;
    const live = this.liveCrawlers();
    return live.length <= 1 ? undefined : { index: live.indexOf(this.options.nodeId), count: live.length };
  }

  stats(): MeshStats {
    return {
      connected: this.link.connected, liveCrawlers: this.liveCrawlers(), slice: this.slice() ?? null, ...this.counters,
      heldNow: this.holding.size, claimsRemembered: this.claims.size,
    };
  }

  /** A peer the DHT found: captured here now, held for its owner's claim, or skipped (claimed elsewhere). */
  offer(peer: DiscoveredPeer, offer: OfferFn): void {
    const key = `${peer.ip}|${peer.port}|${peer.infohash}`;
    if (this.claimedByOther(key)) {
      this.counters.claimedElsewhere++;
      return;
    }
    if (this.holding.has(key)) return;
    // Cut off, or just (re)connected: the others' claims may be missing, so nothing is owned yet.
    // Nor while the live crawlers change (a join, a leave): two crawlers' views may differ for a
    // moment, and both would think themselves the owner.
    const now = this.now();
    const settled = this.connectedSince !== undefined && now - this.connectedSince >= this.options.claimHoldMs;
    const live = this.liveCrawlers();
    const stable = this.viewStable(live, now);
    const owner = settled && stable ? rendezvousOwner(`${peer.ip}|${peer.port}`, live) : undefined;
    if (owner === this.options.nodeId || this.options.claimHoldMs === 0) {
      this.counters.owned++;
      this.capture(key, peer, offer);
      return;
    }
    if (this.holding.size >= (this.options.maxHeld ?? 10_000)) {
      this.counters.heldOverflow++;
      this.capture(key, peer, offer);
      return;
    }
    this.counters.held++;
    if (settled && !stable) this.counters.heldViewChanging++;
    this.holding.set(key, { peer, offer, at: now, phase: 'hold', due: 0, sentAt: 0, rivals: [] });
  }

  /** Whether the live crawlers have been the same for a heartbeat interval (updates the view). */
  private viewStable(live: readonly string[], now: number): boolean {
    const key = live.join(',');
    if (key !== this.viewKey) {
      this.viewKey = key;
      this.viewSince = now;
    }
    return now - this.viewSince >= this.options.heartbeatIntervalMs;
  }

  /** How long a takeover announcement waits for rival announcements (longer than a trip through the broker). */
  private intentWaitMs(): number {
    return this.options.intentWaitMs ?? Math.max(300, Math.min(1_000, Math.floor(this.options.claimHoldMs / 3)));
  }

  private claimedByOther(key: string): boolean {
    const c = this.claims.get(key);
    if (!c) return false;
    if (c.until <= this.now()) {
      this.claims.delete(key);
      return false;
    }
    return c.node !== this.options.nodeId;
  }

  private capture(key: string, peer: DiscoveredPeer, offer: OfferFn): void {
    if (offer(peer) !== 'queued') return;
    this.remember(key, this.options.nodeId);
    this.outgoing.push(key);
    if (this.outgoing.length >= 500) this.sleeper.wake();
  }

  private remember(key: string, node: string): void {
    this.claims.delete(key);
    this.claims.set(key, { node, until: this.now() + this.options.claimTtlMs });
    while (this.claims.size > this.options.maxClaims) this.claims.delete(this.claims.keys().next().value as string);
  }

  private onMessage(msg: amqp.ConsumeMessage): void {
    let m: MeshMessage;
    try {
      m = JSON.parse(msg.content.toString('utf8')) as MeshMessage;
    } catch {
      return;
    }
    if (typeof m.node !== 'string' || m.node === this.options.nodeId) return;
    const known = this.seen.has(m.node) && (this.seen.get(m.node) as number) >= this.now() - 3 * this.options.heartbeatIntervalMs;
    this.seen.set(m.node, this.now());
    // A crawler that joined (or came back): it missed our claims, send the live ones again.
    if (!known) this.resendOwnClaims();
    if ((m.t !== 'claim' && m.t !== 'intent') || !Array.isArray(m.keys)) return;
    if (m.t === 'intent') {
      // A rival takes over peers it held: remembered on the ones held here (the tie-break below).
      const at = this.now();
      for (const key of m.keys) if (typeof key === 'string') this.holding.get(key)?.rivals.push({ node: m.node, at });
      return;
    }
    for (const key of m.keys) {
      if (typeof key !== 'string') continue;
      this.counters.claimsReceived++;
      // A claim of our own capture that crossed theirs: the first claim seen here wins.
      const mine = this.claims.get(key);
      if (mine && mine.node === this.options.nodeId && mine.until > this.now()) continue;
      this.remember(key, m.node);
      this.holding.delete(key);
    }
  }

  private resendOwnClaims(): void {
    const now = this.now();
    for (const [key, c] of this.claims) if (c.node === this.options.nodeId && c.until > now) this.outgoing.push(key);
    this.sleeper.wake();
  }

  private publish(ch: amqp.Channel, m: MeshMessage): void {
    ch.publish(this.options.topology.crawlerExchange, '', Buffer.from(JSON.stringify(m)), { contentType: 'application/json' });
  }

  private async run(): Promise<void> {
    let lastHeartbeat = 0;
    const tick = Math.min(200, Math.max(20, Math.floor(this.options.claimHoldMs / 4) || 200));
    while (!this.stopping) {
      const now = this.now();
      // The view's clock follows the membership as heartbeats change it, not the first offer after
      // a quiet spell: else a lookup's whole burst of peers, all offered within one heartbeat of the
      // first, counted as "view changing" and was held by every crawler, then went to takeovers
      // (crawler-scale, 2 crawlers, 300 peers in one lookup: owned 0 + 0, one crawler took 284).
      this.viewStable(this.liveCrawlers(), now);
      // Held peers whose owner did not claim them in time: ours now. While cut off they wait up to
      // partitionHoldMs; after a reconnection at least claimHoldMs (the others' claims come first).
      // Connected, a takeover is announced first (intent) and decided after intentWaitMs. A crawler
      // that already heard a rival's announcement does not announce and yields; announcements that
      // crossed are decided by the lowest node id (every crawler applies the same rule, so one of
      // them captures, provided an announcement crosses the broker within intentWaitMs). Who yields
      // waits claimHoldMs for the winner's claim, else captures anyway: nothing is missed.
      for (const [key, h] of this.holding) {
        const since = this.connectedSince;
        const due =
          h.phase !== 'hold' ? h.due : since === undefined ? h.at + this.options.partitionHoldMs : Math.max(h.at, since) + this.options.claimHoldMs;
        if (now < due) continue;
        if (this.claimedByOther(key)) {
          this.holding.delete(key);
          this.counters.claimedElsewhere++;
          continue;
        }
        if (h.phase === 'hold' && since !== undefined && h.rivals.length === 0) {
          h.phase = 'intent';
          h.sentAt = now;
          h.due = now + this.intentWaitMs();
          this.outgoingIntents.push(key);
          continue;
        }
        if ((h.phase === 'hold' && since !== undefined) || (h.phase === 'intent' && since !== undefined)) {
          // A rival announced first (this crawler stays silent), or announcements crossed and a lower id won.
          const lost = h.phase === 'hold' || h.rivals.some((r) => r.node < this.options.nodeId);
          if (lost) {
            h.phase = 'yield';
            h.due = now + this.options.claimHoldMs;
            this.counters.yielded++;
            continue;
          }
        }
        // Won, or cut off meanwhile, or the winner's claim never came: captured here (never missed).
        if (h.phase === 'yield') this.counters.yieldTimeouts++;
        this.holding.delete(key);
        this.counters.takenOver++;
        this.capture(key, h.peer, h.offer);
      }
      let ch: amqp.Channel | undefined;
      try {
        ch = await this.link.open();
        this.connectedSince ??= this.now();
        this.failures = 0;
      } catch (err) {
        this.connectedSince = undefined;
        this.outgoing = [];
        this.outgoingIntents = [];
        this.failures++;
        if (this.failures === 1) this.deps.logger.warn({ err: errorMessage(err) }, 'crawler mesh unreachable: capturing every peer found here until it is back');
        await this.sleeper.sleep(Math.min(backoffDelay(this.failures, DEFAULT_BACKOFF), 5_000));
        continue;
      }
      if (now - lastHeartbeat >= this.options.heartbeatIntervalMs) {
        this.publish(ch, { t: 'hb', node: this.options.nodeId, at: now });
        lastHeartbeat = now;
      }
      while (this.outgoingIntents.length > 0) {
        const keys = this.outgoingIntents.splice(0, 500);
        this.publish(ch, { t: 'intent', node: this.options.nodeId, keys });
        this.counters.intentsSent += keys.length;
      }
      while (this.outgoing.length > 0) {
        const keys = this.outgoing.splice(0, 500);
        this.publish(ch, { t: 'claim', node: this.options.nodeId, keys });
        this.counters.claimsSent += keys.length;
      }
      await this.sleeper.sleep(tick);
    }
  }
}
