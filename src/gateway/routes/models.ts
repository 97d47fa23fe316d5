/** GET /v1/models and /v1/models/:id: the served model in OpenAI's list shape. */
import type { FastifyInstance } from 'fastify';
import { XdsError } from '../../core/errors.js';
import type { GatewayContext } from '../context.js';

export function registerModelsRoute(app: FastifyInstance, ctx: GatewayContext): void {
  const card = (): Record<string, unknown> => ({
    id: ctx.model.name, object: 'model', created: ctx.model.createdSec, owned_by: 'xdeepserve', max_model_len: ctx.model.contextLen,
  });
  app.get('/v1/models', async () => ({ object: 'list', data: [card()] }));
  app.get<{ Params: { id: string } }>('/v1/models/*', async (request) => {
    const id = (request.params as Record<string, string>)['*'] ?? '';
    if (id !== ctx.model.name) throw new XdsError('model_not_found', `The model '${id}' does not exist`, { param: 'model' });
    return card();
  });
}
