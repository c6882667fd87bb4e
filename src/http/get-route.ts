import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteSchema } from '../api-shape/route-schema.js';

export const JSON_TYPE = 'application/json; charset=utf-8';

export interface GetRoute<T> {
  /** What the GET declares for /openapi.json (the HEAD's is the same: same statuses, no bodies). */
  schema: RouteSchema;
  /** The request's checks (key, parameters, that the thing exists): everything that decides the status. Cheap. */
  check(req: FastifyRequest): T | Promise<T>;
  /** The work and the body of a GET. HEAD never runs it. */
  run(checked: T, req: FastifyRequest, reply: FastifyReply): unknown;
  /** The Content-Type of the GET's body (default JSON). */
  contentType?: string;
}

/**
 * A GET route and its HEAD. HEAD runs only the checks, so it answers with the status GET would
 * have (401, 400, 404, 200) and the Content-Type, but never runs the query nor builds the body: no
 * Content-Length (RFC 9110 §9.3.2 lets a HEAD leave out what only the body would tell).
 */
export function getRoute<T>(app: FastifyInstance, url: string, route: GetRoute<T>): void {
  const headSchema: RouteSchema = { ...route.schema, summary: `${route.schema.summary} (HEAD: status and Content-Type only)` };
  app.head(url, { schema: headSchema }, async (req, reply) => {
    await route.check(req);
    return reply.type(route.contentType ?? JSON_TYPE).send();
  });
  app.get(url, { schema: route.schema }, async (req, reply) => route.run(await route.check(req), req, reply));
}

/** The form a path is compared in for "which methods does it have": no duplicate or trailing slashes. */
export function routeKey(path: string): string {
  const p = path.replace(/\/{2,}/g, '/').replace(/\/+$/, '');
  return p === '' ? '/' : p;
}
