/**
 * The gateway: a Fastify app factory for one served model (paper §1.2 "Job Executor", §2.11: a
 * stateless OpenAI-compatible frontend; any number may run). Routes: POST /v1/chat/completions,
 * POST /v1/completions, GET /v1/models, POST /tokenize and /detokenize, GET /health, GET /metrics;
 * with an API key, /v1/* needs it (api-key.ts). Errors of every route go through
 * errors.ts. `shutdown()` is the SIGTERM path: stop accepting, let the DP group finish the requests
 * in hand (their responses complete), then close.
 *
 *   const gw = createGateway({ model: loadServedModel({ dir }) });
 *   const { url } = await gw.listen({ port: 8000, host: '127.0.0.1' });
 *   process.on('SIGTERM', () => void gw.shutdown());
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { ServedModel } from '../serving/served-model.js';
import { XdsError } from '../core/errors.js';
import { GatewayMetrics } from './metrics.js';
import { errorResponse, sendError } from './errors.js';
import type { GatewayContext } from './context.js';
import { makeLogger, type Logger } from './logger.js';
import { registerChatRoute } from './routes/chat.js';
import { registerCompletionsRoute } from './routes/completions.js';
import { registerModelsRoute } from './routes/models.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerTokenizeRoutes } from './routes/tokenize.js';
import { requireApiKey } from './api-key.js';
import { enableCors } from './cors.js';

export interface GatewayOptions {
  readonly model: ServedModel;
  /** A pino logger, or a level for a new one (default 'info'; tests: 'silent'). */
  readonly logger?: Logger | string;
  /** Largest request body (default 16 MiB). */
  readonly bodyLimitBytes?: number;
  /** /v1/* requests must carry `Authorization: Bearer <apiKey>` (api-key.ts); absent: open. */
  readonly apiKey?: string;
  /** Origins browsers may call from (cors.ts); default ['*'] as vLLM; [] turns CORS off. */
  readonly allowedOrigins?: readonly string[];
}

export interface Gateway {
  readonly app: FastifyInstance;
  readonly ctx: GatewayContext;
  /** Starts the engine loop and listens; port 0 picks a free port. */
  listen(o: { port: number; host: string }): Promise<{ port: number; host: string; url: string }>;
  /** Graceful shutdown: new requests get 503, in-flight ones complete, then the server closes. */
  shutdown(): Promise<void>;
  readonly isDraining: boolean;
}

export function createGateway(o: GatewayOptions): Gateway {
  const logger = typeof o.logger === 'object' ? o.logger : makeLogger(o.logger ?? 'info');
  const app: FastifyInstance = Fastify({ loggerInstance: logger as FastifyBaseLogger, bodyLimit: o.bodyLimitBytes ?? 16 * 2 ** 20, forceCloseConnections: 'idle', logController: new LogController({ disableRequestLogging: true }) });
  const ctx: GatewayContext = { model: o.model, metrics: new GatewayMetrics(o.model.engine, o.model.name) };
  let isDraining = false;
  app.setErrorHandler((e, request, reply) => {
    ctx.metrics.observeRejected(errorResponse(e).body.error.code);
    return sendError(e, request, reply);
  });
  app.setNotFoundHandler((request, reply) => sendError(new XdsError('not_found', `no route ${request.method} ${request.url}`), request, reply));
  // A new connection is a request about to arrive: the engine's loop admits it before its next
  // step (Node accepts one connection per event-loop turn; engine-loop.ts "admission window").
  app.server.on('connection', () => o.model.engine.noteArrival());
  const origins = o.allowedOrigins ?? ['*'];
  if (origins.length > 0) enableCors(app, origins);
  if (o.apiKey !== undefined) requireApiKey(app, o.apiKey);
  app.addHook('onRequest', async (request) => {
    if (isDraining && request.method === 'POST') throw new XdsError('shutting_down', 'the server is shutting down');
  });
  registerChatRoute(app, ctx);
  registerCompletionsRoute(app, ctx);
  registerModelsRoute(app, ctx);
  registerTokenizeRoutes(app, ctx);
  registerHealthRoutes(app, ctx, () => isDraining);
  return {
    app, ctx,
    get isDraining() { return isDraining; },
    async listen({ port, host }) {
      o.model.engine.warmUp(); // before the port opens: the first requests do not pay it
      try {
        await app.listen({ port, host });
      } catch (e) {
        throw new XdsError('invalid_config', `cannot listen on ${host}:${port}: ${(e as Error).message}`, { param: 'port', cause: e });
      }
      o.model.engine.start();
      const addr = app.server.address();
      const bound = typeof addr === 'object' && addr !== null ? addr.port : port;
      return { port: bound, host, url: `http://${host}:${bound}` };
    },
    async shutdown() {
      isDraining = true;
      // NOTE: drain first, close after: close() only drops connections idle at that moment, and a
      // stream that ends later would keep its keep-alive socket (and the process) open.
      await o.model.engine.drain();
      await new Promise((resolve) => setImmediate(resolve));
      await app.close();
    },
  };
}
