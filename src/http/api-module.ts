import type { FastifyInstance } from 'fastify';
import type { ApiDeps, ApiOptions } from './api-ports.js';
import { createApiServer } from './api-server.js';

/** The public HTTP API as the composition root sees it: built and listening at start(), closed at stop(). */
export interface ApiModule {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The API's address, e.g. http://127.0.0.1:8080 (empty before start). */
  url(): string;
}

export function createApiModule(deps: ApiDeps, options: ApiOptions & { listen: { host: string; port: number } }): ApiModule {
  let app: FastifyInstance | undefined;
  let url = '';
  return {
    async start() {
      const server = await createApiServer(deps, options);
      app = server;
      await server.listen({ host: options.listen.host, port: options.listen.port });
      const addr = server.server.address();
      url =
        typeof addr === 'object' && addr !== null
          ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
          : String(addr);
    },
    async stop() {
      await app?.close();
    },
    url: () => url,
  };
}
