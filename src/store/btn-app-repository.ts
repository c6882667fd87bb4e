import type { Statement } from 'better-sqlite3';
import type { BtnApp, BtnAppStore, BtnAppWithSecret, NewBtnApp } from '../btn/ports.js';
import type { Db } from './open-database.js';

const COLUMNS = `id AS ref, app_id AS appId, comment, owner, installation_id AS installationId, created_at AS createdAt,
  last_seen_at AS lastSeenAt, banned_at AS bannedAt, banned_reason AS bannedReason`;

/** BTN user applications (secrets stored as SHA-256 digests only). */
export class SqliteBtnAppRepository implements BtnAppStore {
  private readonly insert: Statement;
  private readonly byAppId: Statement;
  private readonly byInstallation: Statement;
  private readonly all: Statement;
  private readonly owned: Statement;
  private readonly countOwner: Statement;
  private readonly comment: Statement;
  private readonly secret: Statement;
  private readonly banStmt: Statement;
  private readonly unbanStmt: Statement;
  private readonly del: Statement;
  private readonly touchStmt: Statement;

  constructor(private readonly db: Db) {
    this.insert = db.prepare(`INSERT INTO btn_apps (app_id, secret_sha256, comment, owner, installation_id, created_at)
      VALUES (@appId, @secretSha256, @comment, @owner, @installationId, @now)`);
    this.byAppId = db.prepare(`SELECT ${COLUMNS}, secret_sha256 AS secretSha256 FROM btn_apps WHERE app_id = ? AND deleted_at IS NULL`);
    this.byInstallation = db.prepare(
      `SELECT ${COLUMNS}, secret_sha256 AS secretSha256 FROM btn_apps WHERE installation_id = ? AND deleted_at IS NULL`,
    );
    this.all = db.prepare(`SELECT ${COLUMNS} FROM btn_apps WHERE deleted_at IS NULL ORDER BY id DESC`);
    this.owned = db.prepare(`SELECT ${COLUMNS} FROM btn_apps WHERE owner = ? AND deleted_at IS NULL ORDER BY id DESC`);
    this.countOwner = db.prepare('SELECT count(*) FROM btn_apps WHERE owner = ? AND deleted_at IS NULL').pluck();
    this.comment = db.prepare('UPDATE btn_apps SET comment = ? WHERE app_id = ? AND deleted_at IS NULL');
    this.secret = db.prepare('UPDATE btn_apps SET secret_sha256 = ? WHERE app_id = ? AND deleted_at IS NULL');
    this.banStmt = db.prepare('UPDATE btn_apps SET banned_at = ?, banned_reason = ? WHERE app_id = ? AND deleted_at IS NULL');
    this.unbanStmt = db.prepare('UPDATE btn_apps SET banned_at = NULL, banned_reason = NULL WHERE app_id = ? AND deleted_at IS NULL');
    this.del = db.prepare('UPDATE btn_apps SET deleted_at = ? WHERE app_id = ? AND deleted_at IS NULL');
    this.touchStmt = db.prepare('UPDATE btn_apps SET last_seen_at = max(coalesce(last_seen_at, 0), ?) WHERE id = ?');
  }

  create(app: NewBtnApp, now: number = Date.now()): BtnApp {
    const info = this.insert.run({ ...app, installationId: app.installationId ?? null, now });
    return {
      ref: Number(info.lastInsertRowid),
      appId: app.appId,
      comment: app.comment,
      owner: app.owner,
      installationId: app.installationId ?? null,
      createdAt: now,
      lastSeenAt: null,
      bannedAt: null,
      bannedReason: null,
    };
  }

  find(appId: string): BtnAppWithSecret | undefined {
    return this.byAppId.get(appId) as BtnAppWithSecret | undefined;
  }

  findByInstallation(installationId: string): BtnAppWithSecret | undefined {
    return this.byInstallation.get(installationId) as BtnAppWithSecret | undefined;
  }

  list(owner?: string): BtnApp[] {
    return (owner === undefined ? this.all.all() : this.owned.all(owner)) as BtnApp[];
  }

  countOwned(owner: string): number {
    return this.countOwner.get(owner) as number;
  }

  setComment(appId: string, comment: string): boolean {
    return this.comment.run(comment, appId).changes > 0;
  }

  setSecret(appId: string, secretSha256: Buffer): boolean {
    return this.secret.run(secretSha256, appId).changes > 0;
  }

  ban(appId: string, reason: string, now: number = Date.now()): boolean {
    return this.banStmt.run(now, reason, appId).changes > 0;
  }

  unban(appId: string): boolean {
    return this.unbanStmt.run(appId).changes > 0;
  }

  delete(appId: string, now: number = Date.now()): boolean {
    return this.del.run(now, appId).changes > 0;
  }

  /** Records last-seen times (app ref → ms), in one transaction. */
  touch(refs: ReadonlyMap<number, number>): void {
    if (refs.size === 0) return;
    this.db.transaction(() => {
      for (const [ref, at] of refs) this.touchStmt.run(at, ref);
    })();
  }
}
