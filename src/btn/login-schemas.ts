import { z } from 'zod';
import { json, noBody, type RouteSchema } from '../api-shape/route-schema.js';
import { user } from './btn-schemas.js';

const TAGS = ['BTN query API'];
const ok = (data: z.ZodType): z.ZodObject => z.strictObject({ success: z.literal(true), message: z.string().nullable(), data });
const provider = z.object({ provider: z.string().describe('the key under btn.login.oauth2, e.g. github') });

/** What the login routes (login-routes.ts) declare for /openapi.json. */
export const LOGIN_SCHEMAS = {
  passwordLogin: {
    summary: 'Log in with a password (users made by `capture-daemon btn user add`): sets the btn_session cookie',
    tags: TAGS,
    body: z.object({ username: z.string(), password: z.string() }),
    response: {
      200: json(
        'the session: its token also works as Authorization: Bearer',
        ok(z.strictObject({ token: z.string(), expiresAt: z.int().describe('epoch ms'), user })),
      ),
    },
    errors: ['BTN_LOGIN_FAILED', 'BTN_TOO_MANY_LOGINS', 'BTN_BAD_PARAMETER', 'BTN_BAD_BODY', 'STORAGE_UNAVAILABLE'],
  },
  oauthLogin: {
    summary: "Start an OAuth2 login (the seed's GitHub login): redirects to the provider with state and PKCE",
    tags: TAGS,
    params: provider,
    response: { 302: noBody('to the provider; sets the btn_oauth_state cookie') },
    errors: ['BTN_NOT_FOUND'],
  },
  oauthCallback: {
    summary: 'The provider redirects here: checks state, trades the code (PKCE), reads userinfo, opens a session',
    tags: TAGS,
    params: provider,
    querystring: z.object({ code: z.string().optional(), state: z.string().optional(), error: z.string().optional() }),
    response: { 302: noBody('to btn.login.afterLoginUrl; sets the btn_session cookie') },
    errors: ['BTN_LOGIN_FAILED', 'BTN_NOT_FOUND', 'STORAGE_UNAVAILABLE'],
  },
} satisfies Record<string, RouteSchema>;
