/**
 * One choice of one API request run through the DP group's engine (paper §1.3: the JE hands the
 * request to the DP group; its output comes straight back, step 9). The engine's sink events are
 * turned into plain ChoiceEvents with text deltas, logprobs, the finish reason, usage and the
 * latencies the metrics need. Stop strings end the request through the engine's `shouldStop` hook,
 * so its KV blocks are freed at once with reason 'stop'.
 */
import type { DpEngine } from '../flowserve/engine.js';
import type { EngineEvent, Usage } from '../flowserve/engine-types.js';
import type { SamplingParams } from '../sampling/params.js';
import type { ErrorCode } from '../core/errors.js';
import { logprobEntry, type SpellingDecoder, type TokenLogprobEntry } from '../flowserve/output/logprobs.js';
import type { ToolCallDelta } from '../flowserve/output/types.js';
import { EMPTY_DELTA, type ChoiceOutput, type OutputDelta } from './output.js';

export type ApiFinishReason = 'stop' | 'length' | 'tool_calls' | 'abort' | 'error';

export type { TokenLogprobEntry };

export interface ChoiceTiming {
  /** s from arrival to the first token; null when none came. */
  readonly ttftS: number | null;
  readonly e2eS: number;
  /** [numTokens − 1] s between consecutive tokens. */
  readonly itlS: readonly number[];
}

export type ChoiceEvent =
  | {
      readonly kind: 'delta'; readonly index: number; readonly content: string; readonly reasoning: string; readonly toolCalls: readonly ToolCallDelta[];
      readonly logprobs: readonly TokenLogprobEntry[];
      /** First delta only, when the spec asked for prompt logprobs: entries for prompt tokens 1, 2, …. */
      readonly promptLogprobs?: readonly TokenLogprobEntry[];
    }
  | {
      readonly kind: 'done'; readonly index: number; readonly finishReason: ApiFinishReason; readonly usage: Usage;
      readonly error: { readonly code: ErrorCode; readonly message: string } | null; readonly timing: ChoiceTiming;
    };

export interface ChoiceSpec {
  readonly requestId: string;
  readonly index: number;
  /** [numPromptTokens] token ids. */
  readonly promptIds: readonly number[];
  readonly maxTokens: number;
  readonly sampling: Partial<SamplingParams>;
  readonly stopTokenIds: readonly number[];
  readonly wantLogprobs: boolean;
  /** Prompt logprobs with this many alternatives (completions `echo` with `logprobs`), or none. */
  readonly promptLogprobs?: number | null;
  /** Scheduling priority (lower first under the 'priority' policy). */
  readonly priority?: number;
  readonly output: ChoiceOutput;
  /** Spells logprob tokens (the model's TextTokenizer). */
  readonly tokenizer: SpellingDecoder;
  readonly signal: AbortSignal;
}

const nowS = (): number => performance.now() / 1000;

function joinDeltas(a: OutputDelta, b: OutputDelta): OutputDelta {
  if (a === EMPTY_DELTA) return b;
  if (b === EMPTY_DELTA) return a;
  return { content: a.content + b.content, reasoning: a.reasoning + b.reasoning, toolCalls: [...a.toolCalls, ...b.toolCalls], stopMatched: a.stopMatched || b.stopMatched };
}

/** Mutable state of one running choice. */
class ChoiceState {
  pending: OutputDelta = EMPTY_DELTA;
  numProcessed = 0;
  error: { code: ErrorCode; message: string } | null = null;
  readonly t0 = nowS();
  tFirst: number | null = null;
  tLast = 0;
  readonly itl: number[] = [];

  markToken(): void {
    const t = nowS();
    if (this.tFirst === null) this.tFirst = t;
    else this.itl.push(t - this.tLast);
    this.tLast = t;
  }
}

/**
 * Adds the choice to the engine; events go to `onEvent` synchronously on the engine's thread.
 * Throws what engine.addRequest throws ('overloaded', 'shutting_down', ...), with no event sent.
 */
export function startChoice(engine: DpEngine, spec: ChoiceSpec, onEvent: (ev: ChoiceEvent) => void): void {
  const s = new ChoiceState();
  // NOTE: runs inside the engine's commit; a failure here ends this request only, never the step.
  const shouldStop = (ids: Int32Array): boolean => {
    try {
      const d = spec.output.push(ids[ids.length - 1]!);
      s.numProcessed = ids.length;
      s.pending = joinDeltas(s.pending, d);
      return d.stopMatched;
    } catch (e) {
      s.error = { code: 'internal', message: `output processing failed: ${(e as Error)?.message ?? String(e)}` };
      return true;
    }
  };
  const emitDelta = (d: OutputDelta, logprobs: TokenLogprobEntry[], prompt?: TokenLogprobEntry[]): void => {
    if (d.content === '' && d.reasoning === '' && d.toolCalls.length === 0 && logprobs.length === 0 && prompt === undefined) return;
    const ev = { kind: 'delta' as const, index: spec.index, content: d.content, reasoning: d.reasoning, toolCalls: d.toolCalls, logprobs };
    onEvent(prompt === undefined ? ev : { ...ev, promptLogprobs: prompt });
  };
  const sink = (ev: EngineEvent): void => {
    if (ev.kind === 'token') {
      s.markToken();
      const d = ev.index < s.numProcessed ? s.pending : EMPTY_DELTA;
      s.pending = EMPTY_DELTA;
      const lp = spec.wantLogprobs && ev.logprob !== undefined
        ? [logprobEntry(spec.tokenizer, ev.tokenId, { logprob: ev.logprob, topLogprobs: ev.topLogprobs ?? [] })] : [];
      emitDelta(d, lp, ev.promptLogprobs?.map((e) => logprobEntry(spec.tokenizer, e.tokenId, e)));
    } else if (ev.kind === 'error') {
      s.error = { code: ev.code, message: ev.message };
    } else {
      const end = s.error === null ? spec.output.finish(ev.reason) : { delta: EMPTY_DELTA, finishReason: 'abort' as const };
      emitDelta(end.delta, []);
      const e2eS = nowS() - s.t0;
      const timing = { ttftS: s.tFirst === null ? null : s.tFirst - s.t0, e2eS, itlS: s.itl };
      onEvent({ kind: 'done', index: spec.index, finishReason: s.error !== null ? 'error' : end.finishReason, usage: ev.usage, error: s.error, timing });
    }
  };
  engine.addRequest(
    { id: spec.requestId, promptTokenIds: spec.promptIds, maxTokens: spec.maxTokens, sampling: spec.sampling, stopTokenIds: spec.stopTokenIds, shouldStop, promptLogprobs: spec.promptLogprobs ?? null, priority: spec.priority ?? 0 },
    sink,
    { signal: spec.signal },
  );
}

/** Starts all choices, or none: when one is refused, those already started are aborted. */
export function startChoices(engine: DpEngine, specs: readonly ChoiceSpec[], onEvent: (ev: ChoiceEvent) => void): void {
  const started: string[] = [];
  try {
    for (const spec of specs) {
      startChoice(engine, spec, onEvent);
      started.push(spec.requestId);
    }
  } catch (e) {
    for (const id of started) engine.abort(id);
    throw e;
  }
}
