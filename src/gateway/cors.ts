/**
 * CORS for browser clients, as vLLM's defaults (FastAPI CORSMiddleware: any origin, any method
 * and header, no credentials) unless the origins are narrowed. Headers go on the raw response, so
 * the SSE streams (written on the raw socket) carry them too; preflight OPTIONS answers 204.
 */
import type { FastifyInstance } from 'fastify';

export function enableCors(app: FastifyInstance, allowedOrigins: readonly string[]): void {
  const any = allowedOrigins.includes('*');
  const allows = (origin: string): boolean => any || allowedOrigins.includes(origin);
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (typeof origin !== 'string' || !allows(origin)) return;
    reply.raw.setHeader('access-control-allow-origin', any ? '*' : origin);
    if (!any) reply.raw.setHeader('vary', 'Origin');
  });
  app.options('*', async (request, reply) => {
    const origin = request.headers.origin;
    if (typeof origin === 'string' && allows(origin)) {
      reply.header('access-control-allow-methods', 'GET, POST, OPTIONS');
      reply.header('access-control-allow-headers', request.headers['access-control-request-headers'] ?? '*');
      reply.header('access-control-max-age', '600');
    }
    return reply.status(204).send();
  });
}
