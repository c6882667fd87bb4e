import { createHash, timingSafeEqual } from 'node:crypto';
import type { BtnConfig } from '../config/config-schema.js';
import { BtnError } from './btn-error.js';

export interface BtnUser {
  /** Stable numeric id (from the name), the `id` of the seed's UserDto. */
  id: number;
  name: string;
  role: 'admin' | 'user';
  maxApps: number;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export function userId(name: string): number {
  return digest(`btn-user:${name}`).readUIntBE(0, 6);
}

/** Query-API users from `btn.users`: `Authorization: Bearer <token>`; tokens compared as SHA-256 in constant time. */
export class BtnUsers {
  private readonly entries: Array<BtnUser & { digest: Buffer }>;

  constructor(users: BtnConfig['users']) {
    this.entries = users.map((u) => ({
      id: userId(u.name),
      name: u.name,
      role: u.role,
      maxApps: u.maxApps,
      digest: u.tokenSha256 !== undefined ? Buffer.from(u.tokenSha256, 'hex') : digest(u.token ?? ''),
    }));
  }

  /** The caller, or BTN_LOGIN_REQUIRED (403, as the seed's server answers without a login). */
  authenticate(authorization: string | string[] | undefined): BtnUser {
    const h = Array.isArray(authorization) ? authorization[0] : authorization;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h ?? '');
    if (!m) throw new BtnError('BTN_LOGIN_REQUIRED', 'login required: send "Authorization: Bearer <token>" of a btn.users entry');
    const d = digest(m[1] as string);
    let found: BtnUser | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.digest, d) && !found) found = e;
    if (!found) throw new BtnError('BTN_LOGIN_REQUIRED', 'login required: the token is not valid');
    const { id, name, role, maxApps } = found;
    return { id, name, role, maxApps };
  }

  byId(id: number): BtnUser | undefined {
    const e = this.entries.find((u) => u.id === id);
    return e && { id: e.id, name: e.name, role: e.role, maxApps: e.maxApps };
  }

  byName(name: string | null): BtnUser | undefined {
    const e = this.entries.find((u) => u.name === name);
    return e && { id: e.id, name: e.name, role: e.role, maxApps: e.maxApps };
  }
}

/** The seed's UserDto. */
export function userDto(u: BtnUser | undefined): Record<string, unknown> | null {
  if (!u) return null;
  return { id: u.id, avatar: null, nickname: u.name, email: null, registerAt: null, lastSeenAt: null, bannedAt: null, bannedReason: null };
}
