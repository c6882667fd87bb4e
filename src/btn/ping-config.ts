import { createHash } from 'node:crypto';
import type { BtnConfig } from '../config/config-schema.js';

/** The protocol version the current PeerBanHelper releases speak (spec §8). */
export const MODERN_PROTOCOL = 20;
/** The oldest client generation with a correct version check (spec §8: 7, v6.0.0). */
export const OLDEST_LEGACY_PROTOCOL = 7;

/** `BTN-Protocol-Version/NN` of a User-Agent; undefined when absent. */
export function protocolVersion(userAgent: string | undefined): number | undefined {
  const m = /BTN-Protocol-Version\/(\d{1,4})/.exec(userAgent ?? '');
  return m ? Number(m[1]) : undefined;
}

/** Changes exactly when the operator's `btn:` config changes (spec §2.4: the client reconfigures). */
export function configVersion(btn: BtnConfig): string {
  return createHash('sha256').update(JSON.stringify(btn)).digest('hex').slice(0, 16);
}

/** Routes of every ability, relative to the public base URL (Sparkle3's names for the modern ones). */
export const ROUTES = {
  config: '/ping/config',
  submitBans: '/ping/syncBanHistory',
  submitSwarm: '/ping/syncSwarm',
  submitHistories: '/ping/histories/submit',
  ruleIdentity: '/ping/rulePeerIdentity',
  ipDenylist: '/ping/ruleIpDenylist',
  ipAllowlist: '/ping/ruleIpAllowlist',
  heartbeat: '/ping/heartbeat',
  ipQuery: '/ping/queryIp',
  ipQueryWidget: '/ping/queryIp/widget',
  captcha: '/ping/captcha/createSession',
  legacySubmitPeers: '/ping/peers/submit',
  legacySubmitBans: '/ping/bans/submit',
  legacyRules: '/ping/rules/retrieve',
} as const;

/**
 * The config document for one client (spec §2.2): modern abilities for protocol ≥ 20 (and a
 * client that names none), legacy ones for 7–19 with `min_protocol_version` ≤ 10 so that clients
 * from before the `< 20` threshold (which used `≤ 10`) also choose legacy. Every field the client
 * reads is present; delays and intervals are > 0; `proof_of_work_captcha` is omitted, never null.
 */
export function pingConfig(btn: BtnConfig, protocol: number | undefined): Record<string, unknown> {
  const base = (btn.publicUrl ?? '').replace(/\/+$/, '');
  const url = (p: string): string => `${base}${p}`;
  const delay = btn.randomInitialDelayMs;
  const iv = btn.intervals;
  const pow = btn.powCaptcha.enabled;
  const ability = (endpoint: string, interval: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    endpoint: url(endpoint),
    interval,
    random_initial_delay: delay,
    ...extra,
  });
  const legacy = protocol !== undefined && protocol < MODERN_PROTOCOL;
  const common = {
    submit_histories: ability(ROUTES.submitHistories, iv.submitHistories, { pow_captcha: false }),
    reconfigure: { interval: iv.reconfigure, random_initial_delay: delay, version: configVersion(btn) },
    heartbeat: ability(ROUTES.heartbeat, iv.heartbeat, { multi_if: true, pow_captcha: false }),
    ip_query: { endpoint: url(ROUTES.ipQuery), iframe_endpoint: url(ROUTES.ipQueryWidget), pow_captcha: pow },
  };
  const doc: Record<string, unknown> = legacy
    ? {
        min_protocol_version: Math.min(OLDEST_LEGACY_PROTOCOL, protocol),
        max_protocol_version: protocol,
        ability: {
          submit_peers: ability(ROUTES.legacySubmitPeers, iv.submitPeers),
          submit_bans: ability(ROUTES.legacySubmitBans, iv.submitBans),
          rules: ability(ROUTES.legacyRules, iv.rules, { pow_captcha: false }),
          ...common,
        },
      }
    : {
        min_protocol_version: MODERN_PROTOCOL,
        max_protocol_version: MODERN_PROTOCOL,
        ability: {
          submit_bans: ability(ROUTES.submitBans, iv.submitBans, { pow_captcha: false }),
          submit_swarm: ability(ROUTES.submitSwarm, iv.submitSwarm, { pow_captcha: false }),
          rule_peer_identity: ability(ROUTES.ruleIdentity, iv.rules, { pow_captcha: false }),
          ip_denylist: ability(ROUTES.ipDenylist, iv.ipLists, { pow_captcha: false }),
          ip_allowlist: ability(ROUTES.ipAllowlist, iv.ipLists, { pow_captcha: false }),
          ...common,
        },
      };
  if (pow && !legacy) doc.proof_of_work_captcha = { endpoint: url(ROUTES.captcha) };
  return doc;
}
