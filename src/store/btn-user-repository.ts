import type { Statement } from 'better-sqlite3';
import type { BtnUserStore, NewStoredBtnUser, StoredBtnUser } from '../btn/ports.js';
import type { Db } from './open-database.js';

const COLUMNS = `name, role, max_apps AS maxApps, password, provider, subject, nickname, avatar, email,
  created_at AS createdAt, last_seen_at AS lastSeenAt`;

/** BTN query-API users made by the CLI or an OAuth2 login, and their login sessions. */
export class SqliteBtnUserRepository implements BtnUserStore {
  private readonly insert: Statement;
  private readonly byName: Statement;
  private readonly bySubject: Statement;
  private readonly all: Statement;
  private readonly del: Statement;
  private readonly delSessionsOf: Statement;
  private readonly passwordStmt: Statement;
  private readonly profileStmt: Statement;
  private readonly sessionInsert: Statement;
  private readonly sessionGet: Statement;
  private readonly sessionDel: Statement;
  private readonly sessionPurge: Statement;

  constructor(private readonly db: Db) {
    this.insert = db.prepare(`INSERT INTO btn_users (name, role, max_apps, password, provider, subject, nickname, avatar, email, created_at)
      VALUES (@name, @role, @maxApps, @password, @provider, @subject, @nickname, @avatar, @email, @now) ON CONFLICT DO NOTHING`);
    this.byName = db.prepare(`SELECT ${COLUMNS} FROM btn_users WHERE name = ?`);
    this.bySubject = db.prepare(`SELECT ${COLUMNS} FROM btn_users WHERE provider = ? AND subject = ?`);
    this.all = db.prepare(`SELECT ${COLUMNS} FROM btn_users ORDER BY name`);
    this.del = db.prepare('DELETE FROM btn_users WHERE name = ?');
    this.delSessionsOf = db.prepare('DELETE FROM btn_sessions WHERE user_name = ?');
    this.passwordStmt = db.prepare('UPDATE btn_users SET password = ? WHERE name = ?');
    this.profileStmt = db.prepare('UPDATE btn_users SET nickname = @nickname, avatar = @avatar, email = @email, last_seen_at = @now WHERE name = @name');
    this.sessionInsert = db.prepare('INSERT INTO btn_sessions (token_sha256, user_name, created_at, expires_at) VALUES (?, ?, ?, ?)');
    this.sessionGet = db.prepare('SELECT user_name FROM btn_sessions WHERE token_sha256 = ? AND expires_at > ?').pluck();
    this.sessionDel = db.prepare('DELETE FROM btn_sessions WHERE token_sha256 = ?');
    this.sessionPurge = db.prepare(
      'DELETE FROM btn_sessions WHERE token_sha256 IN (SELECT token_sha256 FROM btn_sessions WHERE expires_at <= ? LIMIT ?)',
    );
  }

  add(u: NewStoredBtnUser, now = Date.now()): boolean {
    const r = this.insert.run({
      name: u.name,
      role: u.role,
      maxApps: u.maxApps,
      password: u.password ?? null,
      provider: u.provider ?? null,
      subject: u.subject ?? null,
      nickname: u.nickname ?? null,
      avatar: u.avatar ?? null,
      email: u.email ?? null,
      now,
    });
    return r.changes === 1;
  }

  find(name: string): StoredBtnUser | undefined {
    return this.byName.get(name) as StoredBtnUser | undefined;
  }

  findBySubject(provider: string, subject: string): StoredBtnUser | undefined {
    return this.bySubject.get(provider, subject) as StoredBtnUser | undefined;
  }

  list(): StoredBtnUser[] {
    return this.all.all() as StoredBtnUser[];
  }

  remove(name: string): boolean {
    return this.db.transaction(() => {
      this.delSessionsOf.run(name);
      return this.del.run(name).changes === 1;
    })();
  }

  setPassword(name: string, password: string): boolean {
    return this.db.transaction(() => {
      const changed = this.passwordStmt.run(password, name).changes === 1;
      if (changed) this.delSessionsOf.run(name);
      return changed;
    })();
  }

  updateProfile(name: string, p: { nickname: string | null; avatar: string | null; email: string | null }, now = Date.now()): void {
    this.profileStmt.run({ ...p, name, now });
  }

  createSession(tokenSha256: Buffer, userName: string, now: number, expiresAt: number): void {
    this.sessionInsert.run(tokenSha256, userName, now, expiresAt);
  }

  sessionUser(tokenSha256: Buffer, now: number): string | undefined {
    return this.sessionGet.get(tokenSha256, now) as string | undefined;
  }

  endSession(tokenSha256: Buffer): void {
    this.sessionDel.run(tokenSha256);
  }

  purgeSessions(now: number, limit: number): number {
    return this.sessionPurge.run(now, limit).changes;
  }
}
