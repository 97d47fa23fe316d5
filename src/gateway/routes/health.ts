/**
 * GET /health (the heartbeat a router or the Cluster Manager polls, paper notes §2.10/§2.12) and
 * GET /metrics (Prometheus text). /health answers 503 while the server drains.
 */
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../context.js';

export function registerHealthRoutes(app: FastifyInstance, ctx: GatewayContext, isDraining: () => boolean): void {
  app.get('/health', async (_request, reply) => {
    const s = ctx.model.engine.stats();
    const body = { status: isDraining() ? 'draining' : 'ok', model: ctx.model.name, running: s.numRunning, waiting: s.numWaiting, kvUsage: s.kv.usage };
    return reply.status(isDraining() ? 503 : 200).send(body);
  });
  app.get('/metrics', async (_request, reply) => reply.type(ctx.metrics.contentType).send(await ctx.metrics.text()));
}
