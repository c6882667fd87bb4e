import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { AppError, errorMessage } from '../util/app-error.js';
import type { Logger } from '../util/logger.js';

/** What the admin endpoint can ask of the running daemon. */
export interface AdminHandlers {
  status(): Promise<unknown> | unknown;
  reload(): Promise<{ ok: boolean; message: string; restartNeeded?: string[] }>;
  metadataWanted(infohash: string): void;
}

/** True when something accepts connections on the Unix socket (a daemon is running). */
export function socketIsLive(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socketPath);
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.end();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/**
 * The local admin endpoint: HTTP over a Unix socket that only the daemon's user can open (mode
 * 0600), so the file system is the authentication. `capture-daemon status|reload` talk to it.
 */
export async function startAdminServer(socketPath: string, handlers: AdminHandlers, logger: Logger): Promise<FastifyInstance> {
  mkdirSync(path.dirname(socketPath), { recursive: true });
  if (existsSync(socketPath)) {
    if (await socketIsLive(socketPath)) {
      throw new AppError('ALREADY_RUNNING', `another daemon is already listening on ${socketPath}`);
    }
    unlinkSync(socketPath); // stale socket of a daemon that died
  }
  const app = Fastify({
    loggerInstance: logger.child({ component: 'admin' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 4096,
    requestTimeout: 10_000,
  });
  app.setErrorHandler((err, _req, reply) => {
    void reply.status(500).send({ error: 'INTERNAL_ERROR', message: errorMessage(err) });
  });
  app.get('/status', async () => handlers.status());
  app.post('/reload', async () => handlers.reload());
  app.post('/torrents/wanted', async (req) => {
    const ih = (req.query as Record<string, unknown>).infohash;
    if (typeof ih === 'string') handlers.metadataWanted(ih);
    return {};
  });
  await app.listen({ path: socketPath });
  chmodSync(socketPath, 0o600);
  return app;
}

/** The admin endpoint as the composition root sees it: listening at start(), closed at stop(). */
export function createAdminModule(deps: { handlers: AdminHandlers; logger: Logger }, options: { socket: string }): { start(): Promise<void>; stop(): Promise<void> } {
  let app: FastifyInstance | undefined;
  return {
    async start() {
      app = await startAdminServer(options.socket, deps.handlers, deps.logger);
    },
    async stop() {
      await app?.close();
    },
  };
}
