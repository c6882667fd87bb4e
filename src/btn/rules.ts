import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { BtnConfig } from '../config/config-schema.js';
import type { BtnQueryStore, CaptureEvidence, SpamListed, SpamListSource } from './ports.js';
import { torrentIdentifier } from './torrent-identifier.js';

/** One generated entry with the reason a client shows (and the query API lists). */
export interface ListEntry {
  ip: string;
  reason: string;
  source: 'config' | 'evidence' | 'spam';
}

export interface PeerIdentityRuleset {
  version: string;
  peer_id: Record<string, string[]>;
  client_name: Record<string, string[]>;
  ip: Record<string, string[]>;
  port: Record<string, number[]>;
  script: Record<string, string>;
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Canonical text of an IP or CIDR (compressed IPv6, IPv4-mapped as IPv4). */
function canonical(ipOrCidr: string): string {
  if (ipOrCidr.includes('/')) {
    const [addr, bits] = ipaddr.parseCIDR(ipOrCidr);
    return `${addr.toString()}/${bits}`;
  }
  const a = ipaddr.process(ipOrCidr);
  return a.toString();
}

function canonicalOrNull(ip: string): string | null {
  try {
    return canonical(ip);
  } catch {
    return null;
  }
}

/** A comment line: one line, no leading "#" confusion. */
function comment(reason: string): string {
  return `# ${reason.replace(/[\r\n]+/g, ' ')}`;
}

/**
 * The rules BTN clients fetch (spec §3.4, §3.5), from the operator's `btn.rules`, the evidence the
 * daemon holds (IPs that at least `minReporters` applications banned within `windowDays`), and the
 * spam list: peers holding at least `minProgress` of a listed torrent, as the daemon's own captures
 * and the BTN clients' swarm submissions show them.
 * Versions are content hashes (hex, URL-safe): unchanged content, unchanged version.
 * Evidence is recomputed at most every `refreshMs`.
 */
export class BtnRules {
  private cached: { at: number; deny: ListEntry[]; allow: ListEntry[] } | undefined;

  constructor(
    private readonly deps: { config: () => BtnConfig; queries: BtnQueryStore; captures?: CaptureEvidence; spam?: SpamListSource; now?: () => number },
    private readonly options: { refreshMs: number } = { refreshMs: 60_000 },
  ) {}

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  /** rule_peer_identity / legacy rules: all five maps present, rule strings are JSON objects. */
  peerIdentity(): PeerIdentityRuleset {
    const r = this.deps.config().rules;
    const strings = (m: Record<string, unknown[]>): Record<string, string[]> =>
      Object.fromEntries(Object.entries(m).map(([k, list]) => [k, list.map((rule) => JSON.stringify(rule))]));
    const body = {
      peer_id: strings(r.peerId),
      client_name: strings(r.clientName),
      ip: Object.fromEntries(Object.entries(r.ip).map(([k, list]) => [k, list.map(canonical)])),
      port: r.port,
      script: {},
    };
    return { version: hash(JSON.stringify(body)).slice(0, 16), ...body };
  }

  /** Invalidates the evidence cache (tests, config reload). */
  refresh(): void {
    this.cached = undefined;
  }

  private lists(): { deny: ListEntry[]; allow: ListEntry[] } {
    const now = this.now();
    if (this.cached && now - this.cached.at < this.options.refreshMs) return this.cached;
    const cfg = this.deps.config().rules;
    const allow: ListEntry[] = cfg.ipAllowlist.map((e) => ({ ip: canonical(e.ip), reason: e.reason, source: 'config' }));
    const deny: ListEntry[] = cfg.ipDenylist.map((e) => ({ ip: canonical(e.ip), reason: e.reason, source: 'config' }));
    const ev = cfg.evidence;
    if (ev.enabled && ev.maxEntries > 0) {
      const listed = new Set(deny.map((e) => e.ip));
      const allowed = new Set(allow.map((e) => e.ip));
      for (const b of this.deps.queries.bannedIps(now - ev.windowDays * 86_400_000, ev.minReporters, ev.maxEntries)) {
        if (listed.has(b.ip) || allowed.has(b.ip)) continue;
        const module = b.topModule.slice(b.topModule.lastIndexOf('.') + 1);
        deny.push({
          ip: b.ip,
          reason: `banned by ${b.reporters} BTN clients (${b.bans} bans in ${ev.windowDays} days, latest by ${module})`,
          source: 'evidence',
        });
      }
    }
    this.addSpam(deny, allow);
    this.cached = { at: now, deny, allow };
    return this.cached;
  }

  /** Denylist entries from the spam list: each IP once, with the torrent and the evidence that put it there. */
  private addSpam(deny: ListEntry[], allow: ListEntry[]): void {
    const sp = this.deps.config().rules.spam;
    if (!sp.enabled || !this.deps.spam || sp.maxEntries === 0) return;
    const taken = new Set([...deny.map((e) => e.ip), ...allow.map((e) => e.ip)]);
    let added = 0;
    const add = (ip: string, t: SpamListed, seenBy: string): boolean => {
      const c = canonicalOrNull(ip);
      if (c === null || taken.has(c)) return added < sp.maxEntries;
      taken.add(c);
      const why = t.reasons.length > 0 ? t.reasons.map((r) => `${r.code}: ${r.detail}`).join('; ') : `${t.count} reports`;
      deny.push({ ip: c, reason: `shares spam-listed torrent ${t.infohash} "${t.name.slice(0, 80)}" (${why}); ${seenBy}`, source: 'spam' });
      return ++added < sp.maxEntries;
    };
    for (const t of this.deps.spam.listed(sp.maxTorrents)) {
      for (const c of this.deps.captures?.byInfohash(t.infohash, sp.maxPeersPerTorrent) ?? []) {
        if (c.error !== null) continue;
        const progress = c.totalPieces ? (c.hasPieces ?? 0) / c.totalPieces : sp.minProgress === 0 ? 0 : -1;
        if (progress >= sp.minProgress && !add(c.ip, t, 'captured by this daemon')) return;
      }
      for (const r of this.deps.queries.swarmsOf({ torrentIdentifier: torrentIdentifier(t.infohash) }, sp.maxPeersPerTorrent)) {
        if (r.peerProgress >= sp.minProgress && !add(r.peerIp, t, "seen in BTN clients' swarms")) return;
      }
    }
  }

  entries(which: 'deny' | 'allow'): ListEntry[] {
    return this.lists()[which];
  }

  /** The text list (LF, a "# reason" line before each address) and its version (X-BTN-ContentVersion). */
  ipList(which: 'deny' | 'allow'): { version: string; text: string } {
    const text = this.entries(which)
      .map((e) => `${comment(e.reason)}\n${e.ip}\n`)
      .join('');
    return { version: hash(text), text };
  }
}
