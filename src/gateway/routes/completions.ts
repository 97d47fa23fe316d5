/**
 * POST /v1/completions (the legacy text API): prompt as a string, strings, token ids or lists of
 * token ids; n choices per prompt (choice index = prompt · n + i); logprobs in the legacy shape
 * `{tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}`. `echo` puts the prompt
 * before the text and, with `logprobs`, the prompt's tokens before the output's (the engine's
 * prompt logprobs; the first prompt token's are null): what scoring clients such as lm-eval's
 * loglikelihood requests read.
 */
import type { FastifyInstance } from 'fastify';
import { XdsError } from '../../core/errors.js';
import type { TokenLogprobEntry } from '../../flowserve/output/logprobs.js';
import { completionRequestSchema, type CompletionRequest } from '../schemas.js';
import type { GatewayContext } from '../context.js';
import { checkModel, choiceSpecs, completionPrompts, maxTokensOf, newRequestId, priorityOf, samplingOf, stopStrings } from '../request-plan.js';
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

/** What `echo` puts before a choice: its prompt's text, and its first token (which has no logprob). */
interface EchoedPrompt { readonly text: string; readonly firstToken: string }

/** Legacy logprobs of an echoed prompt and its output: the first prompt token's logprob and top are null (OpenAI, vLLM). */
function echoLogprobs(e: EchoedPrompt, prompt: readonly TokenLogprobEntry[], output: readonly TokenLogprobEntry[]): Record<string, unknown[]> {
  const rest = legacyLogprobs([...prompt, ...output], e.firstToken.length);
  return { tokens: [e.firstToken, ...rest.tokens!], token_logprobs: [null, ...rest.token_logprobs!], top_logprobs: [null, ...rest.top_logprobs!], text_offset: [0, ...rest.text_offset!] };
}

/** echo: null, or the prompt of each choice (choice i echoes prompt ⌊i / n⌋). */
function completionFormat(ctx: GatewayContext, id: string, created: number, wantLogprobs: boolean, echo: { prompts: readonly EchoedPrompt[]; n: number } | null): ResponseFormat {
  const head = { id, object: 'text_completion', created, model: ctx.model.name, system_fingerprint: null };
  const lp = (x: readonly TokenLogprobEntry[]): unknown => (wantLogprobs ? legacyLogprobs(x) : null);
  const raw = chunkSerializer(head);
  const echoed = new Set<number>(); // streamed choices whose prompt went out
  const echoOf = (index: number): EchoedPrompt | null => (echo === null ? null : echo.prompts[Math.floor(index / echo.n)]!);
  /** A streamed choice's first chunk carries its echoed prompt. */
  const streamEcho = (index: number): EchoedPrompt | null => {
    const e = echoOf(index);
    if (e === null || echoed.has(index)) return null;
    echoed.add(index);
    return e;
  };
  const chunk = (index: number, text: string, logprobs: unknown, finish: string | null): unknown =>
    ({ ...head, choices: [{ index, text, logprobs, finish_reason: finish }], usage: null });
  return {
    openingChunks: () => [],
    deltaChunk: (ev: DeltaEvent) => {
      const e = streamEcho(ev.index);
      if (e !== null) return chunk(ev.index, e.text + ev.content, wantLogprobs ? echoLogprobs(e, ev.promptLogprobs ?? [], ev.logprobs) : null, null);
      return wantLogprobs ? chunk(ev.index, ev.content, lp(ev.logprobs), null) : raw(textChoiceJson(ev.index, ev.content));
    },
    finishChunk: (ev: DoneEvent) => chunk(ev.index, streamEcho(ev.index)?.text ?? '', null, ev.finishReason),
    usageChunk: (usage) => ({ ...head, choices: [], usage }),
    body: (choices: readonly CollectedChoice[], usage) => ({
      ...head,
      choices: choices.map((c) => {
        const e = echoOf(c.index);
        const logprobs = wantLogprobs && e !== null ? echoLogprobs(e, c.promptLogprobs, c.logprobs) : lp(c.logprobs);
        return { index: c.index, text: (e?.text ?? '') + c.content, logprobs, finish_reason: c.finishReason };
      }),
      usage,
    }),
  };
}

/** The echoed prompts: a string prompt as sent, token ids decoded. */
function echoedPrompts(ctx: GatewayContext, b: CompletionRequest, prompts: readonly number[][]): EchoedPrompt[] {
  const tok = ctx.model.tokenizer;
  const sent = typeof b.prompt === 'string' ? [b.prompt] : b.prompt.every((x) => typeof x === 'number') ? [null] : b.prompt;
  return prompts.map((ids, i) => {
    const s = sent[i];
    return { text: typeof s === 'string' ? s : tok.decode(ids), firstToken: tok.decode([ids[0]!]) };
  });
}

function checkCompletion(b: CompletionRequest): void {
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
      wantLogprobs, promptLogprobs: b.echo === true && wantLogprobs ? b.logprobs : null, priority: priorityOf(ctx.model, b.priority), signal: controller.signal,
    }));
    const echo = b.echo === true ? { prompts: echoedPrompts(ctx, b, prompts), n } : null;
    const format = completionFormat(ctx, id, Math.floor(Date.now() / 1000), wantLogprobs, echo);
    await runExchange(ctx, reply, { specs, n, stream: b.stream === true, includeUsage: b.stream_options?.include_usage === true, format, controller });
    return reply;
  });
}
