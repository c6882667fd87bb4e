import { z } from 'zod';
import ipaddr from 'ipaddr.js';

/** The `btn:` section of the configuration (the BTN server, src/btn/); part of config-schema.ts's one schema. */

/** A peer-identity rule as PeerBanHelper reads it (§3.4): sent to clients as a JSON-object string. */
const btnIdentityRule = z.looseObject({
  method: z.enum(['STARTS_WITH', 'ENDS_WITH', 'CONTAINS', 'EQUALS', 'REGEX', 'LENGTH']),
  content: z.string().optional(),
  min: z.number().int().optional(),
  max: z.number().int().optional(),
  hit: z.enum(['TRUE', 'FALSE', 'DEFAULT']).optional(),
  miss: z.enum(['TRUE', 'FALSE', 'DEFAULT']).optional(),
});

const ipOrCidr = z.string().refine((s) => {
  try {
    if (s.includes('/')) ipaddr.parseCIDR(s);
    else ipaddr.parse(s);
    return true;
  } catch {
    return false;
  }
}, 'must be an IP address or a CIDR subnet');

const btnListEntry = z.strictObject({ ip: ipOrCidr, reason: z.string().min(1).regex(/^[^\r\n]*$/, 'must be one line') });

const btnUser = z
  .strictObject({
    name: z.string().min(1).max(64).regex(/^[\w.@-]+$/, 'may contain letters, digits, "_", ".", "@" and "-" only'),
    token: z.string().min(16, 'must be at least 16 characters').optional(),
    tokenSha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hexadecimal characters')
      .transform((s) => s.toLowerCase())
      .optional(),
    role: z.enum(['admin', 'user']).default('user'),
    maxApps: z.number().int().min(0).default(10),
  })
  .refine((u) => (u.token === undefined) !== (u.tokenSha256 === undefined), {
    message: 'exactly one of token or tokenSha256 is required',
  });

const interval = (ms: number) => z.number().int().min(1000).default(ms);

const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;
/** An OAuth2 endpoint: https, or http on a loopback host (a local test provider). */
const oauthUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).refine((u) => {
  const url = new URL(u);
  return url.protocol === 'https:' || LOOPBACK_HOST.test(url.hostname);
}, 'must be https (plain http only on a loopback host)');

/**
 * A plain OAuth2 provider (authorization code + PKCE, no OIDC discovery), e.g. GitHub:
 * authorize, token and userinfo endpoints configured; `fields` names the userinfo JSON keys.
 */
const oauthProvider = z.strictObject({
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  authorizationUrl: oauthUrl,
  tokenUrl: oauthUrl,
  userinfoUrl: oauthUrl,
  scope: z.string().default('read:user'),
  fields: z
    .strictObject({
      subject: z.string().min(1).default('id'),
      login: z.string().min(1).default('login'),
      nickname: z.string().min(1).default('name'),
      avatar: z.string().min(1).default('avatar_url'),
      email: z.string().min(1).default('email'),
    })
    .prefault({}),
  /** New accounts are made on their first login (role user); false: only accounts already linked. */
  signup: z.boolean().default(true),
  /** Provider logins that get the admin role. */
  admins: z.array(z.string().min(1)).default([]),
  maxApps: z.number().int().min(0).default(10),
});


export const btnConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    publicUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).nullable().default(null),
    maxBodyBytes: z.number().int().min(1024).default(32 * 1024 * 1024),
    autoAccount: z.boolean().default(false),
    randomInitialDelayMs: z.number().int().min(1).default(60_000),
    intervals: z
      .strictObject({
        submitBans: interval(600_000),
        submitSwarm: interval(600_000),
        submitHistories: interval(3_600_000),
        submitPeers: interval(600_000),
        rules: interval(1_800_000),
        ipLists: interval(1_800_000),
        heartbeat: interval(900_000),
        reconfigure: interval(600_000),
      })
      .prefault({}),
    users: z.array(btnUser).default([]),
    login: z
      .strictObject({
        sessionTtlHours: z.number().int().min(1).default(168),
        /** Where the browser goes after an OAuth2 login (relative to publicUrl, or absolute). */
        afterLoginUrl: z.string().min(1).default('/api/user/me'),
        /** Failed password logins allowed per client IP per minute. */
        maxFailuresPerMinute: z.number().int().min(1).default(10),
        oauth2: z.record(z.string().regex(/^[a-z0-9-]{1,32}$/, 'provider keys are lower-case letters, digits and "-"'), oauthProvider).default({}),
      })
      .prefault({}),
    rules: z
      .strictObject({
        peerId: z.record(z.string().min(1), z.array(btnIdentityRule)).default({}),
        clientName: z.record(z.string().min(1), z.array(btnIdentityRule)).default({}),
        ip: z.record(z.string().min(1), z.array(ipOrCidr)).default({}),
        port: z.record(z.string().min(1), z.array(z.number().int().min(0).max(65535))).default({}),
        ipDenylist: z.array(btnListEntry).default([]),
        ipAllowlist: z.array(btnListEntry).default([]),
        evidence: z
          .strictObject({
            enabled: z.boolean().default(true),
            minReporters: z.number().int().min(1).default(3),
            windowDays: z.number().int().min(1).default(7),
            maxEntries: z.number().int().min(0).default(100_000),
          })
          .prefault({}),
        // Denylist entries from the spam list (spam.enabled): peers that share a listed torrent.
        spam: z
          .strictObject({
            enabled: z.boolean().default(true),
            /** Only peers holding at least this share of the torrent (1: seeders, the ones spreading it). */
            minProgress: z.number().min(0).max(1).default(1),
            maxTorrents: z.number().int().min(0).default(1000),
            maxPeersPerTorrent: z.number().int().min(1).default(200),
            maxEntries: z.number().int().min(0).default(100_000),
          })
          .prefault({}),
      })
      .prefault({}),
    powCaptcha: z
      .strictObject({
        enabled: z.boolean().default(false),
        difficultyBits: z.number().int().min(1).max(32).default(5),
        ttlMs: z.number().int().min(1000).default(20 * 60_000),
        maxSessions: z.number().int().min(1).default(100_000),
      })
      .prefault({}),
  })
  .prefault({});
