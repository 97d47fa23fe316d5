/**
 * Runs the choices of one API request and answers it, streaming (SSE chunks as tokens arrive) or
 * not (one JSON body when all choices are done). Endpoint-specific JSON comes from a
 * `ResponseFormat`; everything else is shared by chat and completions: client disconnect → abort
 * (the engine frees the KV blocks at once), usage, metrics, errors mid-stream.
 */
import type { FastifyReply } from 'fastify';
import { XdsError } from '../core/errors.js';
import type { Usage } from '../flowserve/engine-types.js';
import type { ApiFinishReason, ChoiceEvent, ChoiceSpec, TokenLogprobEntry } from './choice-run.js';
import { startChoices } from './choice-run.js';
import type { ToolCallDelta } from '../flowserve/output/types.js';
import type { GatewayContext } from './context.js';
import { SseWriter } from './sse.js';

export type DeltaEvent = Extract<ChoiceEvent, { kind: 'delta' }>;
export type DoneEvent = Extract<ChoiceEvent, { kind: 'done' }>;

/** A finished choice, all deltas joined. */
export interface CollectedChoice {
  readonly index: number;
  content: string;
  reasoning: string;
  readonly toolCalls: ToolCallDelta[];
  readonly logprobs: TokenLogprobEntry[];
  /** Entries for prompt tokens 1, 2, … (completions `echo` with `logprobs`). */
  readonly promptLogprobs: TokenLogprobEntry[];
  finishReason: ApiFinishReason;
}

export interface OpenAiUsage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
  readonly prompt_tokens_details: { readonly cached_tokens: number };
}

export interface ResponseFormat {
  /** Chunks sent before any token (chat: the role chunk of each choice). */
  openingChunks(indices: readonly number[]): unknown[];
  deltaChunk(ev: DeltaEvent): unknown;
  finishChunk(ev: DoneEvent): unknown;
  usageChunk(usage: OpenAiUsage): unknown;
  body(choices: readonly CollectedChoice[], usage: OpenAiUsage): unknown;
}

export interface ExchangeOptions {
  readonly specs: readonly ChoiceSpec[];
  /** Choices per prompt: choice i counts its prompt in usage when i % n === 0. */
  readonly n: number;
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly format: ResponseFormat;
  readonly controller: AbortController;
}

function sumUsage(done: readonly DoneEvent[], n: number): OpenAiUsage {
  let prompt = 0, completion = 0, cached = 0;
  for (const d of done) {
    completion += d.usage.completionTokens;
    if (d.index % n === 0) { prompt += d.usage.promptTokens; cached += d.usage.cachedTokens; }
  }
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } };
}

/** Aborts the choices when the client goes away before the response is complete. */
export function abortOnDisconnect(reply: FastifyReply, controller: AbortController): void {
  reply.raw.on('close', () => { if (!reply.raw.writableFinished) controller.abort(new XdsError('request_aborted', 'client disconnected')); });
}

/** Starts the choices (throws before anything is sent when the engine refuses) and answers. */
export async function runExchange(ctx: GatewayContext, reply: FastifyReply, o: ExchangeOptions): Promise<void> {
  abortOnDisconnect(reply, o.controller);
  const done: DoneEvent[] = [];
  let finishAll!: () => void;
  const allDone = new Promise<void>((resolve) => { finishAll = resolve; });
  const onDone = (ev: DoneEvent): void => {
    ctx.metrics.observeDone(ev, ev.index % o.n === 0);
    done.push(ev);
    if (done.length === o.specs.length) finishAll();
  };
  if (o.stream) return streamExchange(ctx, reply, o, onDone, allDone, done);
  const collected = new Map<number, CollectedChoice>(o.specs.map((s) => [s.index, emptyChoice(s.index)]));
  startChoices(ctx.model.engine, o.specs, (ev) => {
    if (ev.kind === 'delta') addDelta(collected.get(ev.index)!, ev);
    else { collected.get(ev.index)!.finishReason = ev.finishReason; onDone(ev); }
  });
  await allDone;
  const failed = done.find((d) => d.error !== null);
  if (failed?.error) throw new XdsError(failed.error.code, failed.error.message);
  if (o.controller.signal.aborted) { reply.hijack(); return; } // the client is gone
  const choices = [...collected.values()].sort((a, b) => a.index - b.index);
  await reply.send(o.format.body(choices, sumUsage(done, o.n)));
}

async function streamExchange(ctx: GatewayContext, reply: FastifyReply, o: ExchangeOptions, onDone: (ev: DoneEvent) => void, allDone: Promise<void>, done: DoneEvent[]): Promise<void> {
  const sse = new SseWriter(reply.raw);
  startChoices(ctx.model.engine, o.specs, (ev) => {
    if (ev.kind === 'delta') { sse.send(o.format.deltaChunk(ev)); return; }
    if (ev.error === null) sse.send(o.format.finishChunk(ev));
    onDone(ev);
  });
  reply.hijack();
  for (const c of o.format.openingChunks(o.specs.map((s) => s.index))) sse.send(c);
  await allDone;
  const failed = done.find((d) => d.error !== null);
  if (failed?.error) sse.send(new XdsError(failed.error.code, failed.error.message).toJSON());
  else if (o.includeUsage) sse.send(o.format.usageChunk(sumUsage(done, o.n)));
  sse.done();
}

function emptyChoice(index: number): CollectedChoice {
  return { index, content: '', reasoning: '', toolCalls: [], logprobs: [], promptLogprobs: [], finishReason: 'stop' };
}

function addDelta(c: CollectedChoice, ev: DeltaEvent): void {
  c.content += ev.content;
  c.reasoning += ev.reasoning;
  c.toolCalls.push(...ev.toolCalls);
  c.logprobs.push(...ev.logprobs);
  if (ev.promptLogprobs !== undefined) c.promptLogprobs.push(...ev.promptLogprobs);
}

export type { Usage };
