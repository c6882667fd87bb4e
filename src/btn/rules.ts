import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { BtnConfig } from '../config/config-schema.js';
import type { BtnQueryStore } from './ports.js';

/** One generated entry with the reason a client shows (and the query API lists). */
export interface ListEntry {
  ip: string;
  reason: string;
  source: 'config' | 'evidence';
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

/** A comment line: one line, no leading "#" confusion. */
function comment(reason: string): string {
  return `# ${reason.replace(/[\r\n]+/g, ' ')}`;
}

/**
 * The rules BTN clients fetch (spec §3.4, §3.5), from the operator's `btn.rules` and the daemon's
 * own evidence (IPs that at least `minReporters` applications banned within `windowDays`).
 * Versions are content hashes (hex, URL-safe): unchanged content, unchanged version.
 * Evidence is recomputed at most every `refreshMs`.
 */
export class BtnRules {
  private cached: { at: number; deny: ListEntry[]; allow: ListEntry[] } | undefined;

  constructor(
    private readonly deps: { config: () => BtnConfig; queries: BtnQueryStore; now?: () => number },
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
    this.cached = { at: now, deny, allow };
    return this.cached;
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
