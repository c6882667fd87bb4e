import { randomBytes } from 'node:crypto';
import { DashboardError } from './dashboard-error.js';
import type { DashboardKeys } from './ports.js';

export const SESSION_COOKIE = 'capture_daemon_dashboard';

export interface DashboardSessionOptions {
  /** How long a login lasts. */
  ttlMs: number;
  /** Sessions kept at most (the oldest goes first). */
  maxSessions: number;
}

/**
 * Logins to the dashboard. An API key with the method "dashboard" (or "*") and every filter
 * ("*": the dashboard counts the captures of all filters) logs in once, by the login form or a
 * `?key=` link; the browser then holds only a random session id in an HttpOnly, SameSite=Strict
 * cookie. The session remembers the key and checks it again on every request, so a key removed or
 * suspended by a config reload ends its sessions at once. Sessions live in memory: a restart logs
 * everyone out.
 */
export class DashboardSessions {
  private readonly sessions = new Map<string, { key: string; expiresAt: number }>();

  constructor(
    private readonly keys: () => DashboardKeys,
    private readonly options: DashboardSessionOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Checks a presented key; throws the API's errors (API_KEY_UNKNOWN, ACCESS_FORBIDDEN, …). */
  authorize(key: unknown): void {
    const caller = this.keys().authorize(key, 'dashboard');
    if (!caller.mayUseFilter('*')) {
      throw new DashboardError('ACCESS_FORBIDDEN', `API key "${caller.name}" is limited to some filters; the dashboard needs filters: ["*"]`);
    }
  }

  /** Logs in with `key` (checked) and returns the new session id. */
  login(key: unknown): string {
    this.authorize(key);
    const id = randomBytes(32).toString('base64url');
    if (this.sessions.size >= this.options.maxSessions) this.sessions.delete(this.sessions.keys().next().value as string);
    this.sessions.set(id, { key: key as string, expiresAt: this.now() + this.options.ttlMs });
    return id;
  }

  /** Whether the session id is live and its key still valid. */
  valid(id: string | undefined): boolean {
    if (id === undefined) return false;
    const s = this.sessions.get(id);
    if (!s) return false;
    if (s.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return false;
    }
    try {
      this.authorize(s.key);
      return true;
    } catch {
      this.sessions.delete(id);
      return false;
    }
  }

  logout(id: string | undefined): void {
    if (id !== undefined) this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }
}

/** The value of cookie `name` in a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The Set-Cookie value of a session (empty id and maxAge 0: the logout). */
export function sessionCookie(id: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${id}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}
