import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { ApiError } from '../util/app-error.js';
import type { ApiDeps, ApiOptions } from './api-ports.js';
import { registerCaptureRoutes } from './capture-routes.js';
import { registerTorrentRoutes } from './torrent-routes.js';

/** Maps fastify's own client errors onto the API's codes; anything else is a 500 without details. */
function toApiError(err: FastifyError | Error): ApiError {
  if (err instanceof ApiError) return err;
  const fe = err as FastifyError;
  const status = fe.statusCode ?? 500;
  if (status === 413 || fe.code === 'FST_REQ_FILE_TOO_LARGE' || fe.code === 'FST_FILES_LIMIT' || fe.code === 'FST_PARTS_LIMIT') {
    return new ApiError(413, 'PAYLOAD_TOO_LARGE', 'request body is too large');
  }
  if (status === 415) return new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'use application/x-www-form-urlencoded (or multipart/form-data for uploads)');
  if (status === 408) return new ApiError(408, 'REQUEST_TIMEOUT', 'request took too long');
  if (status >= 400 && status < 500) return new ApiError(status, 'INVALID_PARAMETER', fe.message);
  return new ApiError(500, 'INTERNAL_ERROR', 'internal server error');
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
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 200 },
    frameworkErrors: (_err, _req, reply) =>
      void (reply as unknown as FastifyReply)
        .status(400)
        .send({ error: 'INVALID_PARAMETER', message: 'the URL is not valid (check its percent-escapes)' }),
  });

  // Errors Node's HTTP parser raises before a request reaches fastify (e.g. 431 headers too large)
  // still get the API's body shape.
  app.server.removeAllListeners('clientError');
  app.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const [status, code, message] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'REQUEST_TOO_LARGE', 'request line or headers are too large']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'REQUEST_TIMEOUT', 'request took too long']
          : [400, 'INVALID_PARAMETER', 'malformed HTTP request'];
    const body = JSON.stringify({ error: code, message });
    socket.end(
      `HTTP/1.1 ${status} ${code}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });

  // The form endpoints read application/x-www-form-urlencoded (or JSON); a multipart body there
  // would silently look like "no key": say what is wrong instead.
  app.addHook('preValidation', async (req) => {
    if (req.method === 'POST' && req.isMultipart() && !req.url.startsWith('/torrents/addTorrent')) {
      throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send this form as application/x-www-form-urlencoded (curl --data, not -F)');
    }
  });

  await app.register(formbody, { bodyLimit: 64 * 1024 });
  await app.register(multipart, { limits: { fileSize: options.bodyLimitBytes, files: 1, fields: 10, parts: 12 } });

  app.setErrorHandler((err, req, reply) => {
    const api = toApiError(err as Error);
    if (api.status >= 500) req.log.error({ err }, 'request failed');
    else req.log.debug({ code: api.code, url: req.url }, 'client error');
    void reply.status(api.status).send({ error: api.code, message: api.message });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: 'NOT_FOUND', message: `no such endpoint: ${req.method} ${req.url.split('?')[0]}` });
  });
  app.addHook('onResponse', async (req, reply) => {
    req.log.debug({ method: req.method, url: req.url.split('?')[0], status: reply.statusCode, durationMs: reply.elapsedTime }, 'request');
  });

  registerCaptureRoutes(app, deps);
  registerTorrentRoutes(app, deps);
  return app;
}
