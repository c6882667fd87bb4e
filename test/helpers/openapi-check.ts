import { connect } from 'node:net';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { expect } from 'vitest';

// Checks real answers of a running API server against its /openapi.json (test/integration/openapi.test.ts).

export type Json = Record<string, unknown>;
export interface Operation {
  summary?: string;
  tags?: string[];
  parameters?: unknown[];
  requestBody?: unknown;
  responses: Record<string, { description: string; content?: Record<string, { schema: Json }> }>;
}
export interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: Json;
}

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

/** fastify's `/a/:id` as OpenAPI's `/a/{id}`. */
export const docPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

export function operation(doc: OpenApiDoc, method: string, url: string): Operation | undefined {
  return doc.paths[docPath(url)]?.[method.toLowerCase()];
}

/** A request without a Host header (refused by every route with 400 INVALID_PARAMETER), over a raw socket. */
function noHostRequest(port: number, method: string, url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('connect', () => s.write(`${method} ${url} HTTP/1.1\r\nConnection: close\r\n\r\n`));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n', 2);
      const lines = head.split('\r\n');
      const ct = lines.find((l) => l.toLowerCase().startsWith('content-type:'));
      resolve({ status: Number(lines[0]?.split(' ')[1]), contentType: ct ? ct.slice(13).trim() : '', text: method === 'HEAD' ? '' : body });
    });
  });
}

export interface Case {
  /** The route it must reach: "METHOD /fastify/url/:param". */
  route: string;
  /** The URL requested (path and query). */
  url: string;
  init?: RequestInit;
  /** The status it must get. */
  status: number;
  /** Sent over a raw socket without a Host header. */
  noHost?: boolean;
  /** An endless answer (server-sent events): only its first chunk is read and checked. */
  stream?: boolean;
  before?: () => void;
}

/**
 * Sends cases and checks each answer: the expected status, reached the expected route (the server's
 * own record of the matched route), the status is declared for that operation, the media type is
 * declared for it, and the body validates against the declared schema (ajv, JSON Schema 2020-12).
 */
export class AnswerChecker {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly validators = new Map<string, ValidateFunction>();
  /** Every answer checked: method, route, status. */
  readonly exercised: Array<{ method: string; route: string; status: number }> = [];

  constructor(
    private readonly doc: OpenApiDoc,
    private readonly server: { base: string; port: number; answered: ReadonlyArray<{ route: string; method: string; status: number }> },
  ) {}

  private validatorFor(schema: Json): ValidateFunction {
    const keyText = JSON.stringify(schema);
    let v = this.validators.get(keyText);
    if (!v) {
      // The component schemas travel with each response schema, so `#/components/schemas/X` resolves.
      v = this.ajv.compile({ ...schema, components: this.doc.components });
      this.validators.set(keyText, v);
    }
    return v;
  }

  async run(c: Case): Promise<void> {
    const [method = 'GET', routeUrl = ''] = c.route.split(' ');
    c.before?.();
    const answered = this.server.answered;
    const seen = answered.length;
    let a: Answer;
    if (c.noHost) {
      a = await noHostRequest(this.server.port, method, c.url);
    } else if (c.stream) {
      const abort = new AbortController();
      const res = await fetch(`${this.server.base}${c.url}`, { method, ...c.init, signal: abort.signal });
      const first = await res.body?.getReader().read();
      abort.abort();
      a = { status: res.status, contentType: res.headers.get('content-type') ?? '', text: Buffer.from(first?.value ?? []).toString('utf8') };
      expect(a.text.length, `${c.url}: the stream sends something at once`).toBeGreaterThan(0);
    } else {
      const res = await fetch(`${this.server.base}${c.url}`, { method, ...c.init });
      a = { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() };
    }
    const label = `${c.route} ${c.url} → ${a.status} ${a.text.slice(0, 200)}`;
    expect(a.status, label).toBe(c.status);
    // The request reached the route it is meant for (onResponse runs just after the answer is sent;
    // not for a stream the client left, which never finishes).
    if (!c.stream) {
      for (let i = 0; i < 400 && answered.length === seen; i++) await new Promise((r) => setTimeout(r, 5));
      expect(answered.slice(seen).map((x) => `${x.method} ${x.route} ${x.status}`), label).toEqual([`${method} ${routeUrl} ${a.status}`]);
    }

    const op = operation(this.doc, method, routeUrl);
    expect(op, `${c.route} is documented`).toBeDefined();
    const declared = op?.responses[String(a.status)];
    expect(declared, `${label}: status ${a.status} is declared`).toBeDefined();
    if (method === 'HEAD' || a.status === 204 || (a.status >= 300 && a.status < 400)) {
      // No body: HEAD, 204, redirects and 304.
      expect(declared?.content, label).toBeUndefined();
      expect(a.text, label).toBe('');
    } else {
      const mediaType = a.contentType.split(';')[0]?.trim() ?? '';
      const media = declared?.content?.[mediaType];
      expect(media, `${label}: media type ${mediaType} is declared for ${a.status}`).toBeDefined();
      const data: unknown = mediaType.endsWith('json') ? JSON.parse(a.text) : a.text;
      const validate = this.validatorFor(media?.schema as Json);
      expect(validate(data), `${label}: ${this.ajv.errorsText(validate.errors)}`).toBe(true);
    }
    this.exercised.push({ method, route: routeUrl, status: a.status });
  }
}
