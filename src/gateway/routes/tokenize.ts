/**
 * vLLM's POST /tokenize and POST /detokenize: the served model's tokenizer (and chat template)
 * over HTTP, so a client can count and inspect tokens exactly as the engine will see them.
 * /tokenize takes a `prompt` (special tokens added unless add_special_tokens is false) or chat
 * `messages` (rendered with the generation prompt unless add_generation_prompt is false; the
 * template writes its own special tokens).
 */
import type { FastifyInstance } from 'fastify';
import { XdsError } from '../../core/errors.js';
import { detokenizeRequestSchema, tokenizeRequestSchema } from '../schemas.js';
import type { GatewayContext } from '../context.js';
import { chatPrompt, checkModel } from '../request-plan.js';

export function registerTokenizeRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const model = ctx.model;
  app.post('/tokenize', async (request) => {
    const b = tokenizeRequestSchema.parse(request.body);
    if (b.model !== null && b.model !== undefined) checkModel(model, b.model);
    const hasPrompt = b.prompt !== null && b.prompt !== undefined;
    if (hasPrompt === (b.messages !== null && b.messages !== undefined)) {
      throw new XdsError('invalid_argument', 'give exactly one of prompt and messages', { param: 'prompt' });
    }
    const ids = hasPrompt
      ? model.tokenizer.encode(b.prompt!, { addSpecialTokens: b.add_special_tokens ?? true })
      : chatPrompt(model, { messages: b.messages!, tools: b.tools, chat_template_kwargs: b.chat_template_kwargs }, b.add_generation_prompt ?? true).ids;
    const strs = b.return_token_strs === true ? ids.map((id) => model.tokenizer.idToToken(id) ?? null) : null;
    return { count: ids.length, max_model_len: model.contextLen, tokens: ids, token_strs: strs };
  });
  app.post('/detokenize', async (request) => {
    const b = detokenizeRequestSchema.parse(request.body);
    if (b.model !== null && b.model !== undefined) checkModel(model, b.model);
    const vocab = model.tokenizer.vocabSize;
    const bad = b.tokens.findIndex((t) => t >= vocab);
    if (bad >= 0) throw new XdsError('invalid_argument', `tokens[${bad}] = ${b.tokens[bad]} is outside the vocabulary [0, ${vocab})`, { param: `tokens[${bad}]` });
    return { prompt: model.tokenizer.decode(b.tokens) };
  });
}
