/**
 * POST /v1/chat/completions (paper §1.3 step 1, the Chat API): messages rendered through the
 * model's chat template, n choices, streaming chunks or one body, OpenAI's JSON shapes with
 * `usage` on every response, logprobs as `{content: [{token, logprob, bytes, top_logprobs}]}`.
 */
import type { FastifyInstance } from 'fastify';
import { XdsError } from '../../core/errors.js';
import type { TokenLogprobEntry, TokenLogprobText } from '../../flowserve/output/logprobs.js';
import { chatRequestSchema, type ChatRequest } from '../schemas.js';
import type { GatewayContext } from '../context.js';
import { checkModel, chatPrompt, choiceSpecs, forcedToolOf, priorityOf, structuredOutputOf, toolParserFor, maxTokensOf, newRequestId, samplingOf, stopStrings } from '../request-plan.js';
import { runExchange, type CollectedChoice, type DeltaEvent, type DoneEvent, type OpenAiUsage, type ResponseFormat } from '../exchange.js';
import { chunkSerializer, contentDeltaChoiceJson } from '../chunk-json.js';

function tokenEntry(t: TokenLogprobText): { token: string; logprob: number; bytes: number[] } {
  return { token: t.token, logprob: t.logprob, bytes: [...t.bytes] };
}

export function chatLogprobs(lps: readonly TokenLogprobEntry[]): { content: unknown[]; refusal: null } {
  return { content: lps.map((l) => ({ ...tokenEntry(l), top_logprobs: l.topLogprobs.map(tokenEntry) })), refusal: null };
}

function chatFormat(ctx: GatewayContext, id: string, created: number, wantLogprobs: boolean): ResponseFormat {
  const head = { id, object: 'chat.completion.chunk', created, model: ctx.model.name, system_fingerprint: null };
  const chunk = (choices: unknown[], usage: OpenAiUsage | null = null): unknown => ({ ...head, choices, usage });
  const raw = chunkSerializer(head);
  return {
    openingChunks: (indices) => [chunk(indices.map((index) => ({ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null })))],
    deltaChunk: (ev: DeltaEvent) => (!wantLogprobs && ev.content !== '' && ev.reasoning === '' && ev.toolCalls.length === 0
      ? raw(contentDeltaChoiceJson(ev.index, ev.content))
      : chunk([{ index: ev.index, delta: deltaOf(ev), logprobs: wantLogprobs ? chatLogprobs(ev.logprobs) : null, finish_reason: null }])),
    finishChunk: (ev: DoneEvent) => chunk([{ index: ev.index, delta: {}, logprobs: null, finish_reason: ev.finishReason }]),
    usageChunk: (usage) => chunk([], usage),
    body: (choices: readonly CollectedChoice[], usage) => ({
      id, object: 'chat.completion', created, model: ctx.model.name, system_fingerprint: null,
      choices: choices.map((c) => ({ index: c.index, message: messageOf(c), logprobs: wantLogprobs ? chatLogprobs(c.logprobs) : null, finish_reason: c.finishReason })),
      usage,
    }),
  };
}

function deltaOf(ev: DeltaEvent): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  if (ev.content !== '') d.content = ev.content;
  if (ev.reasoning !== '') d.reasoning_content = ev.reasoning;
  if (ev.toolCalls.length > 0) d.tool_calls = ev.toolCalls.map((t) => ({ index: t.index, id: t.id, type: t.type, function: t.function }));
  return d;
}

function messageOf(c: CollectedChoice): Record<string, unknown> {
  const m: Record<string, unknown> = { role: 'assistant', content: c.content === '' && c.toolCalls.length > 0 ? null : c.content, refusal: null };
  if (c.reasoning !== '') m.reasoning_content = c.reasoning;
  if (c.toolCalls.length > 0) m.tool_calls = c.toolCalls.map((t) => ({ id: t.id, type: t.type, function: t.function }));
  return m;
}

function checkChat(b: ChatRequest): void {
  if ((b.top_logprobs ?? 0) > 0 && b.logprobs !== true) {
    throw new XdsError('invalid_argument', 'top_logprobs requires logprobs: true', { param: 'top_logprobs' });
  }
}

export function registerChatRoute(app: FastifyInstance, ctx: GatewayContext): void {
  app.post('/v1/chat/completions', async (request, reply) => {
    const b = chatRequestSchema.parse(request.body);
    checkModel(ctx.model, b.model);
    checkChat(b);
    const forcedTool = forcedToolOf(b);
    const structured = structuredOutputOf(b, forcedTool);
    const prompt = chatPrompt(ctx.model, b);
    const promptIds = prompt.ids;
    const maxTokens = maxTokensOf(ctx.model, promptIds.length, b.max_completion_tokens ?? b.max_tokens, b.max_completion_tokens ? 'max_completion_tokens' : 'max_tokens', 'messages');
    const wantLogprobs = b.logprobs === true;
    const sampling = samplingOf(ctx.model, b, wantLogprobs ? b.top_logprobs ?? 0 : null, structured);
    const id = newRequestId('chatcmpl');
    const controller = new AbortController();
    const n = b.n ?? 1;
    const specs = choiceSpecs(ctx.model, {
      requestId: id, promptIds, promptText: prompt.text, toolParser: toolParserFor(ctx.model, b), ...(forcedTool === undefined ? {} : { forcedTool }), firstIndex: 0, n, maxTokens, sampling, stop: stopStrings(b.stop),
      extraStopTokenIds: b.stop_token_ids ?? [], ignoreEos: b.ignore_eos === true,
      includeStopStr: b.include_stop_str_in_output === true, wantLogprobs, priority: priorityOf(ctx.model, b.priority), signal: controller.signal,
    });
    const format = chatFormat(ctx, id, Math.floor(Date.now() / 1000), wantLogprobs);
    await runExchange(ctx, reply, { specs, n, stream: b.stream === true, includeUsage: b.stream_options?.include_usage === true, format, controller });
    return reply;
  });
}
