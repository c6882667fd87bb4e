import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { BtnError } from './btn-error.js';
import { isPlaceholder, type BtnCredentials } from './credentials.js';
import type { BtnApp, BtnAppStore } from './ports.js';

export function secretDigest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export interface CreatedApp {
  app: BtnApp;
  /** Shown once; only its SHA-256 is stored. */
  appSecret: string;
}

/** Minimum time between two last-seen writes of one app. */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * User applications and the §5 credential outcomes: no valid credentials → BTN_NO_CREDENTIALS
 * (403), unknown app or wrong secret → BTN_APP_NOT_FOUND (404), banned → BTN_APP_BANNED (403).
 */
export class BtnApps {
  private readonly seen = new Map<number, number>();
  private readonly lastWritten = new Map<number, number>();

  constructor(
    private readonly store: BtnAppStore,
    private readonly options: { autoAccount: boolean },
  ) {}

  create(comment: string, owner: string | null, now = Date.now()): CreatedApp {
    const appSecret = randomUUID();
    const app = this.store.create({ appId: randomUUID(), secretSha256: secretDigest(appSecret), comment, owner }, now);
    return { app, appSecret };
  }

  resetSecret(appId: string): string | undefined {
    const appSecret = randomUUID();
    return this.store.setSecret(appId, secretDigest(appSecret)) ? appSecret : undefined;
  }

  /** The app the credentials name, or a BtnError with the §5 outcome. */
  authenticate(c: BtnCredentials | undefined, now = Date.now()): BtnApp {
    if (!c) throw new BtnError('BTN_NO_CREDENTIALS', 'no BTN credentials: set the AppID and AppSecret of a user application');
    let app;
    if (isPlaceholder(c)) {
      if (!this.options.autoAccount || c.installationId === undefined) {
        throw new BtnError('BTN_NO_CREDENTIALS', 'no BTN credentials: the AppID/AppSecret are the example values; create a user application');
      }
      app = this.store.findByInstallation(c.installationId) ?? this.autoAccount(c.installationId, now);
    } else {
      app = this.store.find(c.appId as string);
      const digest = secretDigest(c.appSecret as string);
      if (!app || !timingSafeEqual(app.secretSha256, digest)) {
        throw new BtnError('BTN_APP_NOT_FOUND', 'user application not found (check the AppID and AppSecret)');
      }
    }
    if (app.bannedAt !== null) {
      throw new BtnError('BTN_APP_BANNED', `user application is banned${app.bannedReason ? `: ${app.bannedReason}` : ''}`);
    }
    this.seen.set(app.ref, now);
    return app;
  }

  private autoAccount(installationId: string, now: number) {
    const id = `AUTOACCOUNT-${installationId}`;
    this.store.create({ appId: id, secretSha256: secretDigest(id), comment: 'auto account', owner: null, installationId }, now);
    return this.store.findByInstallation(installationId) as NonNullable<ReturnType<BtnAppStore['find']>>;
  }

  /** Writes the last-seen times gathered since the last flush (at most one write per app a minute). */
  flushSeen(force = false): void {
    const due = new Map<number, number>();
    for (const [ref, at] of this.seen) {
      if (force || at - (this.lastWritten.get(ref) ?? 0) >= TOUCH_INTERVAL_MS) {
        due.set(ref, at);
        this.lastWritten.set(ref, at);
      }
    }
    for (const ref of due.keys()) this.seen.delete(ref);
    this.store.touch(due);
  }
}
