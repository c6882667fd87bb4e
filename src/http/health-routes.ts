import type { FastifyInstance } from 'fastify';
import type { ApiOps } from './api-ports.js';
import { CAPTURE_SCHEMAS as S } from './capture-schemas.js';

/**
 * `GET /healthz` (alive: the process answers) and `GET /readyz` (API bound, database writable, DHT
 * answering when it has nodes, event loop not stuck: 200, else 503 with the failing checks). No API
 * key: they say nothing about the data, and load balancers and orchestrators call them bare.
 */
export function registerHealthRoutes(app: FastifyInstance, ops: ApiOps): void {
  app.get('/healthz', { schema: S.healthz }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: S.readyz }, async (_req, reply) => {
    const report = ops.readiness();
    return reply.status(report.ready ? 200 : 503).send(report);
  });
}
