import { z } from 'zod';

/**
 * What a route declares for /openapi.json (src/http/openapi.ts builds the document from it). Request
 * schemas document the parameters; the handlers still check them (the key first, then the
 * parameters, answering each API's own error codes). `errors` lists the error codes the route can
 * answer: the HTTP layer turns them into responses by status, in the body shape of the route's
 * family (`{error, message}`, or the Sparkle shape under the BTN prefixes), so domain modules
 * declare codes without knowing statuses.
 */
export interface RouteSchema {
  summary: string;
  description?: string;
  tags: string[];
  querystring?: z.ZodType;
  body?: z.ZodType;
  params?: z.ZodType;
  headers?: z.ZodType;
  consumes?: string[];
  security?: Array<Record<string, string[]>>;
  /** The answers that are not errors, by status (a zod schema, or `media(…)` for a body that is not JSON). */
  response: Record<number, z.ZodType | MediaResponse>;
  /** The error codes this route can answer (besides the ones every route can). */
  errors: readonly string[];
}

export interface MediaResponse {
  description: string;
  content: Record<string, { schema: z.ZodType }>;
}

/**
 * A schema with a name in the document: `#/components/schemas/<id>` instead of repeated inline.
 * Zod's global registry, because descriptions (`.describe()`) live there too and the document is
 * generated from one registry.
 */
export function named<T extends z.ZodType>(id: string, schema: T): T {
  z.globalRegistry.add(schema, { id });
  return schema;
}

/** A JSON answer with a description of its own (a named schema keeps its reference). */
export function json(description: string, schema: z.ZodType): MediaResponse {
  return { description, content: { 'application/json': { schema } } };
}

/** An answer of other media types (a pcap, XML, SVG, text lines). */
export function media(description: string, types: Record<string, z.ZodType>): MediaResponse {
  return { description, content: Object.fromEntries(Object.entries(types).map(([t, schema]) => [t, { schema }])) };
}

/** An answer without a body (HEAD, 204, 304): `type: null` has no content in the document. */
export function noBody(description: string): z.ZodNull {
  return z.null().describe(description);
}
