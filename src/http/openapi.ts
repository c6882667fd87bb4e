import swagger from '@fastify/swagger';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { createJsonSchemaTransform, createJsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { named, noBody, type MediaResponse, type RouteSchema } from '../api-shape/route-schema.js';
import { VERSION } from '../util/version.js';
import { getRoute } from './get-route.js';
import { HTTP_STATUS, type ApiErrorCode } from './http-errors.js';

/** The document's tags, in the order a reader meets them. */
export const API_TAGS = [
  { name: 'Capture API', description: 'Captured peers and Capture Filters (wire-compatible with the Capture API; key: `key` parameter)' },
  { name: 'Torrents', description: 'The torrents the Capture API relies on (key: `key` parameter)' },
  { name: 'Health', description: 'Liveness and readiness, no key' },
  { name: 'BTN client protocol', description: "PeerBanHelper's BTN protocol under /ping/ (when btn.enabled); errors in the Sparkle shape" },
  { name: 'BTN query API', description: 'The Sparkle query API under /api/ (when btn.enabled); errors in the Sparkle shape' },
  { name: 'Spam list', description: 'TorrentSpam-compatible reports, lists, checks and badges (when spam.enabled)' },
  { name: 'Dashboard', description: 'The web dashboard and its data (when dashboard.enabled): session cookie from the login form, or an API key' },
  { name: 'Meta', description: 'This document' },
];

/** Errors any route can answer: a request refused before the route's own checks, too slow, a real internal failure. */
const COMMON_ERRORS: readonly ApiErrorCode[] = ['INVALID_PARAMETER', 'REQUEST_TIMEOUT', 'INTERNAL_ERROR'];
/** …and any route that takes a body: too large, of a content type it does not read. */
const BODY_ERRORS: readonly ApiErrorCode[] = ['PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'];

const sparkleError = named(
  'SparkleError',
  z.strictObject({ success: z.literal(false), message: z.string(), data: z.null() }).describe('an error of the BTN routes (Sparkle shape; the code is not on the wire)'),
);

function isApiCode(code: string): code is ApiErrorCode {
  return Object.hasOwn(HTTP_STATUS, code);
}

/**
 * The error responses of a route, by status, in its family's body shape: `{error, message}` with
 * exactly the codes it can answer at that status, or the Sparkle body under `sparklePrefixes`.
 */
export function errorResponses(url: string, method: string, codes: readonly string[], sparklePrefixes: readonly string[]): Record<number, z.ZodType> {
  const all = new Set<string>([...COMMON_ERRORS, ...(method === 'POST' || method === 'PUT' || method === 'PATCH' ? BODY_ERRORS : []), ...codes]);
  const byStatus = new Map<number, ApiErrorCode[]>();
  for (const code of all) {
    if (!isApiCode(code)) throw new Error(`route ${method} ${url} declares the error code ${code}, which http-errors.ts does not know`);
    const status = HTTP_STATUS[code];
    // 5xx answers hide their code (INTERNAL_ERROR), except the two that say theirs.
    const wire: ApiErrorCode = status >= 500 && code !== 'BTN_APP_LIMIT' && code !== 'STORAGE_UNAVAILABLE' ? 'INTERNAL_ERROR' : code;
    const list = byStatus.get(status) ?? [];
    if (!list.includes(wire)) list.push(wire);
    byStatus.set(status, list);
  }
  const sparkle = sparklePrefixes.some((p) => url.startsWith(p));
  const out: Record<number, z.ZodType> = {};
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    const codesText = list.join(', ');
    out[status] = sparkle
      ? sparkleError.describe(codesText)
      : z.strictObject({ error: z.enum(list as [ApiErrorCode, ...ApiErrorCode[]]), message: z.string() }).describe(codesText);
  }
  return out;
}

function descriptionOf(r: unknown): string | undefined {
  return r instanceof z.ZodType ? r.description : (r as MediaResponse | undefined)?.description;
}

/** A route's declared schema as fastify and @fastify/swagger take it: errors expanded, a HEAD's answers without bodies. */
function expand(route: RouteOptions, sparklePrefixes: readonly string[]): void {
  const s = route.schema as RouteSchema | undefined;
  if (!s || !Array.isArray(s.errors)) return;
  const method = [route.method].flat()[0]?.toUpperCase() ?? 'GET';
  const { errors, ...rest } = s;
  const merged: Record<string, unknown> = { ...errorResponses(route.url, method === 'HEAD' ? 'GET' : method, errors, sparklePrefixes), ...s.response };
  let response = Object.fromEntries(Object.entries(merged).sort((a, b) => Number(a[0]) - Number(b[0])));
  if (method === 'HEAD') {
    response = Object.fromEntries(
      Object.entries(response).map(([status, r]) => {
        const d = descriptionOf(r);
        return [status, noBody(`as GET would answer${d ? ` (${d})` : ''}, without a body`)];
      }),
    );
  }
  route.schema = { ...rest, response } as RouteOptions['schema'];
}

/**
 * OpenAPI 3.1 from the schemas the routes declare (zod, converted by fastify-type-provider-zod and
 * @fastify/swagger), served at `GET /openapi.json` without a key. Register before any route: the
 * routes are collected as they are added.
 *
 * Declared schemas change no answer: request schemas are not enforced by fastify (each handler
 * checks the key first and then its parameters, answering the API's own codes in its own body
 * shape, which clients rely on), and bodies are still written with JSON.stringify.
 * test/integration/openapi.test.ts checks real answers against the document instead.
 */
export async function registerOpenApi(app: FastifyInstance, sparklePrefixes: readonly string[]): Promise<void> {
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data: unknown) => JSON.stringify(data));
  app.addHook('onRoute', (route) => expand(route, sparklePrefixes));
  const zodToJsonConfig = { target: 'draft-2020-12' as const };
  const toObject = createJsonSchemaTransformObject({ zodToJsonConfig });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'capture-daemon HTTP API',
        version: VERSION,
        description:
          'The Capture API (captured peers, Capture Filters, torrents, pcap downloads), health, and, when enabled, the BTN server and the spam list. Every GET answers HEAD too (status and Content-Type, no body). Prometheus metrics are on their own listener (metrics.listen), not here. In words: docs/api.md.',
      },
      tags: API_TAGS,
      components: {
        securitySchemes: {
          btnApp: { type: 'apiKey', in: 'header', name: 'X-BTN-AppID', description: 'with X-BTN-AppSecret (the other credential forms: docs/api.md)' },
          btnAppSecret: { type: 'apiKey', in: 'header', name: 'X-BTN-AppSecret' },
          btnUser: { type: 'http', scheme: 'bearer', description: 'the token of a btn.users entry, or of a login session' },
          btnSession: { type: 'apiKey', in: 'cookie', name: 'btn_session', description: 'the session cookie of a BTN login' },
        },
      },
    },
    exposeHeadRoutes: true,
    transform: createJsonSchemaTransform({ zodToJsonConfig, skipList: [] }),
    // Every named schema is emitted twice (as read and as written): keep the ones the document uses.
    transformObject: (doc) => pruneComponents(toObject(doc) as Record<string, unknown>) as ReturnType<typeof toObject>,
  });

  getRoute(app, '/openapi.json', {
    schema: {
      summary: 'This OpenAPI 3.1 document',
      tags: ['Meta'],
      response: { 200: z.looseObject({ openapi: z.literal('3.1.0'), info: z.looseObject({}), paths: z.looseObject({}) }).describe('the document') },
      errors: [],
    },
    check: () => undefined,
    run: () => app.swagger(),
  });
}

/** Drops the component schemas nothing refers to (directly or through another component). */
function pruneComponents(doc: Record<string, unknown>): Record<string, unknown> {
  const components = doc.components as { schemas?: Record<string, unknown> } | undefined;
  const schemas = components?.schemas;
  if (!schemas) return doc;
  const refsIn = (v: unknown): string[] => [...JSON.stringify(v).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1] as string);
  const keep = new Set<string>();
  const queue = refsIn({ ...doc, components: { ...components, schemas: {} } });
  while (queue.length > 0) {
    const id = queue.pop() as string;
    if (keep.has(id)) continue;
    keep.add(id);
    queue.push(...refsIn(schemas[id]));
  }
  return { ...doc, components: { ...components, schemas: Object.fromEntries(Object.entries(schemas).filter(([id]) => keep.has(id))) } };
}
