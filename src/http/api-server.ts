import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { ApiDeps, ApiOptions } from './api-ports.js';
import { registerCaptureRoutes } from './capture-routes.js';
import { discardRequestBody } from './discard-body.js';
import { routeKey } from './get-route.js';
import { registerHealthRoutes } from './health-routes.js';
import { registerOpenApi } from './openapi.js';
import { httpError, RequestError, toHttpError, type HttpError } from './http-errors.js';
import { registerTorrentRoutes } from './torrent-routes.js';

function sendError(reply: FastifyReply, e: HttpError): void {
  void reply.status(e.status).send(e.body);
}

/** The public HTTP API: Capture API + torrents. All timeouts and limits set; errors always `{error, message}`. */
export async function createApiServer(deps: ApiDeps, options: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    requestTimeout: options.requestTimeoutMs,
    connectionTimeout: options.requestTimeoutMs,
    keepAliveTimeout: options.keepAliveTimeoutMs,
    trustProxy: options.trustProxy,
    return503OnClosing: true,
    // Every GET route brings its own cheap HEAD (get-route.ts) instead of fastify's, which runs the GET.
    exposeHeadRoutes: false,
    // A request without Host is refused below with the API's error body, not Node's empty 400.
    http: { requireHostHeader: false },
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 200 },
    frameworkErrors: (_err, _req, reply) =>
      sendError(reply as unknown as FastifyReply, httpError('INVALID_PARAMETER', 'the URL is not valid (check its percent-escapes)')),
  });

  // Errors Node's HTTP parser raises before a request reaches fastify (e.g. 431 headers too large)
  // still get the API's body shape.
  app.server.removeAllListeners('clientError');
  app.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const e =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? httpError('REQUEST_TOO_LARGE', 'request line or headers are too large')
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? httpError('REQUEST_TIMEOUT', 'request took too long')
          : httpError('INVALID_PARAMETER', 'malformed HTTP request');
    const body = JSON.stringify(e.body);
    socket.end(
      `HTTP/1.1 ${e.status} ${e.body.error}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });

  // Which methods each path has, for the 405's Allow header.
  const methodsByPath = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    const key = routeKey(route.url);
    const set = methodsByPath.get(key) ?? new Set<string>();
    for (const m of [route.method].flat()) {
      set.add(m.toUpperCase());
      deps.onRoute?.(m.toUpperCase(), route.url);
    }
    methodsByPath.set(key, set);
  });

  // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400 (with the API's body).
  app.addHook('onRequest', async (req) => {
    const raw = req.raw;
    if (raw.headers.host === undefined && raw.httpVersionMajor === 1 && raw.httpVersionMinor >= 1) {
      throw new RequestError('INVALID_PARAMETER', 'an HTTP/1.1 request needs a Host header');
    }
  });

  // The form endpoints read application/x-www-form-urlencoded (or JSON); a multipart body there
  // would silently look like "no key": say what is wrong instead.
  app.addHook('preValidation', async (req) => {
    if (req.method === 'POST' && req.isMultipart() && !req.url.startsWith('/torrents/addTorrent')) {
      throw new RequestError('UNSUPPORTED_MEDIA_TYPE', 'send this form as application/x-www-form-urlencoded (curl --data, not -F)');
    }
  });

  await app.register(formbody, { bodyLimit: 64 * 1024 });
  await app.register(multipart, { limits: { fileSize: options.bodyLimitBytes, files: 1, fields: 10, parts: 12 } });

  // Modules' prefixes (BTN: /ping/, /api/) answer errors in the Sparkle shape `{success: false,
  // message, data: null}` instead of `{error, message}`.
  const stdResp = (deps.modules ?? []).flatMap((m) => m.stdRespPrefixes);
  const send = (url: string, reply: FastifyReply, e: HttpError): void => {
    if (stdResp.some((p) => url.startsWith(p))) void reply.status(e.status).send({ success: false, message: e.body.message, data: null });
    else sendError(reply, e);
  };
  // A body refused as too large: read and discard the rest (bounded) before answering 413 and
  // closing, or the client, still sending, would see a connection reset instead of the 413.
  const discardLimits = {
    maxBytes: Math.max(2 * options.bodyLimitBytes, 16 * 1024 * 1024),
    timeoutMs: Math.min(options.requestTimeoutMs, 10_000),
  };
  app.setErrorHandler(async (err, req, reply) => {
    const e = toHttpError(err, deps.storageDir);
    if (e.status === 500) req.log.error({ err }, 'request failed');
    else if (e.status === 503) req.log.warn({ url: req.url.split('?')[0], reason: e.body.message }, 'storage unavailable');
    else req.log.debug({ code: e.body.error, url: req.url.split('?')[0] }, 'client error'); // never the query: it holds the key
    if (e.status === 413) {
      await discardRequestBody(req.raw, discardLimits);
      void reply.header('connection', 'close');
    }
    const retryAfter = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    if (typeof retryAfter === 'number') void reply.header('Retry-After', String(retryAfter));
    send(req.url, reply, e);
    return reply;
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? '/';
    const allowed = methodsByPath.get(routeKey(path));
    if (allowed) {
      const allow = [...allowed].sort().join(', ');
      void reply.header('allow', allow);
      return send(req.url, reply, httpError('METHOD_NOT_ALLOWED', `${path} answers ${allow}, not ${req.method}`));
    }
    send(req.url, reply, httpError('NOT_FOUND', `no such endpoint: ${req.method} ${path}`));
  });
  const onRequestDone = deps.ops?.onRequestDone;
  app.addHook('onResponse', async (req, reply) => {
    // The route pattern, never the raw URL (bounded label set); unmatched URLs count as one.
    onRequestDone?.(req.routeOptions.url ?? 'unmatched', req.method, reply.statusCode, reply.elapsedTime);
    req.log.debug({ method: req.method, url: req.url.split('?')[0], status: reply.statusCode, durationMs: reply.elapsedTime }, 'request');
  });

  // Before the routes: the document collects them as they are added.
  await registerOpenApi(app, stdResp);
  if (deps.ops) registerHealthRoutes(app, deps.ops);
  registerCaptureRoutes(app, deps);
  registerTorrentRoutes(app, deps);
  for (const m of deps.modules ?? []) await m.register(app);
  return app;
}
