import * as oauth from 'oauth4webapi';
import type { BtnConfig } from '../config/config-schema.js';
import { BtnError } from './btn-error.js';
import type { BtnUser, BtnUsers } from './btn-users.js';

type Provider = BtnConfig['login']['oauth2'][string];

/** A login under way: made by /login, used once by /callback. */
interface Pending {
  provider: string;
  verifier: string;
  expiresAt: number;
}

export const STATE_COOKIE = 'btn_oauth_state';
/** How long a user may take at the provider. */
export const STATE_TTL_MS = 10 * 60_000;
/** Logins under way kept at most (the oldest are dropped past it). */
const MAX_PENDING = 10_000;

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

function str(v: unknown): string | null {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

/**
 * The seed's GitHub OAuth2 login (`/auth/oauth2/github/login` → `/callback`), for any plain OAuth2
 * provider configured under btn.login.oauth2 (authorization code with PKCE S256 and `state`;
 * no OIDC discovery, no ID token needed), through oauth4webapi.
 */
export class OAuthLogin {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly deps: { config: () => BtnConfig; users: BtnUsers; now?: () => number },
  ) {}

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  private provider(key: string): Provider {
    const p = Object.hasOwn(this.deps.config().login.oauth2, key) ? this.deps.config().login.oauth2[key] : undefined;
    if (!p) throw new BtnError('BTN_NOT_FOUND', `no OAuth2 provider "${key}" in btn.login.oauth2`);
    return p;
  }

  private server(p: Provider): oauth.AuthorizationServer {
    return {
      issuer: new URL(p.authorizationUrl).origin,
      authorization_endpoint: p.authorizationUrl,
      token_endpoint: p.tokenUrl,
      userinfo_endpoint: p.userinfoUrl,
    };
  }

  redirectUri(key: string): string {
    const base = (this.deps.config().publicUrl ?? '').replace(/\/+$/, '');
    return `${base}/auth/oauth2/${key}/callback`;
  }

  /** Where to send the browser, and the state to bind to it (cookie). */
  async start(key: string): Promise<{ location: string; state: string }> {
    const p = this.provider(key);
    const now = this.now();
    for (const [s, v] of this.pending) if (v.expiresAt <= now || this.pending.size >= MAX_PENDING) this.pending.delete(s);
    const state = oauth.generateRandomState();
    const verifier = oauth.generateRandomCodeVerifier();
    this.pending.set(state, { provider: key, verifier, expiresAt: now + STATE_TTL_MS });
    const url = new URL(p.authorizationUrl);
    url.searchParams.set('client_id', p.clientId);
    url.searchParams.set('redirect_uri', this.redirectUri(key));
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('scope', p.scope);
    url.searchParams.set('state', state);
    url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
    url.searchParams.set('code_challenge_method', 'S256');
    return { location: url.href, state };
  }

  /**
   * The provider's redirect back: `state` must be one this server issued (once, not expired) and
   * the one in the browser's cookie; then code → token (with the PKCE verifier) → userinfo → user.
   */
  async finish(key: string, callback: URL, cookieState: string | undefined): Promise<BtnUser> {
    const p = this.provider(key);
    const state = callback.searchParams.get('state');
    const pending = state === null ? undefined : this.pending.get(state);
    if (state !== null) this.pending.delete(state);
    if (state === null || !pending || pending.provider !== key || pending.expiresAt <= this.now() || cookieState !== state) {
      throw new BtnError('BTN_LOGIN_FAILED', 'OAuth2 login refused: unknown, expired or reused state, or not the browser that started the login');
    }
    const as = this.server(p);
    const client: oauth.Client = { client_id: p.clientId };
    const insecure = [p.tokenUrl, p.userinfoUrl].some((u) => new URL(u).protocol === 'http:' && LOOPBACK.test(new URL(u).hostname));
    const options = { [oauth.allowInsecureRequests]: insecure, signal: AbortSignal.timeout(15_000) };
    let profile: Record<string, unknown>;
    try {
      const params = oauth.validateAuthResponse(as, client, callback, state);
      const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretPost(p.clientSecret), params, this.redirectUri(key), pending.verifier, options);
      const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
      const ui = await oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL(p.userinfoUrl), new Headers({ accept: 'application/json' }), null, options);
      if (!ui.ok) throw new Error(`userinfo answered HTTP ${ui.status}`);
      const body = (await ui.json()) as unknown;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('userinfo did not answer a JSON object');
      profile = body as Record<string, unknown>;
    } catch (err) {
      const detail = err instanceof oauth.AuthorizationResponseError || err instanceof oauth.ResponseBodyError ? `${err.error}: ${err.error_description ?? ''}` : (err as Error).message;
      throw new BtnError('BTN_LOGIN_FAILED', `OAuth2 login with ${key} failed: ${detail}`, { cause: err });
    }
    const subject = str(profile[p.fields.subject]);
    const login = str(profile[p.fields.login]) ?? subject;
    if (subject === null || login === null) throw new BtnError('BTN_LOGIN_FAILED', `OAuth2 login with ${key} failed: userinfo has no "${p.fields.subject}"`);
    return this.deps.users.oauthUser(
      key,
      { subject, login, nickname: str(profile[p.fields.nickname]), avatar: str(profile[p.fields.avatar]), email: str(profile[p.fields.email]) },
      { signup: p.signup, admin: p.admins.includes(login), maxApps: p.maxApps },
    );
  }

  size(): number {
    return this.pending.size;
  }
}
