/**
 * The output process of one request (paper notes §2.5.1: each DP group detokenizes and streams
 * straight to the gateway, the "output shortcut"; §2.11 frontend reasoning and tool calls). Per
 * generated token: detokenize incrementally → cut at stop strings → split `<think>` reasoning →
 * parse tool calls, each stage holding back only what it must. Plain records in and out; the
 * gateway maps them to OpenAI chunks. Invariant: the final `content` (and `reasoningContent`) is
 * exactly the concatenation of the streamed deltas, tail included.
 */
import { IncrementalDetokenizer } from './detokenizer.js';
import { StopStringMatcher } from './stop-strings.js';
import { REASONING_PARSERS, ReasoningParser, type ReasoningParserOptions } from './reasoning-parser.js';
import { createToolParser } from './tool-parsers/registry.js';
import { createForcedToolParser, type ForcedToolCall } from './tool-parsers/forced.js';

export type { ForcedToolCall };
import type { ToolParser } from './tool-parsers/types.js';
import { logprobEntry, type LogprobInfo, type SpellingDecoder, type TokenLogprobEntry } from './logprobs.js';
import { XdsError } from '../../core/errors.js';
import type { OutputDelta, OutputFinal, OutputFinishReason, ToolCall, ToolCallDelta, ToolCallIdFn } from './types.js';

export interface OutputProcessorOptions {
  /** TextTokenizer; `idToToken` (optional) gives exact logprob bytes for partial characters. */
  readonly tokenizer: SpellingDecoder;
  /** Prompt ids: the last few give the detokenizer its context. */
  readonly promptIds?: readonly number[];
  /** Default true. */
  readonly skipSpecialTokens?: boolean;
  /** OpenAI `stop`. */
  readonly stop?: readonly string[];
  readonly includeStopStringInOutput?: boolean;
  /**
   * vLLM `min_tokens`: stop strings are looked for only in the text of tokens after the first
   * minTokens (as vLLM's detokenizer; a stop string that began in earlier text is not caught).
   */
  readonly minTokens?: number;
  /** EOS and `stop_token_ids`: their text is never shown (the engine ends the request on them). */
  readonly stopTokenIds?: readonly number[];
  /** A REASONING_PARSERS name or options; absent: no reasoning split (all text is content). */
  readonly reasoning?: string | ReasoningParserOptions;
  /** The prompt opened `<think>` (see promptOpensReasoning); overrides the preset's flag. */
  readonly startsInReasoning?: boolean;
  /** A registry name ('deepseek_v3', 'hermes', ...); absent: no tool-call parsing. */
  readonly toolParser?: string;
  /** The request forced a call: the whole output is it (tool-parsers/forced.ts); wins over toolParser. */
  readonly forcedToolCall?: ForcedToolCall;
  readonly newToolCallId?: ToolCallIdFn;
}

/** What the engine reports at the end ('error' is shown to the client as 'abort'). */
export type EngineFinish = 'stop' | 'length' | 'abort' | 'error';

interface Pieces {
  content: string;
  reasoning: string;
  toolCalls: ToolCallDelta[];
}

export class OutputProcessor {
  private readonly detok: IncrementalDetokenizer;
  private readonly stops: StopStringMatcher;
  private readonly reasoning: ReasoningParser | null;
  private readonly tools: ToolParser | null;
  private readonly stopTokenIds: ReadonlySet<number>;
  private readonly tokenizer: SpellingDecoder;
  private content = '';
  private reasoningContent = '';
  private readonly toolCalls: ToolCall[] = [];
  private isFlushed = false;
  private numTokens = 0;
  private readonly minTokens: number;
  private final: OutputFinal | null = null;

  constructor(opts: OutputProcessorOptions) {
    this.detok = new IncrementalDetokenizer(opts.tokenizer, opts.promptIds ?? [], { skipSpecialTokens: opts.skipSpecialTokens ?? true });
    this.stops = new StopStringMatcher(opts.stop ?? [], { includeInOutput: opts.includeStopStringInOutput ?? false });
    this.reasoning = makeReasoningParser(opts);
    const ids = { newToolCallId: opts.newToolCallId };
    this.tools = opts.forcedToolCall !== undefined ? createForcedToolParser(opts.forcedToolCall.name, ids)
      : opts.toolParser === undefined ? null : createToolParser(opts.toolParser, ids);
    this.stopTokenIds = new Set(opts.stopTokenIds ?? []);
    this.tokenizer = opts.tokenizer;
    this.minTokens = opts.minTokens ?? 0;
  }

  /** The stop string that matched (the engine should end the request: reason 'stop'), or null. */
  get stopMatched(): string | null {
    return this.stops.matched;
  }

  /**
   * Feeds one generated token (with the sampler's logprobs when the request asked for them).
   * After a stop-string match further tokens add no text.
   */
  onToken(tokenId: number, logprobs?: LogprobInfo): OutputDelta {
    if (this.final !== null) throw new XdsError('invalid_argument', 'onToken after finish', { param: 'tokenId' });
    const delta = this.step(tokenId);
    return logprobs === undefined ? delta : { ...delta, logprobs: this.logprobEntry(tokenId, logprobs) };
  }

  /** The OpenAI logprobs record of one token (text, bytes, top alternatives). */
  logprobEntry(tokenId: number, info: LogprobInfo): TokenLogprobEntry {
    return logprobEntry(this.tokenizer, tokenId, info);
  }

  private step(tokenId: number): OutputDelta {
    if (this.stops.matched !== null || this.stopTokenIds.has(tokenId)) return this.record(emptyPieces(), null);
    if (++this.numTokens <= this.minTokens) return this.record(this.route(this.detok.push(tokenId), false), null);
    const step = this.stops.push(this.detok.push(tokenId));
    if (step.matched === null) return this.record(this.route(step.text, false), null);
    this.isFlushed = true;
    return this.record(this.route(step.text, true), step.matched);
  }

  /** End of the request: releases what was held and returns the whole message. Idempotent. */
  finish(reason: EngineFinish): OutputFinal {
    if (this.final !== null) return this.final;
    let pieces = emptyPieces();
    if (!this.isFlushed) {
      const rest = this.stops.push(this.detok.flush());
      pieces = this.route(rest.text + (rest.matched === null ? this.stops.flush() : ''), true);
    }
    const tail = this.record(pieces, null);
    this.final = {
      kind: 'output_final', tail, content: this.content, reasoningContent: this.reasoningContent,
      toolCalls: [...this.toolCalls], finishReason: this.finishReason(reason), stopMatched: this.stops.matched,
    };
    return this.final;
  }

  /** NOTE: a matched stop string wins over 'abort': an output process in another thread ends the request by aborting it. */
  private finishReason(reason: EngineFinish): OutputFinishReason {
    if (this.stops.matched !== null) return this.toolCalls.length > 0 ? 'tool_calls' : 'stop';
    if (reason === 'abort' || reason === 'error') return 'abort';
    if (reason === 'stop' && this.toolCalls.length > 0) return 'tool_calls';
    return reason;
  }

  /** Sends visible text through the reasoning split and the tool parser (isEnd: flush both). */
  private route(text: string, isEnd: boolean): Pieces {
    const split = this.reasoning === null ? { reasoning: '', content: text } : this.reasoning.push(text);
    const last = isEnd && this.reasoning !== null ? this.reasoning.flush() : { reasoning: '', content: '' };
    const content = split.content + last.content;
    if (this.tools === null) return { content, reasoning: split.reasoning + last.reasoning, toolCalls: [] };
    const a = this.tools.push(content);
    const b = isEnd ? this.tools.flush() : { content: '', toolCalls: [] };
    return { content: a.content + b.content, reasoning: split.reasoning + last.reasoning, toolCalls: [...a.toolCalls, ...b.toolCalls] };
  }

  private record(p: Pieces, stopMatched: string | null): OutputDelta {
    this.content += p.content;
    this.reasoningContent += p.reasoning;
    for (const { id, type, function: fn } of p.toolCalls) this.toolCalls.push({ id, type, function: fn });
    const delta: OutputDelta = { kind: 'output_delta', contentDelta: p.content, reasoningDelta: p.reasoning, stopMatched };
    return p.toolCalls.length > 0 ? { ...delta, toolCalls: p.toolCalls } : delta;
  }
}

function emptyPieces(): Pieces {
  return { content: '', reasoning: '', toolCalls: [] };
}

function makeReasoningParser(opts: OutputProcessorOptions): ReasoningParser | null {
  if (opts.reasoning === undefined) return null;
  const preset = typeof opts.reasoning === 'string' ? REASONING_PARSERS[opts.reasoning] : opts.reasoning;
  if (preset === undefined) {
    const known = Object.keys(REASONING_PARSERS).join(', ');
    throw new XdsError('invalid_argument', `unknown reasoning parser '${String(opts.reasoning)}'; known: ${known}`, { param: 'reasoning_parser' });
  }
  return new ReasoningParser(opts.startsInReasoning === undefined ? preset : { ...preset, startsInReasoning: opts.startsInReasoning });
}
