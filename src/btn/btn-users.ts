import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { BtnConfig } from '../config/config-schema.js';
import { secretDigest as digest } from './btn-apps.js';
import { BtnError } from './btn-error.js';
import { hashPassword, verifyPassword } from './passwords.js';
import type { BtnUserStore, StoredBtnUser } from './ports.js';

export interface BtnUser {
  /** Stable numeric id (from the name), the `id` of the seed's UserDto. */
  id: number;
  name: string;
  role: 'admin' | 'user';
  maxApps: number;
  nickname?: string | null;
  avatar?: string | null;
  email?: string | null;
  registerAt?: number | null;
  lastSeenAt?: number | null;
}

/** How the caller proved who it is. */
export interface Caller extends BtnUser {
  via: 'token' | 'session';
  /** SHA-256 of the session token (logout ends it). */
  session?: Buffer;
}

export const SESSION_COOKIE = 'btn_session';

export function userId(name: string): number {
  return digest(`btn-user:${name}`).readUIntBE(0, 6);
}

/** The value of one cookie in a Cookie header (RFC 6265 §5.4 pairs; no decoding: our tokens are base64url). */
export function cookieValue(header: string | string[] | undefined, name: string): string | undefined {
  const h = Array.isArray(header) ? header.join('; ') : header;
  if (!h) return undefined;
  for (const part of h.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function fromStored(u: StoredBtnUser): BtnUser {
  return {
    id: userId(u.name),
    name: u.name,
    role: u.role,
    maxApps: u.maxApps,
    nickname: u.nickname,
    avatar: u.avatar,
    email: u.email,
    registerAt: u.createdAt,
    lastSeenAt: u.lastSeenAt,
  };
}

/** A hash that no password matches, checked when the user is unknown (same time either way). */
let dummyHash: Promise<string> | undefined;

/**
 * Query-API users: `btn.users` of the config (bearer tokens, compared as SHA-256 in constant time)
 * and users in the database (made by `capture-daemon btn user add` with a scrypt-hashed password,
 * or by an OAuth2 login). Logins open sessions: a random token sent back as the `btn_session`
 * cookie and usable as `Authorization: Bearer <token>`; the store keeps its SHA-256 only.
 * The store is read on every request, so the CLI's changes apply to a running daemon at once.
 */
export class BtnUsers {
  private configured: { source: BtnConfig['users']; entries: Array<BtnUser & { digest: Buffer }> } | undefined;

  constructor(
    private readonly config: () => BtnConfig,
    private readonly store: BtnUserStore,
    private readonly now: () => number = Date.now,
  ) {}

  private fromConfig(): Array<BtnUser & { digest: Buffer }> {
    const source = this.config().users;
    if (this.configured?.source !== source) {
      this.configured = {
        source,
        entries: source.map((u) => ({
          id: userId(u.name),
          name: u.name,
          role: u.role,
          maxApps: u.maxApps,
          digest: u.tokenSha256 !== undefined ? Buffer.from(u.tokenSha256, 'hex') : digest(u.token ?? ''),
        })),
      };
    }
    return this.configured.entries;
  }

  /** The caller, or BTN_LOGIN_REQUIRED (403, as the seed's server answers without a login). */
  authenticate(headers: { authorization?: string | string[] | undefined; cookie?: string | string[] | undefined }): Caller {
    const h = Array.isArray(headers.authorization) ? headers.authorization[0] : headers.authorization;
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(h ?? '')?.[1];
    const token = bearer ?? cookieValue(headers.cookie, SESSION_COOKIE);
    if (token === undefined || token === '') {
      throw new BtnError('BTN_LOGIN_REQUIRED', 'login required: send "Authorization: Bearer <token>" or log in (POST /api/user/login, /auth/oauth2/<provider>/login)');
    }
    const d = digest(token);
    if (bearer !== undefined) {
      let found: (BtnUser & { digest: Buffer }) | undefined;
      for (const e of this.fromConfig()) if (timingSafeEqual(e.digest, d) && !found) found = e;
      if (found) return { id: found.id, name: found.name, role: found.role, maxApps: found.maxApps, via: 'token' };
    }
    const name = this.store.sessionUser(d, this.now());
    const user = name === undefined ? undefined : this.byName(name);
    if (!user) throw new BtnError('BTN_LOGIN_REQUIRED', 'login required: the token or session is not valid (expired, logged out, or the user was removed)');
    return { ...user, via: 'session', session: d };
  }

  byName(name: string | null): BtnUser | undefined {
    if (name === null) return undefined;
    const c = this.fromConfig().find((u) => u.name === name);
    if (c) return { id: c.id, name: c.name, role: c.role, maxApps: c.maxApps };
    const s = this.store.find(name);
    return s && fromStored(s);
  }

  byId(id: number): BtnUser | undefined {
    const c = this.fromConfig().find((u) => u.id === id);
    if (c) return { id: c.id, name: c.name, role: c.role, maxApps: c.maxApps };
    const s = this.store.list().find((u) => userId(u.name) === id);
    return s && fromStored(s);
  }

  /** Opens a session for a user; returns its token (shown once) and when it expires. */
  openSession(name: string): { token: string; expiresAt: number } {
    const token = randomBytes(32).toString('base64url');
    const now = this.now();
    const expiresAt = now + this.config().login.sessionTtlHours * 3_600_000;
    this.store.createSession(digest(token), name, now, expiresAt);
    return { token, expiresAt };
  }

  endSession(caller: Caller): void {
    if (caller.session) this.store.endSession(caller.session);
  }

  /** Password login of a database user; BTN_LOGIN_FAILED for an unknown name or a wrong password alike. */
  async passwordLogin(name: string, password: string): Promise<{ user: BtnUser; token: string; expiresAt: number }> {
    const stored = this.store.find(name);
    if (!stored?.password) {
      dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
      await verifyPassword(password, await dummyHash);
      throw new BtnError('BTN_LOGIN_FAILED', 'wrong user name or password');
    }
    if (!(await verifyPassword(password, stored.password))) throw new BtnError('BTN_LOGIN_FAILED', 'wrong user name or password');
    return { user: fromStored(stored), ...this.openSession(stored.name) };
  }

  /** The user of an OAuth2 account: found by (provider, subject), or made on its first login when signup is on. */
  oauthUser(
    provider: string,
    profile: { subject: string; login: string; nickname: string | null; avatar: string | null; email: string | null },
    policy: { signup: boolean; admin: boolean; maxApps: number },
  ): BtnUser {
    const known = this.store.findBySubject(provider, profile.subject);
    const details = { nickname: profile.nickname, avatar: profile.avatar, email: profile.email };
    if (known) {
      this.store.updateProfile(known.name, details, this.now());
      return fromStored({ ...known, ...details, lastSeenAt: this.now() });
    }
    if (!policy.signup) throw new BtnError('BTN_LOGIN_FAILED', `no user is linked to this ${provider} account and sign-up is off`);
    const base = `${profile.login.replace(/[^\w.-]/g, '_').slice(0, 48) || 'user'}@${provider}`;
    for (let i = 0; i < 100; i++) {
      const name = i === 0 ? base : `${base}-${i}`;
      if (this.fromConfig().some((u) => u.name === name)) continue;
      const role = policy.admin ? 'admin' : 'user';
      if (this.store.add({ name, role, maxApps: policy.maxApps, provider, subject: profile.subject, ...details }, this.now())) {
        return this.byName(name) as BtnUser;
      }
    }
    throw new BtnError('BTN_LOGIN_FAILED', `could not find a free user name for ${base}`);
  }
}

/** The seed's UserDto. */
export function userDto(u: BtnUser | undefined): Record<string, unknown> | null {
  if (!u) return null;
  return {
    id: u.id,
    avatar: u.avatar ?? null,
    nickname: u.nickname ?? u.name,
    email: u.email ?? null,
    registerAt: u.registerAt ?? null,
    lastSeenAt: u.lastSeenAt ?? null,
    bannedAt: null,
    bannedReason: null,
  };
}
