/** Credentials a BTN request carries, read in the reference server's order (spec §5). */
export interface BtnCredentials {
  appId?: string;
  appSecret?: string;
  installationId?: string;
}

type Headers = Record<string, string | string[] | undefined>;
type Query = Record<string, unknown>;

function one(v: unknown): string | undefined {
  if (Array.isArray(v)) v = v[0];
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  return t;
}

function bearer(v: unknown): { appId: string; appSecret: string } | undefined {
  const s = one(v);
  if (!s || !/^bearer\s/i.test(s)) return undefined;
  const token = s.slice(6).trim();
  const at = token.indexOf('@');
  if (at < 0) return undefined;
  return { appId: token.slice(0, at).trim(), appSecret: token.slice(at + 1).trim() };
}

function valid(c: BtnCredentials): boolean {
  return (c.appId !== undefined && c.appSecret !== undefined) || (c.installationId !== undefined && c.installationId !== '');
}

function clean(c: BtnCredentials): BtnCredentials {
  const out: BtnCredentials = {};
  if (c.appId !== undefined) out.appId = c.appId;
  if (c.appSecret !== undefined) out.appSecret = c.appSecret;
  if (c.installationId !== undefined && c.installationId !== '') out.installationId = c.installationId;
  return out;
}

/**
 * The first valid source, in order: X-BTN-AppID/-AppSecret (+ X-BTN-InstallationID);
 * `Authorization: Bearer id@secret`; the misspelt `Authentication: Bearer id@secret` that the
 * client actually sends; the query parameters appId/appSecret/installationId (the ip_query
 * iframe); BTN-AppID/BTN-AppSecret. A Bearer value splits at the first "@". Undefined: none.
 */
export function readCredentials(headers: Headers, query: Query): BtnCredentials | undefined {
  const installationId = one(headers['x-btn-installationid']);
  const sources: Array<() => BtnCredentials> = [
    () => ({ appId: one(headers['x-btn-appid']), appSecret: one(headers['x-btn-appsecret']), installationId }) as BtnCredentials,
    () => ({ ...bearer(headers.authorization), installationId }) as BtnCredentials,
    () => ({ ...bearer(headers.authentication), installationId }) as BtnCredentials,
    () => ({ appId: one(query.appId), appSecret: one(query.appSecret), installationId: one(query.installationId) }) as BtnCredentials,
    () => ({ appId: one(headers['btn-appid']), appSecret: one(headers['btn-appsecret']) }) as BtnCredentials,
  ];
  for (const source of sources) {
    const c = clean(source());
    if (valid(c)) return c;
  }
  return undefined;
}

/** Blank or the shipped `example-app-id` / `example-app-secret`: the client sends its installation id then. */
export function isPlaceholder(c: BtnCredentials): boolean {
  const blank = (s: string | undefined): boolean => s === undefined || s === '' || s.startsWith('example-');
  return blank(c.appId) || blank(c.appSecret);
}
