/**
 * POST /v1/completions (the legacy text API): prompt as a string, strings, token ids or lists of
 * token ids; n choices per prompt (choice index = prompt · n + i); logprobs in the legacy shape
 * `{tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}`.
 */
import type { FastifyInstance } from 'fastify';
import { XdsError } from '../../core/errors.js';
import type { TokenLogprobEntry } from '../../flowserve/output/logprobs.js';
import { completionRequestSchema, type CompletionRequest } from '../schemas.js';
import type { GatewayContext } from '../context.js';
import { checkModel, choiceSpecs, completionPrompts, maxTokensOf, newRequestId, samplingOf, stopStrings } from '../request-plan.js';
import { runExchange, type CollectedChoice, type DeltaEvent, type DoneEvent, type ResponseFormat } from '../exchange.js';
import type { ChoiceSpec } from '../choice-run.js';
import { chunkSerializer, textChoiceJson } from '../chunk-json.js';

/** OpenAI's completions default. */
const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

export function legacyLogprobs(lps: readonly TokenLogprobEntry[], textOffset0 = 0): Record<string, unknown[]> {
  const offsets: number[] = [];
  let at = textOffset0;
  for (const l of lps) { offsets.push(at); at += l.token.length; }
  return {
    tokens: lps.map((l) => l.token),
    token_logprobs: lps.map((l) => l.logprob),
    top_logprobs: lps.map((l) => Object.fromEntries(l.topLogprobs.map((t) => [t.token, t.logprob]))),
    text_offset: offsets,
  };
}

function completionFormat(ctx: GatewayContext, id: string, created: number, wantLogprobs: boolean): ResponseFormat {
  const head = { id, object: 'text_completion', created, model: ctx.model.name, system_fingerprint: null };
  const lp = (x: readonly TokenLogprobEntry[]): unknown => (wantLogprobs ? legacyLogprobs(x) : null);
  const raw = chunkSerializer(head);
  return {
    openingChunks: () => [],
    deltaChunk: (ev: DeltaEvent) => (wantLogprobs
      ? { ...head, choices: [{ index: ev.index, text: ev.content, logprobs: lp(ev.logprobs), finish_reason: null }], usage: null }
      : raw(textChoiceJson(ev.index, ev.content))),
    finishChunk: (ev: DoneEvent) => ({ ...head, choices: [{ index: ev.index, text: '', logprobs: null, finish_reason: ev.finishReason }], usage: null }),
    usageChunk: (usage) => ({ ...head, choices: [], usage }),
    body: (choices: readonly CollectedChoice[], usage) => ({
      ...head,
      choices: choices.map((c) => ({ index: c.index, text: c.content, logprobs: lp(c.logprobs), finish_reason: c.finishReason })),
      usage,
    }),
  };
}

function checkCompletion(b: CompletionRequest): void {
  if (b.echo === true) throw new XdsError('invalid_argument', 'echo is not supported', { param: 'echo' });
  if (b.suffix !== null && b.suffix !== undefined && b.suffix !== '') throw new XdsError('invalid_argument', 'suffix is not supported', { param: 'suffix' });
}

export function registerCompletionsRoute(app: FastifyInstance, ctx: GatewayContext): void {
  app.post('/v1/completions', async (request, reply) => {
    const b = completionRequestSchema.parse(request.body);
    checkModel(ctx.model, b.model);
    checkCompletion(b);
    const prompts = completionPrompts(ctx.model, b);
    const wantLogprobs = b.logprobs !== null && b.logprobs !== undefined;
    const sampling = samplingOf(ctx.model, b, wantLogprobs ? b.logprobs! : null);
    const id = newRequestId('cmpl');
    const controller = new AbortController();
    const n = b.n ?? 1;
    const specs: ChoiceSpec[] = prompts.flatMap((promptIds, p) => choiceSpecs(ctx.model, {
      requestId: id, promptIds, firstIndex: p * n, n, sampling, stop: stopStrings(b.stop), extraStopTokenIds: b.stop_token_ids ?? [], ignoreEos: b.ignore_eos === true,
      includeStopStr: b.include_stop_str_in_output === true,
      maxTokens: maxTokensOf(ctx.model, promptIds.length, b.max_tokens ?? Math.min(COMPLETIONS_DEFAULT_MAX_TOKENS, ctx.model.contextLen - promptIds.length), 'max_tokens', prompts.length > 1 ? `prompt[${p}]` : 'prompt'),
      wantLogprobs, signal: controller.signal,
    }));
    const format = completionFormat(ctx, id, Math.floor(Date.now() / 1000), wantLogprobs);
    await runExchange(ctx, reply, { specs, n, stream: b.stream === true, includeUsage: b.stream_options?.include_usage === true, format, controller });
    return reply;
  });
}
